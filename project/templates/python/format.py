"""{{name}}: a format operator writing each reading as a line `station: temperature`."""

from dataclasses import dataclass

import flicker_guest as flicker


@dataclass
class Reading:
    """A row; flicker checks before a job runs that the input rows have these fields."""

    station: str
    temperature: float


@flicker.format_rows
def line(r: Reading) -> str:
    """One row to one line of text (the newline is added)."""
    return f"{r.station}: {r.temperature}"
