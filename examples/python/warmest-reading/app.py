"""An aggregate operator: the warmest whole reading per key (a reduce by key)."""

from dataclasses import dataclass

import flicker_guest as flicker


@dataclass
class Reading:
    station: str
    temperature: float


@flicker.reduce_rows
def warmest(a: Reading, b: Reading) -> Reading:
    return b if b.temperature > a.temperature else a
