#!/usr/bin/env node
// A JavaScript host for the zip-oss component: Node runs the component's
// `zip-oss:pack/zip-pack@0.1.0` export, transpiled by jco, with
// @bytecodealliance/preview2-shim providing wasi:http (and cli, clocks, io, random).
//
//   node pack.mjs transpile <component.wasm> <out-dir>
//       Transpiles the component into <out-dir> (once; reuse it for many packs).
//
//   node pack.mjs pack (--transpiled <out-dir> | --component <component.wasm>)
//       --endpoint URL --access-key-id ID --access-key-secret SECRET
//       --bucket BUCKET (--source-dir PREFIX ... | --source-file KEY ...) [options]
//       Runs one pack and prints its summary as one line of JSON (the HTTP API's
//       field names). A pack error prints {"error":{"status","code","message"}} and
//       exits 2; anything else that goes wrong exits 1.
//
// Options of `pack` (see wit/zip-pack.wit): --provider s3|oss, --public-endpoint,
// --region (default us-east-1), --path-style, --security-token, --max-entries,
// --max-bytes, --dest-file, --request-id, --url-expires, --compression
// stored|deflate|auto, --compression-level, --name-encoding utf8|gbk, --include,
// --exclude (repeatable), --all-folders. The secret may come from
// ZIP_OSS_ACCESS_KEY_SECRET instead of the command line.

import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const HERE = dirname(fileURLToPath(import.meta.url));
const CONFIG_STORE = "wasi:config/store@0.2.0-draft-2024-09-27";
const ENTRY = "zip_oss_component.js";

class UsageError extends Error {}

