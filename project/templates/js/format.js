// {{name}}: a format operator writing each reading as a line `station: temperature`.
import { formatRows } from "flicker-guest";

/** One row to one line of text (the newline is added). */
export function line(r) {
  return `${r.station}: ${r.temperature}`;
}

formatRows(line, { input: { station: "text", temperature: "float" } });
