"""Unit tests of the Python SDK, run natively (`python3 -m unittest discover guest-sdk/python/tests`):
the framing, the config, and each operator kind's runner. The end-to-end tests in tests/all/python.rs
run the same code inside components."""

import dataclasses
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from flicker_guest import BadRecord, Batch, BatchWriter, Config, Failed, InvalidConfig, MalformedBatch  # noqa: E402
from flicker_guest import MissingField, WrongType, encode_key  # noqa: E402
from flicker_guest.operators import (  # noqa: E402
    AggregateRunner,
    BatchMapRunner,
    LineParseRunner,
    ReduceRunner,
    Registered,
    RowFormatRunner,
    RowMapRunner,
)
from flicker_guest.rows import RowType  # noqa: E402


@dataclasses.dataclass
class Reading:
    station: str
    temperature: float


def batch(key_fields, value_fields, rows):
    writer = BatchWriter(key_fields, value_fields)
    for key, values in rows:
        writer.push(encode_key(key), values)
    return writer.finish()


def rows_of(data):
    read = Batch(data)
    return [(key, dict(zip(read.field_names(), values))) for key, values in read.rows()]


def run(kind, runner, target, method, config=(), output=None):
    return Registered(kind, runner, target, method, output).build(list(config))


class FramingTest(unittest.TestCase):
    def test_values_round_trip_exactly(self):
        values = [None, True, False, 0, -(1 << 63), (1 << 63) - 1, 0.1, -0.0, float("inf"), "", "Zürich ☀"]
        data = batch([], [f"f{i}" for i in range(len(values))], [([], values)])
        [(key, row)] = Batch(data).rows()
        self.assertEqual(key, b"")
        self.assertEqual(row, values)

    def test_the_encoding_is_the_documented_one(self):
        data = batch(["k"], ["v"], [(["a"], [1])])
        expected = (
            b"FLB1" + b"\x01\x00\x01\x00k" + b"\x01\x00\x01\x00v"
            + b"\x06\x00\x00\x00" + b"\x05\x01\x00\x00\x00a"
            + b"\x09\x00\x00\x00" + b"\x03" + (1).to_bytes(8, "little")
        )
        self.assertEqual(data, expected)

    def test_a_key_field_repeated_among_the_values_is_read_once(self):
        data = batch(["station"], ["station", "t"], [(["a"], ["a", 1.5])])
        self.assertEqual(rows_of(data), [(encode_key(["a"]), {"station": "a", "t": 1.5})])
        data = batch(["station"], ["t"], [(["a"], [1.5])])
        self.assertEqual(rows_of(data), [(encode_key(["a"]), {"station": "a", "t": 1.5})])

    def test_values_that_do_not_fit_are_refused(self):
        writer = BatchWriter([], ["v"])
        for bad in ([1 << 63], [[1]], [b"bytes"]):
            with self.assertRaises((TypeError, ValueError)):
                writer.push(b"", bad)
        self.assertEqual(writer.rows, 0)
        self.assertEqual(list(Batch(writer.finish()).rows()), [], "a refused row leaves nothing behind")

    def test_malformed_batches_are_refused_naming_where(self):
        good = batch([], ["v"], [([], ["text"])])
        for bad in (b"", b"FLB2" + good[4:], good[:-2], good[:6], good[:-9] + b"\x09" + good[-8:]):
            with self.assertRaises(MalformedBatch):
                list(Batch(bad).rows())


class ConfigTest(unittest.TestCase):
    def test_unknown_keys_are_refused_with_the_likely_misspelling(self):
        config = Config([("feild", "x")])
        config.get("field")
        with self.assertRaises(InvalidConfig) as caught:
            config.reject_unasked()
        self.assertEqual(
            str(caught.exception), "unknown config key `feild` (known keys: field); did you mean `field`?"
        )

    def test_a_missing_key_names_its_likely_misspelling(self):
        with self.assertRaises(InvalidConfig) as caught:
            Config([("limt", "3")]).require("limit")
        self.assertIn("is `limt` a misspelling of it?", str(caught.exception))

    def test_parse_names_the_key_and_value(self):
        with self.assertRaises(InvalidConfig) as caught:
            Config([("limit", "ten")]).parse("limit", int, 10)
        self.assertIn("config key `limit` = 'ten' is invalid", str(caught.exception))


