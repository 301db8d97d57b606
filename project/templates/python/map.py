"""{{name}}: a map operator converting `temperature` from Celsius to Fahrenheit."""

from dataclasses import dataclass

import flicker_guest as flicker


@dataclass
class Reading:
    """A row (fields beyond these are left out); flicker checks before a job runs that the input
    rows have them."""

    station: str
    temperature: float


@flicker.map_rows
def to_fahrenheit(r: Reading) -> Reading:
    """One row out per row in: return None to drop a row, a list to make several."""
    return Reading(r.station, r.temperature * 9 / 5 + 32)
