// Generates src/lib/api/<service>.ts from the committed OpenAPI documents.
// `node scripts/generate.mjs` writes them; `--check` regenerates into a temporary
// directory and fails when the committed files drifted from the documents.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString, COMMENT_HEADER } from "openapi-typescript";

const services = ["auth", "tasks", "accounting", "analytics"];
const webRoot = fileURLToPath(new URL("..", import.meta.url));
const committedDir = join(webRoot, "src", "lib", "api");
const check = process.argv.includes("--check");
const outDir = check ? mkdtempSync(join(tmpdir(), "ates-web-api-")) : committedDir;

try {
  for (const service of services) {
    const document = new URL(`../../openapi/${service}-api.json`, import.meta.url);
    const ast = await openapiTS(document);
    writeFileSync(join(outDir, `${service}.ts`), COMMENT_HEADER + astToString(ast));
  }
  if (check) {
    const drifted = services.filter((service) => {
      const committed = join(committedDir, `${service}.ts`);
      return (
        !existsSync(committed) ||
        readFileSync(committed, "utf8") !== readFileSync(join(outDir, `${service}.ts`), "utf8")
      );
    });
    if (drifted.length > 0) {
      console.error(
        `Generated API types drifted from openapi/*.json: ${drifted.join(", ")}. Run \`npm run generate\` and commit.`,
      );
      process.exitCode = 1;
    } else {
      console.log("Generated API types match openapi/*.json.");
    }
  }
} finally {
  if (check) rmSync(outDir, { recursive: true, force: true });
}
