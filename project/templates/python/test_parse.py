"""Tests of the operator, run natively: `python3 -m unittest`."""

import unittest

from app import Reading, reading


class ReadingTest(unittest.TestCase):
    def test_reads_a_line(self):
        self.assertEqual(reading("Oslo;-4.5"), Reading("Oslo", -4.5))
        with self.assertRaises(ValueError):
            reading("Oslo")


if __name__ == "__main__":
    unittest.main()
