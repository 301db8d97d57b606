"""{{name}}: an aggregate operator keeping the warmest reading per key (a reduce by key)."""

from dataclasses import dataclass

import flicker_guest as flicker


@dataclass
class Reading:
    """A row; flicker checks before a job runs that the input rows have these fields."""

    station: str
    temperature: float


@flicker.reduce_rows
def warmest(a: Reading, b: Reading) -> Reading:
    """Combines two readings of one key; it runs on both sides of the shuffle, so it must be
    associative."""
    return b if b.temperature > a.temperature else a
