#!/usr/bin/env node
// A stand-in for the native `solc` binary, backed by solc-js from node_modules, for tools that want a
// solc executable (forge via `solc = "../tools/solc-native.js"` in contracts/foundry.toml, and through forge
// crytic-compile/slither). No network, no downloaded compiler: the exact same compiler build.js uses.
//
// Supported:
//   --version / -v            prints the native format: "solc, the solidity compiler commandline
//                             interface\nVersion: 0.8.30+commit.73712a01.Linux.g++"
//   --standard-json [FILE]    reads standard JSON from FILE or stdin, writes the output JSON to stdout
//   --base-path DIR, --include-path DIR (repeatable), --allow-paths A,B   import roots; sources given as
//                             "urls" and imports missing from the input are read from these roots
// Anything else (other flags, positional files) is rejected with exit 1: this is not a full solc CLI.
"use strict";

const fs = require("fs");
const path = require("path");

const REPO_ROOT = path.resolve(__dirname, "..");

function loadSolc() {
  try {
    return require(path.join(REPO_ROOT, "node_modules", "solc"));
  } catch (err) {
    process.stderr.write(`solc-native: cannot load solc-js from node_modules: ${err.message}\n`);
    process.exit(1);
  }
}

/** solc-js reports "0.8.30+commit.73712a01.Emscripten.clang"; native builds say ".Linux.g++". */
function nativeVersion(solc) {
  return solc.version().replace(/\.Emscripten\.clang$/, ".Linux.g++");
}

function parseArgs(argv) {
  const opts = { version: false, standardJson: false, inputFile: null, roots: [] };
  const takeValue = (i, flag) => {
    if (i + 1 >= argv.length) fail(`${flag} needs a value`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i += 1) {
    let arg = argv[i];
    let inlineValue = null;
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 0) {
      inlineValue = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const value = () => {
      if (inlineValue !== null) return inlineValue;
      const v = takeValue(i, arg);
      i += 1;
      return v;
    };
    switch (arg) {
      case "--version":
      case "-v":
        opts.version = true;
        break;
      case "--standard-json":
        opts.standardJson = true;
        break;
      case "--base-path":
      case "--include-path":
        opts.roots.push(value());
        break;
      case "--allow-paths":
        opts.roots.push(...value().split(",").filter(Boolean));
        break;
      default:
        if (opts.standardJson && !arg.startsWith("-") && opts.inputFile === null) {
          opts.inputFile = arg;
        } else {
          fail(`unsupported argument ${argv[i]} (solc-js wrapper supports --version and --standard-json)`);
        }
    }
  }
  return opts;
}

function fail(message) {
  process.stderr.write(`solc-native: ${message}\n`);
  process.exit(1);
}

function makeImportCallback(roots) {
  const bases = [...roots.map((r) => path.resolve(r)), process.cwd()];
  return (importPath) => {
    const candidates = path.isAbsolute(importPath) ? [importPath] : bases.map((b) => path.join(b, importPath));
    for (const file of candidates) {
      try {
        if (fs.statSync(file).isFile()) return { contents: fs.readFileSync(file, "utf8") };
      } catch (_err) {
        // not under this root; try the next one
      }
    }
    return { error: `File not found: ${importPath} (searched ${bases.join(", ")})` };
  };
}

/** Sources given by "urls" (file paths) are inlined, as native solc reads them from disk. */
function inlineUrls(input, callback) {
  for (const [name, source] of Object.entries(input.sources || {})) {
    if (source.content === undefined && Array.isArray(source.urls)) {
      for (const url of source.urls) {
        const found = callback(url);
        if (found.contents !== undefined) {
          input.sources[name] = { ...source, content: found.contents };
          delete input.sources[name].urls;
          break;
        }
      }
    }
  }
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const solc = loadSolc();
  if (opts.version) {
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${nativeVersion(solc)}\n`);
    return;
  }
  if (!opts.standardJson) fail("nothing to do: pass --version or --standard-json");
  const raw = fs.readFileSync(opts.inputFile === null ? 0 : opts.inputFile, "utf8");
  let input;
  try {
    input = JSON.parse(raw);
  } catch (err) {
    const error = { severity: "error", type: "JSONError", component: "general", message: `${err.message}` };
    process.stdout.write(`${JSON.stringify({ errors: [{ ...error, formattedMessage: error.message }] })}\n`);
    return;
  }
  const callback = makeImportCallback(opts.roots);
  inlineUrls(input, callback);
  process.stdout.write(`${solc.compile(JSON.stringify(input), { import: callback })}\n`);
}

main();
