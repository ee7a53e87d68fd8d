#!/usr/bin/env node
// Compiles every contracts/src/**/*.sol with solc-js (the npm `solc` package) and writes one artifact per
// deployable contract to contracts/artifacts/<ContractName>.json.
//
//   node contracts/build.js                       compile and write artifacts (removes stale extra ones)
//   node contracts/build.js --check               compile in memory; exit 1 naming every artifact that is
//                                                 stale, missing or extra
//   node contracts/build.js --artifacts-dir DIR   read/write artifacts in DIR instead of contracts/artifacts
//
// Settings (kept in one place, COMPILER_SETTINGS, and mirrored in contracts/foundry.toml):
//   optimizer on, 200 runs  - the solc default; a balance between deployment size and call cost for
//                             contracts called often (ERC-20 transfers, escrow settles) but not hot loops
//   evmVersion "cancun"     - what anvil 1.7 and the L2s we target run (PUSH0, MCOPY, transient storage)
//   viaIR off               - not needed by any contract yet; keeps compile time low and matches forge
//
// Artifact keys (in this order): contractName, sourceName, abi, bytecode, deployedBytecode,
// compiler {version, settings}, sourceHash.
// sourceHash = sha256 hex of JSON.stringify([[path, content], ...]) over every source unit that went into
// the compilation (ours and OpenZeppelin's), sorted by path. It changes when any input changes.
// Output is deterministic: fixed key order, 2-space JSON, trailing newline.
// Compile errors exit 2 with the errors printed; warnings are printed to stderr but do not fail.
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const path = require("path");

const CONTRACTS_DIR = __dirname;
const REPO_ROOT = path.resolve(CONTRACTS_DIR, "..");
const SRC_DIR = path.join(CONTRACTS_DIR, "src");
const DEFAULT_ARTIFACTS_DIR = path.join(CONTRACTS_DIR, "artifacts");

// Import prefixes -> directories (same as the remappings in foundry.toml).
const REMAPPINGS = [
  ["@openzeppelin/contracts/", path.join(REPO_ROOT, "node_modules", "@openzeppelin", "contracts")],
  ["forge-std/", path.join(REPO_ROOT, "node_modules", "@uniswap", "v4-core", "lib", "forge-std", "src")],
];

const COMPILER_SETTINGS = {
  evmVersion: "cancun",
  optimizer: { enabled: true, runs: 200 },
  viaIR: false,
};

function loadSolc() {
  try {
    return require(path.join(REPO_ROOT, "node_modules", "solc"));
  } catch (err) {
    console.error(`build.js: cannot load solc-js from node_modules (run \`npm ci\`): ${err.message}`);
    process.exit(2);
  }
}

function parseArgs(argv) {
  const args = { check: false, artifactsDir: DEFAULT_ARTIFACTS_DIR };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === "--check") {
      args.check = true;
    } else if (arg === "--artifacts-dir") {
      const value = argv[i + 1];
      if (!value) usage("--artifacts-dir needs a directory");
      args.artifactsDir = path.resolve(value);
      i += 1;
    } else if (arg.startsWith("--artifacts-dir=")) {
      args.artifactsDir = path.resolve(arg.slice("--artifacts-dir=".length));
    } else if (arg === "-h" || arg === "--help") {
      usage(null);
    } else {
      usage(`unknown argument ${arg}`);
    }
  }
  return args;
}

function usage(message) {
  if (message) console.error(`build.js: ${message}`);
  console.error("usage: node contracts/build.js [--check] [--artifacts-dir DIR]");
  process.exit(message ? 2 : 0);
}

/** Every .sol file under contracts/src, as source unit names relative to contracts/ ("src/X.sol"). */
function listSources(dir) {
  const found = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      found.push(...listSources(full));
    } else if (entry.isFile() && entry.name.endsWith(".sol")) {
      found.push(path.relative(CONTRACTS_DIR, full).split(path.sep).join("/"));
    }
  }
  return found.sort();
}

/** Maps an import path to a file on disk, or null when it is outside every known root. */
function resolveImport(importPath) {
  for (const [prefix, dir] of REMAPPINGS) {
    if (importPath.startsWith(prefix)) {
      return path.join(dir, importPath.slice(prefix.length));
    }
  }
  const local = path.resolve(CONTRACTS_DIR, importPath);
  if (local.startsWith(CONTRACTS_DIR + path.sep)) return local;
  return null;
}

