// The operator kinds: `mapRows(f)` and friends register the component's one operator, a function
// or a class whose constructor takes the step's `Config` (a class is told by the method it has on
// its prototype). A row function throwing anything fails the call with a bad record naming the row.

import { Batch, decodeValues, utf8Decode, utf8Encode } from "./batch.js";
import { Config } from "./config.js";
import { BadRecord, Failed, InvalidConfig, OperatorError, describe } from "./errors.js";
import { RowWriter, checkFields, declared, integerNames, isRow, reader, visible } from "./rows.js";

let registeredOperator;

/** Whether `error` is the engine running out of memory: never turned into the operator's error,
 * so that the call fails as the memory limit it is. */
export function isOutOfMemory(error) {
  return error instanceof Error && error.name === "InternalError" && /out of memory/.test(error.message);
}

/** The operator the component's module registered. */
export function registered() {
  if (registeredOperator === undefined) {
    throw new Error(
      "no operator is registered: call one of mapRows, mapBatch, reduceRows, aggregateRows, parseLines or formatRows in app.js",
    );
  }
  return registeredOperator;
}

/** The component's operator: its kind, its runner, the user's function or class and its
 * declared fields. */
export class Registered {
  constructor(kind, Runner, target, options = {}) {
    const methods = Runner.methods;
    this.isClass = typeof target === "function" && target.prototype !== undefined && typeof target.prototype[methods[0]] === "function";
    if (typeof target !== "function") throw new TypeError(`a ${kind} operator is a function or a class, not ${typeof target}`);
    if (methods.length > 1 || this.isClass) {
      const missing = methods.filter((name) => typeof target.prototype?.[name] !== "function");
      if (missing.length) throw new TypeError(`${target.name || "the class"} has no method ${missing.join(", ")}`);
    }
    this.kind = kind;
    this.Runner = Runner;
    this.target = target;
    this.input = declared(options.input, "input");
    this.output = declared(options.output, "output");
  }

  /** The runner for a step with config `pairs`. */
  build(pairs) {
    return new this.Runner(this, instantiate(this, new Config(pairs)));
  }

  /** The row type the operator outputs for `input` (undefined: cannot say before the rows). */
  outputType(input) {
    if (input !== undefined && this.input) checkFields(this.input, input);
    return this.Runner.outputType(this, input);
  }

  /** The names of the output fields declared `integer`. */
  integerOutputs() {
    return new Set((this.output ?? []).filter(([, type]) => type === "integer").map(([name]) => name));
  }
}

/** The object whose methods run the operator: `new target(config)` for a class, an object
 * holding the function otherwise; then rejects config keys the operator never asked about. */
function instantiate(spec, config) {
  if (!spec.isClass) {
    config.rejectUnasked();
    return { [spec.Runner.methods[0]]: spec.target };
  }
  let built;
  try {
    built = new spec.target(config);
  } catch (error) {
    if (error instanceof OperatorError || isOutOfMemory(error)) throw error;
    throw new InvalidConfig(describe(error));
  }
  if (!spec.target.allowUnknownKeys) config.rejectUnasked();
  return built;
}

function register(kind, Runner) {
  const define = (target, options) => {
    if (registeredOperator !== undefined) {
      throw new Error(`a component holds one operator: ${registeredOperator.target.name || "one"} is registered already`);
    }
    registeredOperator = new Registered(kind, Runner, target, options);
    return target;
  };
  return define;
}

/** The error a row function's exception fails its call with. */
function rowError(error, index, offset) {
  if (error instanceof BadRecord) {
    error.index ??= index;
    error.offset ??= offset;
    return error;
  }
  if (error instanceof OperatorError || isOutOfMemory(error)) return error;
  return new BadRecord(describe(error), { index, offset });
}

/** Pushes a row function's result: null/undefined (no row), one row, or an iterable of rows. */
function pushAll(out, key, result) {
  if (result === null || result === undefined) return;
  if (Array.isArray(result)) {
    for (let i = 0; i < result.length; i++) out.push(key, result[i]);
  } else if (isRow(result)) {
    out.push(key, result);
  } else {
    for (const row of result) out.push(key, row);
  }
}

/** The integer fields of the first of `rows` (as `Batch.rows` reads them, values of `names`)
 * plus the declared ones. */
function integers(spec, rows, names) {
  const found = spec.integerOutputs();
  if (rows.length) for (const name of integerNames(names, rows[0][2])) found.add(name);
  return found;
}

class RowMapRunner {
  static methods = ["map"];

  constructor(spec, built) {
    this.spec = spec;
    this.built = built;
  }