/** Transpiles `component` into `outDir`, ready to import from anywhere. */
function transpile(component, outDir) {
  const jco = join(HERE, "node_modules", "@bytecodealliance", "jco", "dist", "jco.js");
  if (!existsSync(jco)) {
    throw new Error(`jco is not installed: run \`npm ci\` in ${HERE}`);
  }
  const run = spawnSync(
    process.execPath,
    [jco, "transpile", component, "-o", outDir, "--quiet",
      "--map", `${CONFIG_STORE}=./config-store.js`],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  if (run.status !== 0) {
    throw new Error(`jco transpile failed (${run.error ?? `exit ${run.status}`})`);
  }
  copyFileSync(join(HERE, "config-store.js"), join(outDir, "config-store.js"));
  linkModules(outDir);
}

/** The transpiled code imports `@bytecodealliance/preview2-shim/*` by bare name, which
 * Node resolves from the code's own folder upwards: give that folder our node_modules. */
function linkModules(outDir) {
  const link = join(outDir, "node_modules");
  if (!existsSync(link)) {
    symlinkSync(join(HERE, "node_modules"), link, "dir");
  }
}

function u64(value, name) {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name}: not a number: ${value}`);
  return BigInt(value);
}

function small(value, name, max) {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) > max) {
    throw new UsageError(`--${name}: not a number up to ${max}: ${value}`);
  }
  return Number(value);
}

function oneOf(value, name, allowed) {
  if (!allowed.includes(value)) {
    throw new UsageError(`--${name}: one of ${allowed.join(", ")}, not ${value}`);
  }
  return value;
}

/** u64 values arrive as BigInt; JSON wants numbers (exact below 2^53, as here). */
function jsonNumber(n) {
  return Number.isSafeInteger(Number(n)) ? Number(n) : n.toString();
}

function summaryJson(s) {
  const out = {
    url: s.url,
    key: s.key,
    entries: jsonNumber(s.entries),
    bytes_read: jsonNumber(s.bytesRead),
    archive_bytes: jsonNumber(s.archiveBytes),
    parts: s.parts,
    duration_ms: jsonNumber(s.durationMs),
  };
  if (s.skipped.length) out.skipped = s.skipped;
  if (s.renamed.length) out.renamed = s.renamed.map(([key, name]) => ({ key, name }));
  if (s.utf8Fallbacks.length) out.utf8_fallbacks = s.utf8Fallbacks;
  return out;
}

async function pack(argv) {
  const { values: o } = parseArgs({
    args: argv,
    strict: true,
    options: {
      transpiled: { type: "string" },
      component: { type: "string" },
      provider: { type: "string", default: "s3" },
      endpoint: { type: "string" },
      "public-endpoint": { type: "string" },
      region: { type: "string", default: "us-east-1" },
      "path-style": { type: "boolean", default: false },
      "access-key-id": { type: "string" },
      "access-key-secret": { type: "string" },
      "security-token": { type: "string" },
      "max-entries": { type: "string" },
      "max-bytes": { type: "string" },
      bucket: { type: "string" },
      "source-dir": { type: "string", multiple: true, default: [] },
      "source-file": { type: "string", multiple: true, default: [] },
      "dest-file": { type: "string" },
      "request-id": { type: "string" },
      "url-expires": { type: "string" },
      compression: { type: "string", default: "stored" },
      "compression-level": { type: "string" },
      "name-encoding": { type: "string", default: "utf8" },
      include: { type: "string", multiple: true, default: [] },
      exclude: { type: "string", multiple: true, default: [] },
      "all-folders": { type: "boolean", default: false },
    },
  });
  const secret = o["access-key-secret"] ?? process.env.ZIP_OSS_ACCESS_KEY_SECRET;
  for (const [name, value] of [["endpoint", o.endpoint], ["access-key-id", o["access-key-id"]],
    ["access-key-secret", secret], ["bucket", o.bucket]]) {
    if (!value) throw new UsageError(`--${name} is required`);
  }
  if (!o.transpiled === !o.component) {
    throw new UsageError("give exactly one of --transpiled <dir> and --component <wasm>");
  }

  // Enums are strings, options are undefined or a value, u64 is BigInt, lists are arrays.
  const store = {
    provider: oneOf(o.provider, "provider", ["s3", "oss"]),
    endpoint: o.endpoint,
    publicEndpoint: o["public-endpoint"],
    region: o.region,
    pathStyle: o["path-style"],
    accessKeyId: o["access-key-id"],
    accessKeySecret: secret,
    securityToken: o["security-token"],
    maxEntries: u64(o["max-entries"], "max-entries"),
    maxBytes: u64(o["max-bytes"], "max-bytes"),
  };
  const request = {
    bucket: o.bucket,
    sourceDirs: o["source-dir"],
    sourceFiles: o["source-file"].map((key) => ({ key, name: undefined })),
    destFile: o["dest-file"],
    requestId: o["request-id"],
    urlExpires: small(o["url-expires"], "url-expires", 0xffffffff),
    compression: oneOf(o.compression, "compression", ["stored", "deflate", "auto"]),
    compressionLevel: small(o["compression-level"], "compression-level", 255),
    nameEncoding: oneOf(o["name-encoding"], "name-encoding", ["utf8", "gbk"]),
    include: o.include,
    exclude: o.exclude,
    allFolders: o["all-folders"],
  };

  let dir = o.transpiled && resolve(o.transpiled);
  let scratch;
  if (!dir) {
    scratch = mkdtempSync(join(tmpdir(), "zip-oss-jco-"));
    dir = scratch;
    transpile(resolve(o.component), dir);
  } else if (!existsSync(join(dir, ENTRY))) {
    throw new UsageError(`${dir} holds no ${ENTRY}: run \`node pack.mjs transpile\` first`);
  } else {
    linkModules(dir);
  }
  try {
    const { zipPack } = await import(pathToFileURL(join(dir, ENTRY)).href);
    let summary;
    try {
      summary = zipPack.pack(store, request);
    } catch (e) {
      // jco turns `result::err(pack-error)` into a thrown ComponentError whose
      // `payload` is the pack-error record (its class is not exported; its name is
      // not set either, so recognise it by the payload).
      if (e instanceof Error && Object.hasOwn(e, "payload") && typeof e.payload === "object") {
        const { status, code, message } = e.payload;
        console.log(JSON.stringify({ error: { status, code, message } }));
        return 2;
      }
      throw e;
    }
    console.log(JSON.stringify(summaryJson(summary)));
    return 0;
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

async function main(argv) {
  const [command, ...rest] = argv;
  switch (command) {
    case "transpile": {
      if (rest.length !== 2) throw new UsageError("transpile <component.wasm> <out-dir>");
      transpile(resolve(rest[0]), resolve(rest[1]));
      return 0;
    }
    case "pack":
      return pack(rest);
    default:
      throw new UsageError("usage: node pack.mjs transpile <component.wasm> <out-dir> | "
        + "node pack.mjs pack --transpiled <out-dir> --endpoint URL ... (see the top of pack.mjs)");
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  if (e instanceof UsageError || e?.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    console.error(`pack.mjs: ${e.message}`);
    process.exitCode = 64;
  } else {
    console.error("pack.mjs: failed:", e);
    process.exitCode = 1;
  }
}