function compile(solc) {
  const names = listSources(SRC_DIR);
  if (names.length === 0) {
    console.error("build.js: no .sol files under contracts/src");
    process.exit(2);
  }
  const contents = new Map();
  const sources = {};
  for (const name of names) {
    const text = fs.readFileSync(path.join(CONTRACTS_DIR, name), "utf8");
    contents.set(name, text);
    sources[name] = { content: text };
  }
  const findImports = (importPath) => {
    const file = resolveImport(importPath);
    if (file === null || !fs.existsSync(file)) {
      return { error: `File not found: ${importPath}` };
    }
    const text = fs.readFileSync(file, "utf8");
    contents.set(importPath, text);
    return { contents: text };
  };
  const input = {
    language: "Solidity",
    sources,
    settings: {
      ...COMPILER_SETTINGS,
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"], "": ["ast"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const diagnostics = output.errors || [];
  const errors = diagnostics.filter((d) => d.severity === "error");
  for (const d of diagnostics) {
    if (d.severity !== "error") console.error(d.formattedMessage || d.message);
  }
  if (errors.length > 0) {
    for (const d of errors) console.error(d.formattedMessage || d.message);
    console.error(`build.js: compilation failed with ${errors.length} error(s)`);
    process.exit(2);
  }
  return { output, contents, names };
}

function sourceHash(output, contents) {
  const used = Object.keys(output.sources).sort();
  const pairs = used.map((name) => {
    if (!contents.has(name)) throw new Error(`build.js: no content recorded for source ${name}`);
    return [name, contents.get(name)];
  });
  return crypto.createHash("sha256").update(JSON.stringify(pairs)).digest("hex");
}

/** Names of non-abstract `contract`s defined in our own sources (not interfaces, libraries, tests). */
function deployableContracts(output, names) {
  const result = [];
  for (const name of names) {
    if (name.endsWith(".t.sol") || name.endsWith(".s.sol")) continue;
    const ast = output.sources[name].ast;
    for (const node of ast.nodes) {
      if (node.nodeType === "ContractDefinition" && node.contractKind === "contract" && !node.abstract) {
        result.push([name, node.name]);
      }
    }
  }
  return result;
}

function buildArtifacts(solc) {
  const { output, contents, names } = compile(solc);
  const hash = sourceHash(output, contents);
  const version = solc.version();
  const artifacts = new Map();
  for (const [sourceName, contractName] of deployableContracts(output, names)) {
    if (artifacts.has(contractName)) {
      console.error(`build.js: two deployable contracts are named ${contractName}; names must be unique`);
      process.exit(2);
    }
    const compiled = output.contracts[sourceName][contractName];
    const artifact = {
      contractName,
      sourceName,
      abi: compiled.abi,
      bytecode: `0x${compiled.evm.bytecode.object}`,
      deployedBytecode: `0x${compiled.evm.deployedBytecode.object}`,
      compiler: {
        version,
        settings: {
          evmVersion: COMPILER_SETTINGS.evmVersion,
          optimizer: { enabled: COMPILER_SETTINGS.optimizer.enabled, runs: COMPILER_SETTINGS.optimizer.runs },
          viaIR: COMPILER_SETTINGS.viaIR,
        },
      },
      sourceHash: hash,
    };
    artifacts.set(`${contractName}.json`, `${JSON.stringify(artifact, null, 2)}\n`);
  }
  return artifacts;
}

function existingArtifacts(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort();
}

/** Top-level keys whose values differ, or "formatting" when only the JSON text differs. */
function differingKeys(committedText, freshText) {
  let committed;
  try {
    committed = JSON.parse(committedText);
  } catch (_err) {
    return "invalid JSON";
  }
  const fresh = JSON.parse(freshText);
  const keys = [...new Set([...Object.keys(committed), ...Object.keys(fresh)])];
  const differing = keys.filter((k) => JSON.stringify(committed[k]) !== JSON.stringify(fresh[k]));
  return differing.length > 0 ? differing.join(", ") : "formatting or key order";
}

function check(artifacts, dir) {
  const problems = [];
  for (const [file, text] of [...artifacts.entries()].sort()) {
    const full = path.join(dir, file);
    if (!fs.existsSync(full)) {
      problems.push(`missing artifact ${file} (contract ${file.replace(/\.json$/, "")})`);
    } else if (fs.readFileSync(full, "utf8") !== text) {
      problems.push(
        `stale artifact ${file} (contract ${file.replace(/\.json$/, "")}) differs from a fresh compile` +
          ` in: ${differingKeys(fs.readFileSync(full, "utf8"), text)}`,
      );
    }
  }
  for (const file of existingArtifacts(dir)) {
    if (!artifacts.has(file)) problems.push(`extra artifact ${file}: no deployable contract of that name in src/`);
  }
  if (problems.length > 0) {
    for (const p of problems) console.error(`build.js --check: ${p}`);
    console.error("build.js --check: artifacts are out of date; run `make contracts` and commit the result");
    return 1;
  }
  console.log(`build.js --check: ${artifacts.size} artifact(s) in ${path.relative(process.cwd(), dir) || "."} are fresh`);
  return 0;
}

function write(artifacts, dir) {
  fs.mkdirSync(dir, { recursive: true });
  for (const file of existingArtifacts(dir)) {
    if (!artifacts.has(file)) {
      fs.unlinkSync(path.join(dir, file));
      console.log(`removed ${file}`);
    }
  }
  for (const [file, text] of [...artifacts.entries()].sort()) {
    const full = path.join(dir, file);
    const changed = !fs.existsSync(full) || fs.readFileSync(full, "utf8") !== text;
    if (changed) fs.writeFileSync(full, text);
    console.log(`${changed ? "wrote" : "unchanged"} ${file}`);
  }
  return 0;
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const solc = loadSolc();
  const artifacts = buildArtifacts(solc);
  process.exit(args.check ? check(artifacts, args.artifactsDir) : write(artifacts, args.artifactsDir));
}

if (require.main === module) main();

module.exports = { COMPILER_SETTINGS, REMAPPINGS, resolveImport };
