// Unit tests of the JavaScript SDK, run by Node (`node --test guest-sdk/js/test/`): the framing,
// the config and each operator kind's runner. tests/all/js.rs runs the same code in components.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Batch, BatchWriter, Config, MalformedBatch, encodeKey, utf8Decode, utf8Encode } from "../index.js";
import { BadRecord, Failed, InvalidConfig, MissingField, WrongType } from "../errors.js";
import {
  AggregateRunner,
  BatchMapRunner,
  LineParseRunner,
  ReduceRunner,
  Registered,
  RowFormatRunner,
  RowMapRunner,
} from "../operators.js";

function batch(keyFields, valueFields, rows, integer = []) {
  const writer = new BatchWriter(keyFields, valueFields);
  for (const [key, values] of rows) writer.push(encodeKey(key), values, integer);
  return writer.finish();
}

function rowsOf(bytes) {
  const read = new Batch(bytes);
  const names = read.fieldNames();
  return [...read.rows()].map(([key, values]) => [Buffer.from(key).toString("hex"), Object.fromEntries(names.map((n, i) => [n, values[i]]))]);
}

const hex = (values) => Buffer.from(encodeKey(values)).toString("hex");
const run = (kind, Runner, target, config = [], options = {}) => new Registered(kind, Runner, target, options).build(config);

test("values round-trip exactly, with i64s as numbers or BigInts", () => {
  const values = [null, true, false, 0.1, -0, Infinity, "", "Zürich ☀ 𝄞", 2 ** 53 - 1, -(2n ** 63n), 2n ** 63n - 1n];
  const bytes = batch([], values.map((_, i) => `f${i}`), [[[], values]], values.map((_, i) => i >= 8));
  const [[key, read, integers]] = [...new Batch(bytes).rows()];
  assert.equal(key.length, 0);
  assert.deepEqual(read, values);
  assert.deepEqual(integers, [8, 9, 10]);
});

test("the encoding is the documented one", () => {
  const bytes = batch(["k"], ["v"], [[["a"], [1]]], [true]);
  const expected = [
    ..."FLB1".split("").map((c) => c.charCodeAt(0)),
    1, 0, 1, 0, 0x6b, 1, 0, 1, 0, 0x76,
    6, 0, 0, 0, 5, 1, 0, 0, 0, 0x61,
    9, 0, 0, 0, 3, 1, 0, 0, 0, 0, 0, 0, 0,
  ];
  assert.deepEqual([...bytes], expected);
});

test("UTF-8 is encoded and decoded as Rust does, and invalid UTF-8 is refused", () => {
  for (const text of ["", "abc", "Zürich", "東京", "𝄞 music", "x".repeat(5000)]) {
    assert.deepEqual(Buffer.from(utf8Encode(text)), Buffer.from(text, "utf8"));
    assert.equal(utf8Decode(Buffer.from(text, "utf8")), text);
  }
  for (const bad of [[0xff], [0xc3], [0xe6, 0x9d], [0xed, 0xa0, 0x80], [0xc0, 0x80]]) {
    assert.throws(() => utf8Decode(new Uint8Array(bad)), MalformedBatch);
  }
});

test("a key field repeated among the values is read once", () => {
  assert.deepEqual(rowsOf(batch(["s"], ["s", "t"], [[["a"], ["a", 1.5]]])), [[hex(["a"]), { s: "a", t: 1.5 }]]);
  assert.deepEqual(rowsOf(batch(["s"], ["t"], [[["a"], [1.5]]])), [[hex(["a"]), { s: "a", t: 1.5 }]]);
});

test("values that do not fit are refused and leave nothing behind", () => {
  const writer = new BatchWriter([], ["v"]);
  for (const bad of [[2n ** 64n], [[1]], [{}], [2 ** 60]]) {
    assert.throws(() => writer.push(new Uint8Array(0), bad, [true]));
  }
  assert.equal(writer.rows, 0);
  assert.deepEqual([...new Batch(writer.finish()).rows()], []);
});

test("malformed batches are refused", () => {
  const good = batch([], ["v"], [[[], ["text"]]]);
  for (const bad of [new Uint8Array(0), Uint8Array.from([0x46, 0x4c, 0x42, 0x32, ...good.slice(4)]), good.slice(0, -2), good.slice(0, 6)]) {
    assert.throws(() => [...new Batch(bad).rows()], MalformedBatch);
  }
});

test("unknown config keys are refused with the likely misspelling", () => {
  const config = new Config([["feild", "x"]]);
  config.get("field");
  assert.throws(() => config.rejectUnasked(), { message: "unknown config key `feild` (known keys: field); did you mean `field`?" });
  assert.throws(() => new Config([["limt", "3"]]).require("limit"), /is `limt` a misspelling of it\?/);
  assert.throws(() => new Config([["limit", "ten"]]).parse("limit", Number), InvalidConfig);
});

test("rows map, filter and flat-map keeping their key and their i64 fields", () => {
  const spread = (row) => (row.t ? Array.from({ length: row.t }, (_, n) => ({ ...row, n })) : null);
  const bytes = batch(["s"], ["s", "t"], [[["a"], ["a", 2]], [["b"], ["b", 0]], [["c"], ["c", 1]]], [false, true]);
  const out = run("map", RowMapRunner, spread).map(bytes);
  const rows = [...new Batch(out).rows()];
  assert.deepEqual(rows.map(([key]) => Buffer.from(key).toString("hex")), [hex(["a"]), hex(["a"]), hex(["c"])]);
  assert.deepEqual(rows.map(([, values]) => values), [["a", 2, 0], ["a", 2, 1], ["c", 1, 0]]);
  assert.deepEqual(rows[0][2], [1], "t stays an i64; the new n is a float");
});

