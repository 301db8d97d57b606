"""Tests of the operator, run natively: `python3 -m unittest`."""

import unittest

from app import Reading, line


class LineTest(unittest.TestCase):
    def test_writes_a_line(self):
        self.assertEqual(line(Reading("Oslo", -4.5)), "Oslo: -4.5")


if __name__ == "__main__":
    unittest.main()
