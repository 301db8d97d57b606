// Tests of the operator, run by Node: `node --test`.
import assert from "node:assert/strict";
import { test } from "node:test";
import { toFahrenheit } from "./app.js";

test("converts to Fahrenheit", () => {
  assert.deepEqual(toFahrenheit({ station: "Oslo", temperature: -40 }), { station: "Oslo", temperature: -40 });
});