test("an exception on a row is a bad record naming it", () => {
  const parse = (row) => {
    if (row.t === "warm") throw new TypeError("not a number");
    return row;
  };
  const bytes = batch([], ["t"], [[[], ["1"]], [[], ["warm"]]]);
  assert.throws(() => run("map", RowMapRunner, parse).map(bytes), (error) => {
    assert.ok(error instanceof BadRecord);
    assert.equal(error.index, 1);
    assert.equal(error.message, "TypeError: not a number");
    return true;
  });
});

test("a class takes its config, and declared input fields are checked", () => {
  class Scale {
    constructor(config) {
      this.by = config.parse("by", Number, 1);
    }

    map(row) {
      return { t: row.t * this.by };
    }
  }
  const bytes = batch([], ["t"], [[[], [2.5]]]);
  assert.deepEqual(rowsOf(run("map", RowMapRunner, Scale, [["by", "3"]]).map(bytes))[0][1], { t: 7.5 });
  assert.throws(() => run("map", RowMapRunner, Scale, [["bye", "3"]]), InvalidConfig);
  const spec = new Registered("map", RowMapRunner, Scale, { input: { t: "float" }, output: { t: "float" } });
  assert.deepEqual(spec.outputType({ key: [], values: [["t", "integer"]] }), { key: [], values: [["t", "float"]] });
  assert.throws(() => spec.outputType({ key: [], values: [["u", "float"]] }), MissingField);
  assert.throws(() => spec.outputType({ key: [], values: [["t", "text"]] }), WrongType);
  assert.throws(() => new Registered("map", RowMapRunner, Scale, { input: { t: "double" } }), /not one of text/);
});

test("a batch map gets and returns bytes", () => {
  const bytes = batch([], ["t"], [[[], [1]]]);
  assert.deepEqual(run("map", BatchMapRunner, (b) => b).map(bytes), bytes);
});

test("a reduce combines per key on both sides of the shuffle", () => {
  const warmest = (a, b) => (b.t > a.t ? b : a);
  const left = run("aggregate", ReduceRunner, warmest);
  left.update(batch(["s"], ["s", "t"], [[["a"], ["a", 1]], [["b"], ["b", 5]], [["a"], ["a", 3]]]));
  assert.ok(left.stateBytes() > 0);
  const right = run("aggregate", ReduceRunner, warmest);
  right.update(batch(["s"], ["s", "t"], [[["a"], ["a", 2]]]));
  const reduce = run("aggregate", ReduceRunner, warmest);
  reduce.merge(left.partials());
  reduce.merge(right.partials());
  assert.equal(left.stateBytes(), 0);
  assert.deepEqual(rowsOf(reduce.finish()), [[hex(["a"]), { s: "a", t: 3 }], [hex(["b"]), { s: "b", t: 5 }]]);
});

test("an aggregate class ships its state as a row", () => {
  class Mean {
    initial() {
      return { sum: 0, count: 0 };
    }

    update(state, row) {
      state.sum += row.t;
      state.count += 1;
    }

    merge(state, other) {
      return { sum: state.sum + other.sum, count: state.count + other.count };
    }

    finish(state) {
      return { mean: state.sum / state.count };
    }
  }
  const [first, second, final] = [0, 1, 2].map(() => run("aggregate", AggregateRunner, Mean));
  first.update(batch(["s"], ["s", "t"], [[["a"], ["a", 1]], [["a"], ["a", 2]]]));
  second.update(batch(["s"], ["s", "t"], [[["a"], ["a", 6]]]));
  final.merge(first.partials());
  final.merge(second.partials());
  assert.deepEqual(rowsOf(final.finish()), [[hex(["a"]), { s: "a", mean: 3 }]]);
  class Partial {
    initial() {}
  }
  assert.throws(() => new Registered("aggregate", AggregateRunner, Partial), /has no method update, merge, finish/);
});

test("lines become rows, and a bad line is named with its offset", () => {
  const line = (text) => {
    const [station, t] = text.split(";");
    if (Number.isNaN(Number(t))) throw new RangeError(`${t} is not a number`);
    return { station, t: Number(t) };
  };
  const parser = run("parse", LineParseRunner, line);
  const parsed = parser.parse(utf8Encode("a;1.5\r\n\nb;2\n"));
  assert.deepEqual([parsed.skipped, parsed.records], [0, 2]);
  assert.deepEqual(rowsOf(parsed.rows).map(([, row]) => row), [{ station: "a", t: 1.5 }, { station: "b", t: 2 }]);
  assert.throws(() => parser.parse(utf8Encode("a;1\nb;x\n")), (error) => error.index === 1 && error.offset === 4);
  assert.throws(() => parser.parse(Uint8Array.from([0x61, 0x3b, 0x31, 10, 0xff, 10])), /not UTF-8/);
});

test("a format writes a header once, then a line per row", () => {
  class Pairs {
    header(fields) {
      return fields.join("|");
    }

    format(row) {
      return Object.values(row).join("|");
    }
  }
  const formatter = run("format", RowFormatRunner, Pairs);
  const bytes = batch(["s"], ["t"], [[["a"], [1]]]);
  assert.equal(Buffer.from(formatter.format(bytes)).toString(), "s|t\na|1\n");
  assert.equal(Buffer.from(formatter.format(bytes)).toString(), "a|1\n");
});

test("operator errors keep their kind", () => {
  const refuse = () => {
    throw new Failed("the service is gone");
  };
  assert.throws(() => run("map", RowMapRunner, refuse).map(batch([], ["t"], [[[], [1]]])), Failed);
});
