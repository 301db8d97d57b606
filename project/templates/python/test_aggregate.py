"""Tests of the operator, run natively: `python3 -m unittest`."""

import unittest

from app import Reading, warmest


class WarmestTest(unittest.TestCase):
    def test_keeps_the_warmest_reading(self):
        self.assertEqual(warmest(Reading("Oslo", 1.5), Reading("Oslo", -2.0)), Reading("Oslo", 1.5))
        self.assertEqual(warmest(Reading("Oslo", 1.5), Reading("Oslo", 7.0)), Reading("Oslo", 7.0))


if __name__ == "__main__":
    unittest.main()
