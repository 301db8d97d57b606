"""{{name}}: a parse operator reading `station;temperature` lines into rows."""

from dataclasses import dataclass

import flicker_guest as flicker


@dataclass
class Reading:
    """A row; as the return annotation, it tells flicker the fields the parser outputs."""

    station: str
    temperature: float


@flicker.parse_lines
def reading(line: str) -> Reading:
    """One line (without its newline) to a row; an exception fails the task, naming the line."""
    station, temperature = line.split(";")
    return Reading(station, float(temperature))
