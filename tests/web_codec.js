// Runs web/msgpack.js and web/wire.js in Node for tests/test_web_codec.py:
// reads a JSON list of jobs on stdin, writes a JSON list of results, each
// {ok: value} or {error: "Name: message"}.
//
// Values cross as JSON with tags for what JSON lacks: {"$bin": hex} (bin),
// {"$int": "digits"} (an integer beyond 2^53), {"$f32": x} / {"$f64": x}
// (a number to encode as that float), {"$float": "NaN" | "Infinity" |
// "-Infinity" | "-0"}.
"use strict";
const path = require("path");
const msgpack = require(path.join(__dirname, "..", "web", "msgpack.js"));
const wire = require(path.join(__dirname, "..", "web", "wire.js"));

const hex = (bytes) => Buffer.from(bytes).toString("hex");
const fromHex = (text) => new Uint8Array(Buffer.from(text, "hex"));

function toJs(v) {
  if (Array.isArray(v)) return v.map(toJs);
  if (v === null || typeof v !== "object") return v;
  if ("$bin" in v) return fromHex(v.$bin);
  if ("$int" in v) return BigInt(v.$int);
  if ("$f32" in v) return msgpack.float32(v.$f32);
  if ("$f64" in v) return msgpack.float64(v.$f64);
  // fromEntries defines the keys: "__proto__" is a key like any other
  return Object.fromEntries(Object.entries(v).map(([k, item]) => [k, toJs(item)]));
}

function toJson(v) {
  if (v instanceof Uint8Array) return { $bin: hex(v) };
  if (typeof v === "bigint") return { $int: v.toString() };
  if (typeof v === "number" && (!Number.isFinite(v) || Object.is(v, -0))) return { $float: Object.is(v, -0) ? "-0" : String(v) };
  if (Array.isArray(v)) return v.map(toJson);
  if (v === null || typeof v !== "object") return v;
  return Object.fromEntries(Object.entries(v).map(([k, item]) => [k, toJson(item)]));
}

const JOBS = {
  encode: (job) => hex(msgpack.encode(toJs(job.value))),
  decode: (job) => toJson(msgpack.decode(fromHex(job.hex))),
  encodeFrame: (job) => hex(wire.encodeFrame(job.seq, { timestamp: job.timestamp, faces: job.faces.map((f) => Object.assign({}, f, { landmarks: Float32Array.from(f.landmarks) })) })),
  decodeMessage: (job) => toJson(wire.decode(fromHex(job.hex))),
};

const jobs = JSON.parse(require("fs").readFileSync(0, "utf8"));
const results = jobs.map((job) => {
  try {
    return { ok: JOBS[job.op](job) };
  } catch (e) {
    return { error: `${e.name}: ${e.message}` };
  }
});
process.stdout.write(JSON.stringify(results));
