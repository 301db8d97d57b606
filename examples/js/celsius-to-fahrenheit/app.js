// A map operator: converts `temperature` from Celsius to Fahrenheit.
import { mapRows } from "flicker-guest";

mapRows((r) => ({ station: r.station, temperature: (r.temperature * 9) / 5 + 32 }), {
  input: { station: "text", temperature: "float" },
  output: { station: "text", temperature: "float" },
});
