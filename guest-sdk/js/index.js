// Write flicker operators in JavaScript.
//
// A flicker operator is a WebAssembly component exporting one operator kind of the WIT package
// `flicker:operator` (`wit/operator.wit`). This module hides the interface and the batch framing:
// register one function or class in your `app.js` and build it with `flicker build` (which runs
// componentize-qjs with no WASI imports).
//
//     import { mapRows } from "flicker-guest";
//
//     mapRows((row) => ({ ...row, temperature: (row.temperature * 9) / 5 + 32 }), {
//       input: { temperature: "float" },
//       output: { station: "text", temperature: "float" },
//     });
//
// Kinds: `mapRows` (or `mapBatch` over whole framed batches), `reduceRows`, `aggregateRows`,
// `parseLines`, `formatRows`. Rows are plain objects; `input` and `output` declare fields so the
// host checks a job's steps before it runs. A class operator takes the step's `Config` in its
// constructor; keys it never asks about are rejected. Throw `InvalidConfig`, `BadRecord` or
// `Failed`; anything else thrown by a row function is a bad record naming the row.

export { Batch, BatchWriter, MalformedBatch, decodeValues, encodeKey, utf8Decode, utf8Encode } from "./batch.js";
export { Config } from "./config.js";
export { BadRecord, Failed, InvalidConfig, MissingField, OperatorError, TypeMismatch, WrongType } from "./errors.js";
export { aggregateRows, formatRows, mapBatch, mapRows, parseLines, reduceRows } from "./operators.js";
