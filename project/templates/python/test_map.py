"""Tests of the operator, run natively: `python3 -m unittest`."""

import unittest

from app import Reading, to_fahrenheit


class ToFahrenheitTest(unittest.TestCase):
    def test_converts_to_fahrenheit(self):
        self.assertEqual(to_fahrenheit(Reading("Oslo", -40.0)), Reading("Oslo", -40.0))


if __name__ == "__main__":
    unittest.main()
