// Fails when the JavaScript that dist/index.html loads at start (its module
// script and modulepreload links) is over the gzipped budget.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const budgetBytes = 250_000;
const dist = fileURLToPath(new URL("../dist", import.meta.url));
const html = readFileSync(join(dist, "index.html"), "utf8");

const initial = new Set();
for (const match of html.matchAll(/<script\b[^>]*\bsrc="([^"]+\.js)"/g)) initial.add(match[1]);
for (const match of html.matchAll(/<link\b[^>]*\brel="modulepreload"[^>]*\bhref="([^"]+\.js)"/g)) initial.add(match[1]);
for (const match of html.matchAll(/<link\b[^>]*\bhref="([^"]+\.js)"[^>]*\brel="modulepreload"/g)) initial.add(match[1]);

if (initial.size === 0) {
  console.error("check:bundle: dist/index.html loads no JavaScript; was `npm run build` run?");
  process.exit(1);
}

let total = 0;
for (const src of initial) {
  const file = join(dist, src.replace(/^\//, ""));
  const gzipped = gzipSync(readFileSync(file), { level: 9 }).length;
  total += gzipped;
  console.log(`${src}: ${(gzipped / 1000).toFixed(1)} kB gzipped`);
}
const summary = `initial JavaScript: ${(total / 1000).toFixed(1)} kB gzipped (budget ${budgetBytes / 1000} kB)`;
if (total > budgetBytes) {
  console.error(`check:bundle FAILED: ${summary}`);
  process.exit(1);
}
console.log(`check:bundle ok: ${summary}`);
