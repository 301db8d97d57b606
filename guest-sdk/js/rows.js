// Rows as JavaScript objects, and the field types a step declares for the checks before a job
// runs (`input` and `output` options: `{ station: "text", temperature: "float" }`).

import { BatchWriter } from "./batch.js";
import { MissingField, WrongType } from "./errors.js";

/** The field types of `wit/operator.wit` (`field-type`). */
export const FIELD_TYPES = ["text", "integer", "float", "boolean", "any"];
const WORDS = { text: "text", integer: "i64", float: "f64", boolean: "bool", any: "any value" };

/** The `[name, type]` list of a `{ name: type }` declaration; refuses unknown types. */
export function declared(fields, what) {
  if (fields === undefined) return undefined;
  return Object.entries(fields).map(([name, type]) => {
    if (!FIELD_TYPES.includes(type)) {
      throw new TypeError(`${what} field \`${name}\` has type ${JSON.stringify(type)}, not one of ${FIELD_TYPES.join(", ")}`);
    }
    return [name, type];
  });
}

/** The fields of a row as an operator reads it: key fields not repeated among the values, then
 * the values (each `[name, type]`). */
export function visible(rowType) {
  const names = new Set(rowType.values.map(([name]) => name));
  return [...rowType.key.filter(([name]) => !names.has(name)), ...rowType.values];
}

/** Throws `MissingField` or `WrongType` when rows of `rowType` lack a field of `wanted` or hold it
 * with a type that does not fit. */
export function checkFields(wanted, rowType) {
  const have = new Map(visible(rowType));
  for (const [name, wants] of wanted) {
    if (!have.has(name)) throw new MissingField(name);
    const found = have.get(name);
    const fits = wants === "any" || found === "any" || found === wants || (wants === "float" && found === "integer");
    if (!fits) throw new WrongType(name, WORDS[wants], found);
  }
}

/** Whether `value` is one row (a plain object), not an iterable of rows. */
export function isRow(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value) && typeof value[Symbol.iterator] !== "function";
}

/** A function turning the values of fields `names` into a row object. */
export function reader(names) {
  return (values) => {
    const row = {};
    for (let i = 0; i < names.length; i++) row[names[i]] = values[i];
    return row;
  };
}

/** The names among `names` whose values at `integers` (indexes) were i64s. */
export function integerNames(names, integers) {
  return new Set(integers.map((i) => names[i]));
}

/** Writes rows (plain objects) of one set of fields, each with its key. A number is written as
 * an i64 when integral in a field of `integers` (the input's i64 fields, or declared `integer`). */
export class RowWriter {
  constructor(keyFields, integers = new Set()) {
    this.keyFields = keyFields;
    this.integers = integers;
    this.writer = undefined;
  }

  push(key, row) {
    if (this.writer === undefined) {
      this.names = Object.keys(row);
      this.integer = this.names.map((name) => this.integers.has(name));
      this.writer = new BatchWriter(this.keyFields, this.names);
    }
    const names = this.names;
    if (Object.keys(row).length !== names.length) this.mismatch(row);
    const values = new Array(names.length);
    for (let i = 0; i < names.length; i++) {
      const value = row[names[i]];
      if (value === undefined && !(names[i] in row)) this.mismatch(row);
      values[i] = value;
    }
    this.writer.push(key, values, this.integer);
  }

  mismatch(row) {
    throw new TypeError(`a row has the fields ${Object.keys(row).join(", ")}, the rows before it ${this.names.join(", ")}`);
  }

  /** How many rows were pushed. */
  get rows() {
    return this.writer === undefined ? 0 : this.writer.rows;
  }

  /** The framed batch (with no value fields when no row was pushed). */
  finish() {
    return (this.writer ?? new BatchWriter(this.keyFields, [])).finish();
  }
}
