// {{name}}: a parse operator reading `station;temperature` lines into rows.
import { parseLines } from "flicker-guest";

/** One line (without its newline) to a row; a throw fails the task, naming the line. */
export function reading(line) {
  const [station, temperature] = line.split(";");
  if (temperature === undefined || Number.isNaN(Number(temperature))) {
    throw new SyntaxError(`expected \`station;temperature\`, got ${JSON.stringify(line)}`);
  }
  return { station, temperature: Number(temperature) };
}

// `output` names the fields, so flicker checks the steps after it before the job runs.
parseLines(reading, { output: { station: "text", temperature: "float" } });
