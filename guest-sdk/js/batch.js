// The batch framing of `docs/ARCHITECTURE.md` ("Batch framing"), read and written in JavaScript:
//
//   batch := "FLB1" | names(key fields) | names(value fields) | row*
//   names := count:u16 | (len:u16 | utf-8)*
//   row   := key_len:u32 | key | value_len:u32 | value
//   value := 0x00 null | 0x01 false | 0x02 true | 0x03 i64 | 0x04 f64 | 0x05 len:u32 utf-8
//
// Values are `null`, booleans, numbers (f64, and i64 within ±2^53; beyond, a BigInt) and strings.
// A row's key stays in its encoded form (a Uint8Array): an operator hands it back as it came.

const NULL = 0, FALSE = 1, TRUE = 2, I64 = 3, F64 = 4, STR = 5;
const TWO_32 = 4294967296;
const I64_MIN = -(2n ** 63n), I64_MAX = 2n ** 63n - 1n;
/** Texts up to this many UTF-16 units have their encoding kept, ... */
const CACHED_TEXT_LENGTH = 64;
/** ... up to this many of them (then the cache starts again). */
const CACHED_TEXTS = 4096;
const textCache = new Map();

/** Bytes that do not follow the framing. */
export class MalformedBatch extends Error {
  get name() {
    return "MalformedBatch";
  }
}

/** The text of the UTF-8 bytes `bytes[start:end]`. */
export function utf8Decode(bytes, start = 0, end = bytes.length) {
  let out = "";
  let i = start;
  while (i < end) {
    const b = bytes[i];
    if (b < 0x80) {
      let j = i + 1;
      while (j < end && bytes[j] < 0x80 && j - i < 1024) j++;
      out += String.fromCharCode.apply(null, bytes.subarray(i, j));
      i = j;
      continue;
    }
    let more, point, least;
    if (b >= 0xf0 && b < 0xf5) [more, point, least] = [3, b & 0x07, 0x10000];
    else if (b >= 0xe0 && b < 0xf0) [more, point, least] = [2, b & 0x0f, 0x800];
    else if (b >= 0xc2 && b < 0xe0) [more, point, least] = [1, b & 0x1f, 0x80];
    else throw new MalformedBatch(`invalid UTF-8 at byte ${i}`);
    if (i + more >= end) throw new MalformedBatch(`invalid UTF-8 at byte ${i}`);
    for (let k = 1; k <= more; k++) {
      const c = bytes[i + k];
      if ((c & 0xc0) !== 0x80) throw new MalformedBatch(`invalid UTF-8 at byte ${i}`);
      point = (point << 6) | (c & 0x3f);
    }
    if (point < least || point > 0x10ffff || (point >= 0xd800 && point < 0xe000)) {
      throw new MalformedBatch(`invalid UTF-8 at byte ${i}`);
    }
    out += String.fromCodePoint(point);
    i += more + 1;
  }
  return out;
}

