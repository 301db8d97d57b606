"""A Python map that misbehaves on purpose, chosen by its config key `behave` (tests/all/python.rs):
`raise` on the row whose `n` is `at`, `loop`, `alloc` without end (`alloc-caught`: and return the
MemoryError as its own error), `read-file`, `env` (outputs
the environment it sees), `print` then raise."""

import os

import flicker_guest as flicker


class Hostile:
    def __init__(self, config):
        self.behave = config.require("behave")
        self.at = config.parse("at", int, 0)
        self.held = []

    def map(self, row):
        if self.behave == "raise" and row["n"] == self.at:
            raise ValueError(f"no row {self.at}, please")
        if self.behave == "loop":
            while True:
                pass
        if self.behave == "alloc":
            while True:
                self.held.append(bytearray(1 << 20))
        if self.behave == "alloc-caught":
            try:
                while True:
                    self.held.append(bytearray(1 << 20))
            except MemoryError:
                self.held.clear()
                raise flicker.Failed("out of memory, it says") from None
        if self.behave == "read-file":
            with open("/etc/passwd") as file:
                return {"n": row["n"], "text": file.read()}
        if self.behave == "env":
            return {"n": row["n"], "text": repr(sorted(os.environ.items()))}
        if self.behave == "print":
            print(f"looking at row {row['n']}")
            raise RuntimeError("gave up")
        return row


flicker.map_rows(Hostile)
