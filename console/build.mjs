#!/usr/bin/env node
// Build the console into console/dist (committed): index.html + assets/app-<hash>.js + assets/styles-<hash>.css
// (+ lazily loaded chunks), each asset with a pre-compressed `.gz` sibling.
//   node console/build.mjs           write dist/ (and print the bundle sizes, raw and gzip)
//   node console/build.mjs --check   build in memory, fail if dist/ differs (stale or hand-edited), and run
//                                    the console's unit tests (test/*.test.mjs); make test runs this.
// The output is deterministic for a given source tree and esbuild version (pinned in package.json).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, "src");
const dist = join(here, "dist");
const check = process.argv.includes("--check");

async function build() {
  const result = await esbuild.build({
    entryPoints: { app: join(src, "main.js"), styles: join(src, "styles.css") },
    bundle: true,
    minify: true,
    format: "esm",
    splitting: true, // the Auth0 SDK is a lazily imported chunk
    chunkNames: "[name]-[hash]",
    target: ["es2022", "chrome110", "firefox115", "safari16"],
    outdir: join(dist, "assets"),
    entryNames: "[name]-[hash]",
    legalComments: "none",
    charset: "utf8",
    write: false,
    logLevel: "warning",
    absWorkingDir: here,
    metafile: true,
  });
  const files = new Map();
  let js, css;
  for (const f of result.outputFiles) {
    const rel = relative(dist, f.path);
    files.set(rel, Buffer.from(f.contents));
    if (rel.startsWith("assets/app-") && rel.endsWith(".js")) js = rel.slice("assets/".length);
    if (rel.endsWith(".css")) css = rel.slice("assets/".length);
  }
  const index = readFileSync(join(src, "index.html"), "utf8").replace("{{JS}}", js).replace("{{CSS}}", css);
  files.set("index.html", Buffer.from(index));
  // pre-compressed siblings of the assets: the service's file responses (aiohttp) send `<name>.gz` to a
  // browser that accepts gzip, so the wire carries the gzip size without compressing per request (gzip
  // output of node's zlib is deterministic: no name, mtime 0)
  for (const [name, buf] of [...files]) {
    if (name.startsWith("assets/") && /\.(js|css)$/.test(name)) files.set(`${name}.gz`, gzipSync(buf, { level: 9 }));
  }
  // what the first page load fetches: the entry, its static imports (transitively) and the CSS
  const first = new Set();
  const visit = (out) => {
    if (first.has(out)) return;
    first.add(out);
    for (const imp of result.metafile.outputs[out].imports) if (imp.kind === "import-statement") visit(imp.path);
  };
  const entries = new Set(["src/main.js", "src/styles.css"]);
  for (const [out, meta] of Object.entries(result.metafile.outputs)) if (entries.has(meta.entryPoint)) visit(out);
  const firstLoad = [...first].map((out) => relative(dist, join(here, out)));
  return { files, firstLoad };
}

function walk(dir, base = dir, out = new Map()) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, base, out);
    else out.set(relative(base, p), readFileSync(p));
  }
  return out;
}

function sizes(files, firstLoad) {
  const gz = (buf) => gzipSync(buf, { level: 9 }).length;
  for (const [name, buf] of [...files].sort()) {
    if (!name.startsWith("assets/") || name.endsWith(".gz")) continue;
    console.log(`${name}: ${buf.length} bytes raw, ${gz(buf)} bytes gzip`);
  }
  const load = ["index.html", ...firstLoad].map((n) => files.get(n));
  const raw = load.reduce((a, b) => a + b.length, 0);
  const zipped = load.reduce((a, b) => a + gz(b), 0);
  console.log(`first load (index.html + ${firstLoad.length} assets): ${raw} bytes raw, ${zipped} bytes gzip`);
}

const { files, firstLoad } = await build();
if (check) {
  const have = walk(dist);
  const problems = [];
  for (const [name, buf] of files) {
    if (!have.has(name)) problems.push(`missing ${name}`);
    else if (!have.get(name).equals(buf)) problems.push(`differs ${name}`);
  }
  for (const name of have.keys()) if (!files.has(name)) problems.push(`unexpected ${name}`);
  if (problems.length) {
    console.error(`console/dist is stale (run: node console/build.mjs):\n  ${problems.join("\n  ")}`);
    process.exit(1);
  }
  const tests = readdirSync(join(here, "test")).filter((f) => f.endsWith(".test.mjs")).map((f) => join(here, "test", f));
  const r = spawnSync(process.execPath, ["--test", ...tests], { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
  console.log("console/dist is fresh; console unit tests pass");
} else {
  rmSync(dist, { recursive: true, force: true });
  for (const [name, buf] of files) {
    mkdirSync(dirname(join(dist, name)), { recursive: true });
    writeFileSync(join(dist, name), buf);
  }
  sizes(files, firstLoad);
}