/** A growable byte buffer that writes the framing's little-endian numbers and UTF-8 text. */
export class ByteWriter {
  constructor(capacity = 4096) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
    this.len = 0;
  }

  /** Makes room for `n` more bytes. */
  reserve(n) {
    if (this.len + n <= this.buf.length) return;
    let capacity = this.buf.length * 2;
    while (capacity < this.len + n) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.buf.subarray(0, this.len));
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }

  u8(value) {
    this.reserve(1);
    this.buf[this.len++] = value;
  }

  u16(value) {
    this.reserve(2);
    this.view.setUint16(this.len, value, true);
    this.len += 2;
  }

  u32(value) {
    this.reserve(4);
    this.view.setUint32(this.len, value, true);
    this.len += 4;
  }

  bytes(bytes) {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** `text` as UTF-8, after its length as u32 (`lengthBytes` 4) or u16 (2). The
   * encodings of short texts are kept (up to `CACHED_TEXTS`): a text written again is one copy. */
  text(text, lengthBytes = 4) {
    if (lengthBytes === 4 && text.length <= CACHED_TEXT_LENGTH) {
      let encoded = textCache.get(text);
      if (encoded === undefined) {
        if (textCache.size >= CACHED_TEXTS) textCache.clear();
        const scratch = new ByteWriter(4 + text.length * 3);
        scratch.encode(text, 4);
        encoded = scratch.buf.slice(0, scratch.len);
        textCache.set(text, encoded);
      }
      if (this.len + encoded.length > this.buf.length) this.reserve(encoded.length);
      this.buf.set(encoded, this.len);
      this.len += encoded.length;
      return;
    }
    this.encode(text, lengthBytes);
  }

  /** Encodes `text` after its length as u32 (`lengthBytes` 4) or u16 (2). */
  encode(text, lengthBytes) {
    this.reserve(lengthBytes + text.length * 3);
    const at = this.len;
    let p = at + lengthBytes;
    const buf = this.buf;
    for (let i = 0; i < text.length; i++) {
      let c = text.charCodeAt(i);
      if (c < 0x80) {
        buf[p++] = c;
      } else if (c < 0x800) {
        buf[p++] = 0xc0 | (c >> 6);
        buf[p++] = 0x80 | (c & 0x3f);
      } else if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        c = 0x10000 + ((c - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00);
        buf[p++] = 0xf0 | (c >> 18);
        buf[p++] = 0x80 | ((c >> 12) & 0x3f);
        buf[p++] = 0x80 | ((c >> 6) & 0x3f);
        buf[p++] = 0x80 | (c & 0x3f);
      } else {
        if (c >= 0xd800 && c < 0xe000) c = 0xfffd;
        buf[p++] = 0xe0 | (c >> 12);
        buf[p++] = 0x80 | ((c >> 6) & 0x3f);
        buf[p++] = 0x80 | (c & 0x3f);
      }
    }
    const length = p - at - lengthBytes;
    if (lengthBytes === 2) {
      if (length > 0xffff) throw new RangeError("a field name is longer than 65,535 bytes");
      this.view.setUint16(at, length, true);
    } else {
      this.view.setUint32(at, length, true);
    }
    this.len = p;
  }

  /** Appends one value; `integer` writes an integral number as an i64. */
  value(value, integer) {
    switch (typeof value) {
      case "number":
        if (integer && Number.isInteger(value)) {
          if (!Number.isSafeInteger(value)) throw new RangeError(`the integer ${value} is beyond ±2^53: use a BigInt`);
          if (this.len + 9 > this.buf.length) this.reserve(9);
          this.buf[this.len] = I64;
          this.view.setUint32(this.len + 1, value >>> 0, true);
          this.view.setInt32(this.len + 5, Math.floor(value / TWO_32), true);
        } else {
          if (this.len + 9 > this.buf.length) this.reserve(9);
          this.buf[this.len] = F64;
          this.view.setFloat64(this.len + 1, value, true);
        }
        this.len += 9;
        return;
      case "string":
        if (this.len + 1 > this.buf.length) this.reserve(1);
        this.buf[this.len++] = STR;
        this.text(value);
        return;
      case "boolean":
        this.u8(value ? TRUE : FALSE);
        return;
      case "bigint":
        if (value < I64_MIN || value > I64_MAX) throw new RangeError(`the integer ${value} does not fit in 64 bits`);
        this.reserve(9);
        this.buf[this.len] = I64;
        this.view.setBigInt64(this.len + 1, value, true);
        this.len += 9;
        return;
      default:
        if (value === null || value === undefined) {
          this.u8(NULL);
          return;
        }
        throw new TypeError(`a field holds null, a boolean, a number, a BigInt or a string, not ${typeof value}`);
    }
  }

  /** The bytes written. */
  finish() {
    return this.buf.slice(0, this.len);
  }
}

/** The UTF-8 bytes of `text`. */
export function utf8Encode(text) {
  const out = new ByteWriter(text.length * 3 + 8);
  out.text(text);
  return out.buf.slice(4, out.len);
}

/** The encoded key of the given key field values. */
export function encodeKey(values) {
  const out = new ByteWriter(64);
  for (const value of values) out.value(value, typeof value === "number" && Number.isInteger(value));
  return out.finish();
}

/**
 * Decodes the values in `bytes[start:end]` into `out` (an array), and the indexes of those that
 * were i64s into `integers` (if given).
 */
export function decodeValues(bytes, view, start, end, out, integers) {
  let p = start;
  while (p < end) {
    const tag = bytes[p++];
    switch (tag) {
      case STR: {
        if (p + 4 > end) throw new MalformedBatch(`a text value runs past its row at byte ${p}`);
        const length = view.getUint32(p, true);
        p += 4;
        if (p + length > end) throw new MalformedBatch(`a text value runs past its row at byte ${p}`);
        out.push(utf8Decode(bytes, p, p + length));
        p += length;
        break;
      }
      case F64:
        if (p + 8 > end) throw new MalformedBatch(`a value runs past its row at byte ${p}`);
        out.push(view.getFloat64(p, true));
        p += 8;
        break;
      case I64: {
        if (p + 8 > end) throw new MalformedBatch(`a value runs past its row at byte ${p}`);
        const high = view.getInt32(p + 4, true);
        out.push(high >= -0x200000 && high < 0x200000 ? high * TWO_32 + view.getUint32(p, true) : view.getBigInt64(p, true));
        if (integers) integers.push(out.length - 1);
        p += 8;
        break;
      }
      case TRUE:
        out.push(true);
        break;
      case FALSE:
        out.push(false);
        break;
      case NULL:
        out.push(null);
        break;
      default:
        throw new MalformedBatch(`unknown value tag ${tag} at byte ${p - 1}`);
    }
  }
  return out;
}

