// Tests of the operator, run by Node: `node --test`.
import assert from "node:assert/strict";
import { test } from "node:test";
import { line } from "./app.js";

test("writes a line", () => {
  assert.equal(line({ station: "Oslo", temperature: -4.5 }), "Oslo: -4.5");
});
