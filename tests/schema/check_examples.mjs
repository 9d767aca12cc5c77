// Check every message example of an AsyncAPI document against the message's payload schema.
// Usage: node check_examples.mjs FILE   (prints {"checked": N}; exit status 1 on the first invalid one)
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";

// ajv comes with @asyncapi/parser (the same validator it uses); it is not a dependency of our own.
const require = createRequire(import.meta.url);
const beside = { paths: [require.resolve("@asyncapi/parser")] };
const Ajv = require(require.resolve("ajv", beside));
const addFormats = require(require.resolve("ajv-formats", beside));

const doc = JSON.parse(await readFile(process.argv[2], "utf8"));
const ajv = new (Ajv.default ?? Ajv)({ strict: false, allErrors: true });
(addFormats.default ?? addFormats)(ajv);
ajv.addSchema({ components: doc.components }, "doc");
const fix = (schema) => JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"doc#/components/'));

const messages = [];
for (const [cid, channel] of Object.entries(doc.channels)) {
  for (const [key, message] of Object.entries(channel.messages)) {
    if (!message.$ref) messages.push([`${cid}/${key}`, message]);
  }
}
for (const [key, message] of Object.entries(doc.components.messages)) messages.push([key, message]);

let checked = 0;
for (const [where, message] of messages) {
  const validate = ajv.compile(fix(message.payload));
  for (const example of message.examples ?? []) {
    if (!validate(example.payload)) {
      console.log(JSON.stringify({ where, example: example.payload, errors: validate.errors }, null, 2));
      process.exit(1);
    }
    checked += 1;
  }
}
console.log(JSON.stringify({ checked }));