  map(bytes) {
    const batch = new Batch(bytes);
    const names = batch.fieldNames();
    const make = reader(names);
    const rows = batch.rows();
    const out = new RowWriter(batch.keyFields, integers(this.spec, rows, names));
    const map = this.built.map.bind(this.built);
    for (let index = 0; index < rows.length; index++) {
      const key = rows[index][0];
      try {
        pushAll(out, key, map(make(rows[index][1])));
      } catch (error) {
        throw rowError(error, index);
      }
    }
    return out.finish();
  }

  static outputType(spec, input) {
    return spec.output && input ? { key: input.key, values: spec.output } : undefined;
  }
}

class BatchMapRunner {
  static methods = ["map"];

  constructor(spec, built) {
    this.built = built;
  }

  map(bytes) {
    try {
      return this.built.map(bytes);
    } catch (error) {
      if (error instanceof OperatorError || isOutOfMemory(error)) throw error;
      throw new Failed(describe(error));
    }
  }

  static outputType = RowMapRunner.outputType;
}

/** What one key's state is counted as besides its key, for `stateBytes`. */
const STATE_COST = 96, FIELD_COST = 32;

/** The per-key state of an aggregate, by encoded key. */
class Keyed {
  constructor() {
    this.table = new Map();
    this.keys = new Map();
    this.keyFields = [];
    this.integers = new Set();
    this.bytes = 0;
  }

  observe(batch) {
    if (batch.keyFields.length && !this.keyFields.length) this.keyFields = batch.keyFields;
  }

  /** The table's id of an encoded key (a Map cannot key by bytes): one character per byte. */
  static id(key) {
    let id = "";
    for (let at = 0; at < key.length; at += 1024) {
      id += String.fromCharCode.apply(null, key.subarray(at, at + 1024));
    }
    return id;
  }

  set(key, id, state, fields) {
    if (!this.table.has(id)) {
      this.keys.set(id, key.slice());
      this.bytes += key.length + STATE_COST + FIELD_COST * fields;
    }
    this.table.set(id, state);
  }

  drain(rows) {
    const out = new RowWriter(this.keyFields, this.integers);
    try {
      this.table.forEach((state, id) => pushAll(out, this.keys.get(id), rows(state)));
    } finally {
      this.table = new Map();
      this.keys = new Map();
      this.bytes = 0;
    }
    return out.finish();
  }
}

class ReduceRunner {
  static methods = ["reduce"];

  constructor(spec, built) {
    this.spec = spec;
    this.built = built;
    this.keyed = new Keyed();
  }

  fold(bytes) {
    const batch = new Batch(bytes);
    const keyed = this.keyed;
    keyed.observe(batch);
    const names = batch.fieldNames();
    const rows = batch.rows();
    for (const name of integers(this.spec, rows, names)) keyed.integers.add(name);
    const make = reader(names);
    for (let index = 0; index < rows.length; index++) {
      const key = rows[index][0];
      const row = make(rows[index][1]);
      const id = Keyed.id(key);
      const soFar = keyed.table.get(id);
      if (soFar === undefined) {
        keyed.set(key, id, row, names.length);
      } else {
        let reduced;
        try {
          reduced = this.built.reduce(soFar, row);
        } catch (error) {
          throw rowError(error, index);
        }
        if (!isRow(reduced)) throw new Failed(`the reduce returned ${reduced} for record ${index}, not a row`);
        keyed.table.set(id, reduced);
      }
    }
  }

  update(bytes) {
    this.fold(bytes);
  }

  merge(bytes) {
    this.fold(bytes);
  }

  partials() {
    return this.keyed.drain((row) => row);
  }

  finish() {
    return this.partials();
  }

  stateBytes() {
    return this.keyed.bytes;
  }

  static outputType(spec, input) {
    return input ? { key: input.key, values: spec.output ?? visible(input) } : undefined;
  }
}

class AggregateRunner {
  static methods = ["initial", "update", "merge", "finish"];

  constructor(spec, built) {
    this.spec = spec;
    this.built = built;
    this.keyed = new Keyed();
    this.keyed.integers = spec.integerOutputs();
  }

  update(bytes) {
    const batch = new Batch(bytes);
    const keyed = this.keyed;
    keyed.observe(batch);
    const make = reader(batch.fieldNames());
    const rows = batch.rows();
    for (let index = 0; index < rows.length; index++) {
      const key = rows[index][0];
      const id = Keyed.id(key);
      try {
        let state = keyed.table.get(id);
        const fresh = state === undefined;
        if (fresh) state = this.built.initial();
        const updated = this.built.update(state, make(rows[index][1]));
        keyed.set(key, id, updated ?? state, fresh ? Object.keys(state).length : 0);
      } catch (error) {
        throw rowError(error, index);
      }
    }
  }