class MapTest(unittest.TestCase):
    def test_rows_map_filter_and_flat_map_keeping_their_key(self):
        def spread(row):
            return [dict(row, n=i) for i in range(row["t"])] if row["t"] else None

        data = batch(["s"], ["s", "t"], [(["a"], ["a", 2]), (["b"], ["b", 0]), (["c"], ["c", 1])])
        out = rows_of(run("map", RowMapRunner, spread, "map").map(data))
        self.assertEqual([key for key, _ in out], [encode_key(["a"])] * 2 + [encode_key(["c"])])
        self.assertEqual([row["n"] for _, row in out], [0, 1, 0])

    def test_an_exception_on_a_row_is_a_bad_record_naming_it(self):
        def parse_t(row):
            return {"t": float(row["t"])}

        data = batch([], ["t"], [([], ["1"]), ([], ["warm"])])
        with self.assertRaises(BadRecord) as caught:
            run("map", RowMapRunner, parse_t, "map").map(data)
        self.assertEqual(caught.exception.index, 1)
        self.assertIn("ValueError: could not convert string to float: 'warm' (at test_sdk.py:", caught.exception.message)

    def test_a_class_takes_its_config_and_unknown_keys_are_refused(self):
        class Scale:
            def __init__(self, config):
                self.by = config.parse("by", float, 1.0)

            def map(self, row):
                return {"t": row["t"] * self.by}

        data = batch([], ["t"], [([], [2.0])])
        self.assertEqual(rows_of(run("map", RowMapRunner, Scale, "map", [("by", "3")]).map(data))[0][1], {"t": 6.0})
        with self.assertRaises(InvalidConfig):
            run("map", RowMapRunner, Scale, "map", [("bye", "3")])

    def test_dataclass_rows_are_checked_before_the_job_and_built_per_row(self):
        def warmer(r: Reading) -> Reading:
            return Reading(r.station, r.temperature + 1)

        spec = Registered("map", RowMapRunner, warmer, "map", None)
        fits = RowType([], [("station", "text"), ("temperature", "integer")])
        self.assertEqual(spec.output_type(fits), RowType([], [("station", "text"), ("temperature", "float")]))
        with self.assertRaises(MissingField):
            spec.output_type(RowType([], [("station", "text")]))
        with self.assertRaises(WrongType):
            spec.output_type(RowType([], [("station", "integer"), ("temperature", "float")]))
        data = batch([], ["station", "temperature", "extra"], [([], ["a", 1.5, True])])
        self.assertEqual(rows_of(spec.build([]).map(data))[0][1], {"station": "a", "temperature": 2.5})

    def test_a_batch_map_gets_and_returns_bytes(self):
        data = batch([], ["t"], [([], [1])])
        self.assertEqual(run("map", BatchMapRunner, lambda b: b, "map").map(data), data)


class AggregateTest(unittest.TestCase):
    def test_a_reduce_combines_per_key_on_both_sides_of_the_shuffle(self):
        def warmest(a, b):
            return b if b["t"] > a["t"] else a

        rows = [(["a"], ["a", 1.0]), (["b"], ["b", 5.0]), (["a"], ["a", 3.0])]
        left = run("aggregate", ReduceRunner, warmest, "reduce")
        left.update(batch(["s"], ["s", "t"], rows))
        self.assertGreater(left.state_bytes(), 0)
        right = run("aggregate", ReduceRunner, warmest, "reduce")
        right.update(batch(["s"], ["s", "t"], [(["a"], ["a", 2.0])]))
        reduce = run("aggregate", ReduceRunner, warmest, "reduce")
        reduce.merge(left.partials())
        reduce.merge(right.partials())
        self.assertEqual(left.state_bytes(), 0)
        out = {key: row for key, row in rows_of(reduce.finish())}
        self.assertEqual(out, {encode_key(["a"]): {"s": "a", "t": 3.0}, encode_key(["b"]): {"s": "b", "t": 5.0}})

    def test_an_aggregate_class_ships_its_state_as_a_row(self):
        class Mean:
            def initial(self):
                return {"sum": 0.0, "count": 0}

            def update(self, state, row):
                state["sum"] += row["t"]
                state["count"] += 1

            def merge(self, state, other):
                return {"sum": state["sum"] + other["sum"], "count": state["count"] + other["count"]}

            def finish(self, state):
                return {"mean": state["sum"] / state["count"]}

        first, second = run("aggregate", AggregateRunner, Mean, "update"), run("aggregate", AggregateRunner, Mean, "update")
        first.update(batch(["s"], ["s", "t"], [(["a"], ["a", 1.0]), (["a"], ["a", 2.0])]))
        second.update(batch(["s"], ["s", "t"], [(["a"], ["a", 6.0])]))
        final = run("aggregate", AggregateRunner, Mean, "update")
        final.merge(first.partials())
        final.merge(second.partials())
        self.assertEqual(rows_of(final.finish()), [(encode_key(["a"]), {"s": "a", "mean": 3.0})])

    def test_an_aggregate_is_a_class_with_all_four_methods(self):
        class Partial:
            def initial(self):
                return {}

        with self.assertRaises(TypeError) as caught:
            Registered("aggregate", AggregateRunner, Partial, "update", None)
        self.assertIn("has no method update, merge, finish", str(caught.exception))


class ParseFormatTest(unittest.TestCase):
    def test_lines_become_rows_and_a_bad_line_is_named_with_its_offset(self):
        def line(text):
            station, t = text.split(";")
            return {"station": station, "t": float(t)}

        parser = run("parse", LineParseRunner, line, "parse")
        rows, skipped, records = parser.parse(b"a;1.5\r\n\nb;2\n")
        self.assertEqual(([row for _, row in rows_of(rows)], skipped, records), (
            [{"station": "a", "t": 1.5}, {"station": "b", "t": 2.0}], 0, 2))
        with self.assertRaises(BadRecord) as caught:
            parser.parse(b"a;1\nb;x\n")
        self.assertEqual((caught.exception.index, caught.exception.offset), (1, 4))
        with self.assertRaises(BadRecord) as caught:
            parser.parse(b"a;1\n\xff;2\n")
        self.assertIn("not UTF-8", caught.exception.message)

    def test_a_format_writes_a_header_once_then_a_line_per_row(self):
        class Pairs:
            def header(self, fields):
                return "|".join(fields)

            def format(self, row):
                return "|".join(str(value) for value in row.values())

        formatter = run("format", RowFormatRunner, Pairs, "format")
        data = batch(["s"], ["t"], [(["a"], [1])])
        self.assertEqual(formatter.format(data), b"s|t\na|1\n")
        self.assertEqual(formatter.format(data), b"a|1\n")


class ErrorsTest(unittest.TestCase):
    def test_operator_errors_keep_their_kind(self):
        def refuse(row):
            raise Failed("the service is gone")

        with self.assertRaises(Failed):
            run("map", RowMapRunner, refuse, "map").map(batch([], ["t"], [([], [1])]))


if __name__ == "__main__":
    unittest.main()
