// Tests of the operator, run by Node: `node --test`.
import assert from "node:assert/strict";
import { test } from "node:test";
import { reading } from "./app.js";

test("reads a line", () => {
  assert.deepEqual(reading("Oslo;-4.5"), { station: "Oslo", temperature: -4.5 });
  assert.throws(() => reading("Oslo"), SyntaxError);
});
