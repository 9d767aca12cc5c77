// Parse AsyncAPI documents with the official parser and print every diagnostic as JSON.
// Usage: node validate_asyncapi.mjs FILE...   (exit status 1 when a document has an error)
import { readFile } from "node:fs/promises";
import { Parser } from "@asyncapi/parser";

const parser = new Parser();
const severities = ["error", "warning", "info", "hint"];
let failed = false;
const report = {};
for (const file of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(await readFile(file, "utf8"));
  report[file] = {
    parsed: document !== undefined,
    diagnostics: diagnostics.map((d) => ({
      severity: severities[d.severity],
      code: d.code,
      message: d.message,
      path: d.path.join("/"),
    })),
  };
  if (document === undefined || diagnostics.some((d) => d.severity === 0)) failed = true;
}
console.log(JSON.stringify(report, null, 2));
process.exit(failed ? 1 : 0);
