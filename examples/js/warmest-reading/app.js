// An aggregate operator: the warmest whole reading per key (a reduce by key).
import { reduceRows } from "flicker-guest";

reduceRows((a, b) => (b.temperature > a.temperature ? b : a), {
  input: { station: "text", temperature: "float" },
});
