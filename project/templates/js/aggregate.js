// {{name}}: an aggregate operator keeping the warmest reading per key (a reduce by key).
import { reduceRows } from "flicker-guest";

/** Combines two readings of one key; it runs on both sides of the shuffle, so it must be
 * associative. */
export function warmest(a, b) {
  return b.temperature > a.temperature ? b : a;
}

reduceRows(warmest, { input: { station: "text", temperature: "float" } });
