// Check frames recorded on the wire against the payload schemas of an AsyncAPI document.
// Usage: node check_frames.mjs DOC FRAMES   (FRAMES: a JSON list of {message, frame}, where message is
// a JSON pointer to a message in DOC; prints {"checked": N}; exit status 1 on the first mismatch)
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";

// ajv comes with @asyncapi/parser (the same validator it uses); it is not a dependency of our own.
const require = createRequire(import.meta.url);
const beside = { paths: [require.resolve("@asyncapi/parser")] };
const Ajv = require(require.resolve("ajv", beside));
const addFormats = require(require.resolve("ajv-formats", beside));

const doc = JSON.parse(await readFile(process.argv[2], "utf8"));
const frames = JSON.parse(await readFile(process.argv[3], "utf8"));
const ajv = new (Ajv.default ?? Ajv)({ strict: false, allErrors: true });
(addFormats.default ?? addFormats)(ajv);
ajv.addSchema({ components: doc.components }, "doc");
const fix = (schema) => JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"doc#/components/'));
const at = (pointer) =>
  pointer.replace(/^#\//, "").split("/").reduce((node, part) => node[part.replaceAll("~1", "/").replaceAll("~0", "~")], doc);

let checked = 0;
for (const { message, frame } of frames) {
  let target = at(message);
  if (target.$ref) target = at(target.$ref);
  const validate = ajv.compile(fix(target.payload));
  if (!validate(frame)) {
    console.log(JSON.stringify({ message, frame, errors: validate.errors }, null, 2));
    process.exit(1);
  }
  checked += 1;
}
console.log(JSON.stringify({ checked }));
