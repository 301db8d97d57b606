// {{name}}: a map operator converting `temperature` from Celsius to Fahrenheit.
import { mapRows } from "flicker-guest";

/** One row out per row in: return null to drop a row, an array to make several. */
export function toFahrenheit(r) {
  return { station: r.station, temperature: (r.temperature * 9) / 5 + 32 };
}

// `input` and `output` name the fields, so flicker checks the job's steps before it runs.
mapRows(toFahrenheit, {
  input: { station: "text", temperature: "float" },
  output: { station: "text", temperature: "float" },
});