  merge(bytes) {
    const batch = new Batch(bytes);
    const keyed = this.keyed;
    keyed.observe(batch);
    const make = reader(batch.valueFields);
    const raw = batch.rawRows();
    for (let index = 0; index < raw.length; index++) {
      const key = raw[index][0];
      const other = make(decodeValues(batch.bytes, batch.view, raw[index][1], raw[index][2], []));
      const id = Keyed.id(key);
      const state = keyed.table.get(id);
      if (state === undefined) {
        keyed.set(key, id, other, batch.valueFields.length);
      } else {
        let merged;
        try {
          merged = this.built.merge(state, other);
        } catch (error) {
          if (error instanceof OperatorError || isOutOfMemory(error)) throw error;
          throw new Failed(`merging the partial state of record ${index}: ${describe(error)}`);
        }
        keyed.table.set(id, merged ?? state);
      }
    }
  }

  partials() {
    return this.keyed.drain((state) => state);
  }

  finish() {
    return this.keyed.drain((state) => this.built.finish(state));
  }

  stateBytes() {
    return this.keyed.bytes;
  }

  static outputType(spec, input) {
    return spec.output && input ? { key: input.key, values: spec.output } : undefined;
  }
}

class LineParseRunner {
  static methods = ["parse"];

  constructor(spec, built) {
    this.spec = spec;
    this.built = built;
  }

  /** The rows of `chunk` as a framed batch, the records skipped (0) and the rows read. */
  parse(chunk) {
    const out = new RowWriter([], this.spec.integerOutputs());
    const empty = new Uint8Array(0);
    let index = 0;
    let start = 0;
    while (start < chunk.length) {
      let end = chunk.indexOf(10, start);
      if (end < 0) end = chunk.length;
      const stop = end > start && chunk[end - 1] === 13 ? end - 1 : end;
      if (stop > start) {
        let line;
        try {
          line = utf8Decode(chunk, start, stop);
        } catch (error) {
          throw new BadRecord(`the line is not UTF-8: ${error.message}`, { index, offset: start });
        }
        try {
          pushAll(out, empty, this.built.parse(line));
        } catch (error) {
          throw rowError(error, index, start);
        }
      }
      index++;
      start = end + 1;
    }
    return { rows: out.finish(), skipped: 0, records: out.rows };
  }

  static outputType(spec) {
    return spec.output ? { key: [], values: spec.output } : undefined;
  }
}

class RowFormatRunner {
  static methods = ["format"];

  constructor(spec, built) {
    this.built = built;
    this.started = false;
  }

  format(bytes) {
    const batch = new Batch(bytes);
    const names = batch.fieldNames();
    const make = reader(names);
    const lines = [];
    if (!this.started) {
      this.started = true;
      const header = typeof this.built.header === "function" ? this.built.header(names) : undefined;
      if (header !== undefined && header !== null) lines.push(header);
    }
    const rows = batch.rows();
    for (let index = 0; index < rows.length; index++) {
      let line;
      try {
        line = this.built.format(make(rows[index][1]));
      } catch (error) {
        throw rowError(error, index);
      }
      if (line !== undefined && line !== null) lines.push(String(line));
    }
    return lines.length ? utf8Encode(lines.join("\n") + "\n") : new Uint8Array(0);
  }

  static outputType() {
    return undefined;
  }
}

/** A map over rows: `f(row)` returns null (drop it), one row, or an iterable of rows; a class's
 * `map(row)` does. Options: `input`, `output` (`{ name: type }`). */
export const mapRows = register("map", RowMapRunner);
/** A map over whole framed batches, `f(bytes) -> bytes`: read them with `Batch`, write them with
 * `BatchWriter`. */
export const mapBatch = register("map", BatchMapRunner);
/** A reduce by key: `f(a, b)` combines two rows of one key into one (associative); a class's
 * `reduce(a, b)` does. */
export const reduceRows = register("aggregate", ReduceRunner);
/** A keyed aggregate class: `initial()` a new state (an object of plain values), `update(state,
 * row)` and `merge(state, other)` (each returning the new state, or nothing when they changed it
 * in place), `finish(state)` the output row. */
export const aggregateRows = register("aggregate", AggregateRunner);
/** A parser of lines: `f(line)` returns null (skip), one row or an iterable of rows; a class's
 * `parse(line)` does. */
export const parseLines = register("parse", LineParseRunner);
/** A format: `f(row)` returns one line of text (no newline) or null; a class's `format(row)`, and
 * `header(fields)` for a first line. */
export const formatRows = register("format", RowFormatRunner);

export { RowMapRunner, BatchMapRunner, ReduceRunner, AggregateRunner, LineParseRunner, RowFormatRunner };
