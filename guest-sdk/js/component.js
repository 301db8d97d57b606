// The bridge between the registered operator and the component's WIT exports (what
// componentize-qjs calls): each interface an object, each resource a class, each error thrown
// as the WIT variant `{ tag, val }`.

import { BadRecord, Failed, InvalidConfig, MissingField, OperatorError, WrongType, describe } from "./errors.js";
import { isOutOfMemory, registered } from "./operators.js";

/** What `console.log` and friends wrote during a call (a component has no WASI, so no stdout):
 * the last 2,000 characters, added to the call's error if it fails. */
let printed = "";
const print = (...args) => {
  printed = (printed + args.map((arg) => (typeof arg === "string" ? arg : JSON.stringify(arg) ?? String(arg))).join(" ") + "\n").slice(-2000);
};
globalThis.console = { log: print, info: print, warn: print, error: print, debug: print };

/** The WIT error for `error`. */
function witError(error, failure) {
  let message = error instanceof OperatorError ? error.message : describe(error);
  if (printed) message += `\n[it printed:]\n${printed.trimEnd()}`;
  printed = "";
  if (error instanceof InvalidConfig || (!(error instanceof OperatorError) && failure === "invalid-config")) {
    return { tag: "invalid-config", val: message };
  }
  if (error instanceof BadRecord) {
    const index = Math.min(Math.max(error.index ?? 0, 0), 0xffffffff);
    return { tag: "bad-record", val: { index, offset: error.offset ?? undefined, message } };
  }
  return { tag: "failed", val: message };
}

/** `call()`, its errors thrown as the WIT error; an unexpected exception is `failure`. Running
 * out of memory is thrown as it is: the call traps, and the host names the memory limit. */
function guard(call, failure = "failed") {
  try {
    const result = call();
    printed = "";
    return result;
  } catch (error) {
    if (isOutOfMemory(error)) throw error;
    throw witError(error, failure);
  }
}

function rowType(witType) {
  return {
    key: witType.key.map((field) => [field.name, field.type]),
    values: witType.values.map((field) => [field.name, field.type]),
  };
}

function witRowType(type) {
  if (type === undefined) return null;
  const fields = (list) => list.map(([name, kind]) => ({ name, type: kind }));
  return { key: fields(type.key), values: fields(type.values) };
}

function mismatch(error) {
  if (error instanceof MissingField) return { tag: "missing-field", val: error.field };
  if (error instanceof WrongType) {
    return { tag: "wrong-type", val: { field: error.field, expected: error.expected, found: error.found } };
  }
  return { tag: "other", val: describe(error) };
}

function outputType(input) {
  try {
    return witRowType(registered().outputType(input === undefined ? undefined : rowType(input)));
  } catch (error) {
    if (isOutOfMemory(error)) throw error;
    throw mismatch(error);
  }
}

/** A resource class of kind `kind` whose `create` builds the registered operator. */
function resource(kind) {
  return class {
    constructor(op) {
      this.op = op;
    }

    static create(config) {
      const spec = guard(registered);
      if (spec.kind !== kind) throw witError(new Failed(`the component's operator is a ${spec.kind}, built as a ${kind}`));
      return new this(guard(() => spec.build(config), "invalid-config"));
    }
  };
}

class Mapper extends resource("map") {
  map(input) {
    return guard(() => this.op.map(input));
  }
}

class Aggregator extends resource("aggregate") {
  update(input) {
    guard(() => this.op.update(input));
  }

  partials() {
    return guard(() => this.op.partials());
  }

  merge(partials) {
    guard(() => this.op.merge(partials));
  }

  finish() {
    return guard(() => this.op.finish());
  }

  stateBytes() {
    return this.op.stateBytes();
  }
}

class Parser extends resource("parse") {
  parse(chunk) {
    return guard(() => this.op.parse(chunk));
  }
}

class Formatter extends resource("format") {
  format(input) {
    return guard(() => this.op.format(input));
  }
}

/** The `map` export. */
export const map = { Mapper };
/** The `map-schema` export. */
export const mapSchema = { outputType: (config, input) => outputType(input) };
/** The `aggregate` export. */
export const aggregate = { Aggregator };
/** The `aggregate-schema` export. */
export const aggregateSchema = mapSchema;
/** The `parse` export. */
export const parse = { Parser };
/** The `parse-schema` export. */
export const parseSchema = { outputType: () => outputType(undefined) };
/** The `format` export. */
export const format = { Formatter };
/** The `format-schema` export. */
export const formatSchema = { checkInput: (config, input) => void outputType(input) };