function readNames(bytes, view, p) {
  if (p + 2 > bytes.length) throw new MalformedBatch(`the field names end early at byte ${p}`);
  const count = view.getUint16(p, true);
  p += 2;
  const names = [];
  for (let i = 0; i < count; i++) {
    if (p + 2 > bytes.length) throw new MalformedBatch(`the field names end early at byte ${p}`);
    const length = view.getUint16(p, true);
    p += 2;
    if (p + length > bytes.length) throw new MalformedBatch(`a field name runs past the end of the batch at byte ${p}`);
    names.push(utf8Decode(bytes, p, p + length));
    p += length;
  }
  return [names, p];
}

/** A framed batch, read lazily: its field names, then its rows. */
export class Batch {
  constructor(bytes) {
    if (!(bytes instanceof Uint8Array)) bytes = new Uint8Array(bytes);
    if (bytes.length < 4 || bytes[0] !== 0x46 || bytes[1] !== 0x4c || bytes[2] !== 0x42 || bytes[3] !== 0x31) {
      throw new MalformedBatch("a batch starts with FLB1");
    }
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let p;
    [this.keyFields, p] = readNames(bytes, this.view, 4);
    [this.valueFields, this.rowsAt] = readNames(bytes, this.view, p);
  }

  /** Each row as `[key, start, end]`: its encoded key, and where its values are in `bytes`. */
  rawRows() {
    const { bytes, view } = this;
    const rows = [];
    let p = this.rowsAt;
    while (p < bytes.length) {
      if (p + 4 > bytes.length) throw new MalformedBatch(`a row header ends early at byte ${p}`);
      const keyLength = view.getUint32(p, true);
      const key = bytes.subarray(p + 4, p + 4 + keyLength);
      p += 4 + keyLength;
      if (p + 4 > bytes.length) throw new MalformedBatch(`a row header ends early at byte ${p}`);
      const valueLength = view.getUint32(p, true);
      p += 4;
      if (p + valueLength > bytes.length) throw new MalformedBatch(`a row runs past the end of the batch at byte ${p}`);
      rows.push([key, p, p + valueLength]);
      p += valueLength;
    }
    return rows;
  }

  /** The fields of each row as `rows` reads it: the key fields that are not also value fields
   * (as `std:key-by` leaves them), then the value fields. */
  fieldNames() {
    return [...this.keyFields.filter((name) => !this.valueFields.includes(name)), ...this.valueFields];
  }

  /**
   * Each row as `[key, values, integers]`: its encoded key, the values of `fieldNames()`, and the
   * indexes of the values that were i64s.
   */
  rows() {
    const { bytes, view } = this;
    const keep = this.keyFields.map((name, i) => (this.valueFields.includes(name) ? -1 : i)).filter((i) => i >= 0);
    const raw = this.rawRows();
    const rows = new Array(raw.length);
    for (let at = 0; at < raw.length; at++) {
      // No destructuring in the loops that run per row: QuickJS runs it through the iterator
      // protocol.
      const entry = raw[at];
      const key = entry[0];
      const values = [];
      const integers = [];
      if (keep.length) {
        const keyValues = decodeValues(key, new DataView(key.buffer, key.byteOffset, key.byteLength), 0, key.length, [], []);
        for (const i of keep) values.push(keyValues[i]);
      }
      decodeValues(bytes, view, entry[1], entry[2], values, integers);
      rows[at] = [key, values, integers];
    }
    return rows;
  }

  /** How many rows it holds. */
  get length() {
    return this.rawRows().length;
  }
}

/** Writes a batch of rows with the given key and value fields. */
export class BatchWriter {
  constructor(keyFields, valueFields) {
    this.out = new ByteWriter();
    this.out.bytes([0x46, 0x4c, 0x42, 0x31]);
    for (const names of [keyFields, valueFields]) {
      this.out.u16(names.length);
      for (const name of names) this.out.text(name, 2);
    }
    this.rows = 0;
  }

  /** Appends a row: its encoded key, its values (one per value field), and which of them are
   * integer fields (`integer[i]` true: an integral number is written as an i64). */
  push(key, values, integer = []) {
    const out = this.out;
    const start = out.len;
    out.reserve(8 + key.length);
    out.view.setUint32(out.len, key.length, true);
    out.buf.set(key, out.len + 4);
    out.len += 4 + key.length;
    const at = out.len;
    out.len += 4;
    try {
      for (let i = 0; i < values.length; i++) out.value(values[i], integer[i] === true);
    } catch (error) {
      out.len = start;
      throw error;
    }
    out.view.setUint32(at, out.len - at - 4, true);
    this.rows++;
  }

  /** The framed batch. */
  finish() {
    return this.out.finish();
  }
}
