/*
 * A small msgpack codec: what the mojofer protocol uses (docs/protocol.md):
 * maps with string keys, strings, integers up to 64 bits, float32 and
 * float64, binary, arrays, nil and booleans. No extension types.
 *
 *   const bytes = MojoferMsgpack.encode({t: "frame", ts: MojoferMsgpack.float64(1)});
 *   const value = MojoferMsgpack.decode(bytes);
 *
 * Encoding: an integral number is written in its smallest form (unsigned
 * for >= 0, as msgpack-c writes it), any other number as float64; wrap a
 * number in float64() or float32() to choose. A Uint8Array or ArrayBuffer
 * is bin. Decoding is strict: a truncated message, bytes after the value,
 * a map key that is not a string or comes twice, an unknown or extension
 * type all throw MsgpackError. Integers beyond 2^53 decode to BigInt; bin
 * to a Uint8Array of its own.
 *
 * A classic script (global MojoferMsgpack) or a CommonJS module in Node.
 */
(function (root, factory) {
  if (typeof module === "object" && module.exports) module.exports = factory();
  else root.MojoferMsgpack = factory();
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  const MAX_DEPTH = 64; // nesting the decoder follows; the protocol needs 4

  class MsgpackError extends Error {
    constructor(message) {
      super(message);
      this.name = "MsgpackError";
    }
  }

  /* A number to be written as float32 or float64 whatever its value. */
  class Float {
    constructor(value, bits) {
      this.value = value;
      this.bits = bits;
    }
  }
  const float32 = (value) => new Float(value, 32);
  const float64 = (value) => new Float(value, 64);

  // ---- encoding --------------------------------------------------------------

  class Writer {
    constructor() {
      this.bytes = new Uint8Array(256);
      this.view = new DataView(this.bytes.buffer);
      this.size = 0;
    }

    /* Room for n more bytes; the offset to write them at. */
    reserve(n) {
      if (this.size + n > this.bytes.length) {
        let capacity = this.bytes.length * 2;
        while (capacity < this.size + n) capacity *= 2;
        const grown = new Uint8Array(capacity);
        grown.set(this.bytes.subarray(0, this.size));
        this.bytes = grown;
        this.view = new DataView(grown.buffer);
      }
      const at = this.size;
      this.size += n;
      return at;
    }

    /* Writes n bytes with DataView's `set` at the next offset; the offset is
     * taken first, since reserve() may replace the buffer and its view. */
    put(set, n, v) {
      const at = this.reserve(n);
      this.view[set](at, v);
    }

    u8(v) { this.put("setUint8", 1, v); }
    u16(v) { this.put("setUint16", 2, v); }
    u32(v) { this.put("setUint32", 4, v); }

    raw(bytes) {
      const at = this.reserve(bytes.length);
      this.bytes.set(bytes, at);
    }

    /* A type byte then a big-endian length of 1, 2 or 4 bytes (or a fix form). */
    head(length, fix, fixMax, t8, t16, t32) {
      if (fix !== null && length <= fixMax) this.u8(fix | length);
      else if (t8 !== null && length < 0x100) { this.u8(t8); this.u8(length); }
      else if (length < 0x10000) { this.u8(t16); this.u16(length); }
      else if (length <= 0xffffffff) { this.u8(t32); this.u32(length); }
      else throw new MsgpackError(`a length of ${length} is beyond msgpack's 2^32 - 1`);
    }

    integer(v) {
      if (v >= 0) {
        if (v < 0x80) this.u8(v);
        else if (v < 0x100) { this.u8(0xcc); this.u8(v); }
        else if (v < 0x10000) { this.u8(0xcd); this.u16(v); }
        else if (v < 0x100000000) { this.u8(0xce); this.u32(v); }
        else { this.u8(0xcf); this.put("setBigUint64", 8, BigInt(v)); }
      } else if (v >= -0x20) this.u8(v & 0xff);
      else if (v >= -0x80) { this.u8(0xd0); this.put("setInt8", 1, v); }
      else if (v >= -0x8000) { this.u8(0xd1); this.put("setInt16", 2, v); }
      else if (v >= -0x80000000) { this.u8(0xd2); this.put("setInt32", 4, v); }
      else { this.u8(0xd3); this.put("setBigInt64", 8, BigInt(v)); }
    }

    bigint(v) {
      if (v >= -(2n ** 63n) && v < 2n ** 64n) {
        if (v >= -0x80000000n && v < 0x100000000n) this.integer(Number(v));
        else if (v >= 0n) { this.u8(0xcf); this.put("setBigUint64", 8, v); }
        else { this.u8(0xd3); this.put("setBigInt64", 8, v); }
      } else throw new MsgpackError(`integer ${v} does not fit in 64 bits`);
    }

    float(v, bits) {
      if (typeof v !== "number") throw new TypeError(`float${bits}() takes a number, got ${typeof v}`);
      if (bits === 32) { this.u8(0xca); this.put("setFloat32", 4, v); }
      else { this.u8(0xcb); this.put("setFloat64", 8, v); }
    }

    string(s) {
      const bytes = new TextEncoder().encode(s);
      this.head(bytes.length, 0xa0, 31, 0xd9, 0xda, 0xdb);
      this.raw(bytes);
    }

    binary(bytes) {
      this.head(bytes.length, null, 0, 0xc4, 0xc5, 0xc6);
      this.raw(bytes);
    }

    value(v, depth) {
      if (depth > MAX_DEPTH) throw new MsgpackError(`nested deeper than ${MAX_DEPTH} levels`);
      if (v === null) this.u8(0xc0);
      else if (v === true) this.u8(0xc3);
      else if (v === false) this.u8(0xc2);
      else if (typeof v === "number") {
        if (Number.isSafeInteger(v)) this.integer(v);
        else this.float(v, 64);
      } else if (typeof v === "bigint") this.bigint(v);
      else if (typeof v === "string") this.string(v);
      else if (v instanceof Float) this.float(v.value, v.bits);
      else if (v instanceof Uint8Array) this.binary(v);
      else if (v instanceof ArrayBuffer) this.binary(new Uint8Array(v));
      else if (Array.isArray(v)) {
        this.head(v.length, 0x90, 15, null, 0xdc, 0xdd);
        for (const item of v) this.value(item, depth + 1);
      } else if (v instanceof Map) this.map(Array.from(v.entries()), depth);
      else if (typeof v === "object" && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null))
        this.map(Object.entries(v), depth);
      else throw new TypeError(`msgpack cannot encode ${describe(v)}`);
    }

    map(entries, depth) {
      this.head(entries.length, 0x80, 15, null, 0xde, 0xdf);
      for (const [key, item] of entries) {
        if (typeof key !== "string") throw new TypeError(`map keys must be strings, got ${describe(key)}`);
        this.string(key);
        this.value(item, depth + 1);
      }
    }
  }

  function describe(v) {
    if (v === undefined) return "undefined";
    if (typeof v !== "object") return typeof v;
    return v.constructor ? v.constructor.name : "an object without a prototype";
  }

  /* The msgpack bytes of `value`. */
  function encode(value) {
    const w = new Writer();
    w.value(value, 0);
    return w.bytes.slice(0, w.size);
  }

  // ---- decoding --------------------------------------------------------------

  const utf8 = new TextDecoder("utf-8", { fatal: true });

  class Reader {
    constructor(bytes) {
      this.bytes = bytes;
      this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      this.at = 0;
    }

    /* The offset of the next n bytes, which must be there. */
    take(n) {
      if (this.at + n > this.bytes.length)
        throw new MsgpackError(`truncated: ${n} more bytes needed at offset ${this.at}, ${this.bytes.length - this.at} left`);
      const at = this.at;
      this.at += n;
      return at;
    }

    u8() { return this.view.getUint8(this.take(1)); }
    u16() { return this.view.getUint16(this.take(2)); }
    u32() { return this.view.getUint32(this.take(4)); }

    u64() {
      const v = this.view.getBigUint64(this.take(8));
      return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }

    i64() {
      const v = this.view.getBigInt64(this.take(8));
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }

    string(n) {
      const at = this.take(n);
      try {
        return utf8.decode(this.bytes.subarray(at, at + n));
      } catch (e) {
        throw new MsgpackError(`a string at offset ${at} is not UTF-8`);
      }
    }

    binary(n) {
      const at = this.take(n);
      return this.bytes.slice(at, at + n);
    }

    array(n, depth) {
      const items = [];
      for (let i = 0; i < n; i++) items.push(this.value(depth + 1));
      return items;
    }

    map(n, depth) {
      const map = {};
      for (let i = 0; i < n; i++) {
        const at = this.at;
        const key = this.value(depth + 1);
        if (typeof key !== "string") throw new MsgpackError(`a map key at offset ${at} is not a string`);
        if (Object.prototype.hasOwnProperty.call(map, key)) throw new MsgpackError(`map key "${key}" given twice`);
        // defined, not assigned: a key "__proto__" is a key like any other
        Object.defineProperty(map, key, { value: this.value(depth + 1), enumerable: true, writable: true, configurable: true });
      }
      return map;
    }

    value(depth) {
      if (depth > MAX_DEPTH) throw new MsgpackError(`nested deeper than ${MAX_DEPTH} levels`);
      const at = this.at;
      const t = this.u8();
      if (t < 0x80) return t;
      if (t >= 0xe0) return t - 0x100;
      if (t >= 0xa0 && t <= 0xbf) return this.string(t & 0x1f);
      if (t >= 0x90 && t <= 0x9f) return this.array(t & 0x0f, depth);
      if (t >= 0x80 && t <= 0x8f) return this.map(t & 0x0f, depth);
      switch (t) {
        case 0xc0: return null;
        case 0xc2: return false;
        case 0xc3: return true;
        case 0xc4: return this.binary(this.u8());
        case 0xc5: return this.binary(this.u16());
        case 0xc6: return this.binary(this.u32());
        case 0xca: return this.view.getFloat32(this.take(4));
        case 0xcb: return this.view.getFloat64(this.take(8));
        case 0xcc: return this.u8();
        case 0xcd: return this.u16();
        case 0xce: return this.u32();
        case 0xcf: return this.u64();
        case 0xd0: return this.view.getInt8(this.take(1));
        case 0xd1: return this.view.getInt16(this.take(2));
        case 0xd2: return this.view.getInt32(this.take(4));
        case 0xd3: return this.i64();
        case 0xd9: return this.string(this.u8());
        case 0xda: return this.string(this.u16());
        case 0xdb: return this.string(this.u32());
        case 0xdc: return this.array(this.u16(), depth);
        case 0xdd: return this.array(this.u32(), depth);
        case 0xde: return this.map(this.u16(), depth);
        case 0xdf: return this.map(this.u32(), depth);
        default:
          throw new MsgpackError(`type byte 0x${t.toString(16)} at offset ${at} is ${t === 0xc1 ? "never used" : "an extension type"}`);
      }
    }
  }

  /* The one value in `bytes` (a Uint8Array or ArrayBuffer). */
  function decode(bytes) {
    const data = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes;
    if (!(data instanceof Uint8Array)) throw new TypeError(`decode takes a Uint8Array or an ArrayBuffer, got ${describe(bytes)}`);
    const r = new Reader(data);
    const value = r.value(0);
    if (r.at !== data.length) throw new MsgpackError(`${data.length - r.at} bytes after the value`);
    return value;
  }

  return { encode, decode, float32, float64, MsgpackError };
});
