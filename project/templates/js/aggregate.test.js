// Tests of the operator, run by Node: `node --test`.
import assert from "node:assert/strict";
import { test } from "node:test";
import { warmest } from "./app.js";

test("keeps the warmest reading", () => {
  const reading = (temperature) => ({ station: "Oslo", temperature });
  assert.deepEqual(warmest(reading(1.5), reading(-2)), reading(1.5));
  assert.deepEqual(warmest(reading(1.5), reading(7)), reading(7));
});
