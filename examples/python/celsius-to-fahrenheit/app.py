"""A map operator: converts `temperature` from Celsius to Fahrenheit."""

from dataclasses import dataclass

import flicker_guest as flicker


@dataclass
class Reading:
    station: str
    temperature: float


@flicker.map_rows
def to_fahrenheit(r: Reading) -> Reading:
    return Reading(r.station, r.temperature * 9 / 5 + 32)
