"""The operator kinds, written as decorated functions or classes.

Each decorator registers the component's one operator: a function, or a class whose constructor
takes the step's `Config` (or nothing, when it reads no config). A row function raising any
exception fails the call with a bad record naming the row; see `errors.BadRecord`.
"""

import inspect

from .batch import Batch, decode_values
from .config import Config
from .errors import BadRecord, Failed, InvalidConfig, OperatorError, describe
from .rows import RowType, RowWriter, Shape, check_fields, fields_of, is_row, parameter_shapes

_registered = None


class Registered:
    """The component's operator: its kind (`map`, `aggregate`, `parse` or `format`), the byte
    level operator class running it, the user's function or class, and its declared output."""

    def __init__(self, kind, runner, target, method, output):
        self.kind = kind
        self.runner = runner
        self.target = target
        self.method = method
        is_class = inspect.isclass(target)
        needs = getattr(runner, "methods", (method,))
        if not is_class and len(needs) > 1:
            raise TypeError(f"{kind} operators are classes with {', '.join(needs)}, not functions")
        missing = [name for name in needs if is_class and not callable(getattr(target, name, None))]
        if missing:
            raise TypeError(f"{target.__name__} has no method {', '.join(missing)}")
        skip = 1 if is_class else 0
        self.inputs, returned = parameter_shapes(getattr(target, method) if is_class else target, skip)
        if is_class and needs[-1] != method:
            _, returned = parameter_shapes(getattr(target, needs[-1]), skip)
        self.row_at = getattr(runner, "row_parameter", 0)
        self.output = fields_of(output) if output is not None else returned.fields

    def build(self, pairs):
        """The byte-level operator for a step with config `pairs`."""
        return self.runner(self, instantiate(self.target, self.method, Config(pairs)))

    def input_shape(self) -> Shape:
        """The shape of the input rows, from the annotation of the row parameter."""
        return self.inputs[self.row_at] if self.row_at < len(self.inputs) else Shape()

    def check_input(self, input: RowType) -> None:
        """Raises a `TypeMismatch` when rows of `input` do not fit the annotated row type."""
        shape = self.input_shape()
        if shape.fields:
            check_fields(shape.fields, input)

    def output_type(self, input: RowType | None):
        """The row type the operator outputs for `input` (None: cannot say before the rows)."""
        if input is not None:
            self.check_input(input)
        return self.runner.output_type(self, input)


def registered() -> Registered:
    """The operator the component's module registered."""
    if _registered is None:
        raise RuntimeError(
            "no operator is registered: decorate a function or class in app.py with one of "
            "map_rows, map_batch, reduce_rows, aggregate_rows, parse_lines or format_rows"
        )
    return _registered


def instantiate(target, method: str, config: Config):
    """The object whose `method` runs the operator: `target(config)` (or `target()`) for a
    class, the function itself for a function; then rejects keys the operator never asked about."""
    if inspect.isclass(target):
        try:
            takes_config = len(inspect.signature(target).parameters) > 0
        except (TypeError, ValueError):
            takes_config = False
        try:
            built = target(config) if takes_config else target()
        except (OperatorError, MemoryError):
            raise
        except Exception as error:
            raise InvalidConfig(describe(error)) from None
        if not getattr(target, "allow_unknown_keys", False):
            config.reject_unasked()
        return built
    config.reject_unasked()
    return _Function(method, target)


class _Function:
    def __init__(self, method, function):
        setattr(self, method, function)


def _decorator(kind, runner, method):
    def decorate(target=None, *, output=None):
        def register(target):
            global _registered
            if _registered is not None:
                raise RuntimeError(
                    f"a component holds one operator: {_registered.target.__name__} is registered "
                    f"already, so {target.__name__} cannot be"
                )
            _registered = Registered(kind, runner, target, method, output)
            return target

        return register if target is None else register(target)

    decorate.__name__ = f"{kind}_{method}"
    return decorate


def _fail_row(error: BaseException, index: int, offset: int | None = None) -> OperatorError:
    """The error a row function's exception fails its call with."""
    if isinstance(error, BadRecord):
        if error.index is None:
            error.index = index
            error.offset = offset if error.offset is None else error.offset
        return error
    if isinstance(error, OperatorError):
        return error
    return BadRecord(describe(error), index, offset)


def _push_all(out: RowWriter, key: bytes, result) -> None:
    """Pushes a row function's result: None (no row), one row, or an iterable of rows."""
    if result is None:
        return
    if is_row(result):
        out.push(key, result)
    else:
        for row in result:
            out.push(key, row)


class RowMapRunner:
    """Runs a row function as a map: each input row to zero, one or several output rows, which
    keep its key."""

    def __init__(self, spec: Registered, built):
        self.function = getattr(built, spec.method)
        self.shape = spec.input_shape()

    def map(self, data: bytes) -> bytes:
        batch = Batch(data)
        make = self.shape.reader(batch.field_names())
        out = RowWriter(batch.key_fields)
        function = self.function
        for index, (key, values) in enumerate(batch.rows()):
            try:
                _push_all(out, key, function(make(values)))
            except MemoryError:
                raise
            except Exception as error:
                raise _fail_row(error, index) from None
        return out.finish()

    @staticmethod
    def output_type(spec: Registered, input: RowType | None):
        if spec.output is None or input is None:
            return None
        return RowType(input.key, spec.output)


class BatchMapRunner:
    """Runs a function over whole framed batches (bytes to bytes): the fastest map."""

    def __init__(self, spec: Registered, built):
        self.function = getattr(built, spec.method)

    def map(self, data: bytes) -> bytes:
        try:
            return bytes(self.function(data))
        except (OperatorError, MemoryError):
            raise
        except Exception as error:
            raise Failed(describe(error)) from None

    output_type = RowMapRunner.output_type


#: What one key's state is counted as besides its key, for `state_bytes` (Python objects are
#: large: a dict of two fields with its values is ~300 bytes).
_STATE_COST = 160
_FIELD_COST = 64


class _Keyed:
    """The per-key state of an aggregate, counted for `state_bytes`."""

    def __init__(self):
        self.table = {}
        self.key_fields = []
        self.bytes = 0

    def observe(self, batch: Batch) -> None:
        if batch.key_fields and not self.key_fields:
            self.key_fields = batch.key_fields

    def added(self, key: bytes, fields: int) -> None:
        self.bytes += len(key) + _STATE_COST + _FIELD_COST * fields

    def drain(self, rows) -> bytes:
        """Writes `rows(key, state)` of every key (None: no row) and empties the table."""
        out = RowWriter(self.key_fields)
        try:
            for key, state in self.table.items():
                _push_all(out, key, rows(state))
        finally:
            self.table = {}
            self.bytes = 0
        return out.finish()


class ReduceRunner:
    """Runs a pairwise reduce by key (Spark's `reduceByKey`): the state of a key is its row
    reduced so far; partials are such rows, and so is the output."""

    def __init__(self, spec: Registered, built):
        self.function = getattr(built, spec.method)
        self.shape = spec.input_shape()
        self.keyed = _Keyed()

    def _fold(self, data: bytes) -> None:
        batch = Batch(data)
        keyed = self.keyed
        keyed.observe(batch)
        names = batch.field_names()
        make = self.shape.reader(names)
        table, function = keyed.table, self.function
        for index, (key, values) in enumerate(batch.rows()):
            row = make(values)
            so_far = table.get(key)
            if so_far is None:
                table[key] = row
                keyed.added(key, len(names))
                continue
            try:
                reduced = function(so_far, row)
            except MemoryError:
                raise
            except Exception as error:
                raise _fail_row(error, index) from None
            if reduced is None:
                raise Failed(f"the reduce returned None for record {index}, not a row")
            table[key] = reduced

    update = merge = _fold

    def partials(self) -> bytes:
        return self.keyed.drain(lambda row: row)

    finish = partials

    def state_bytes(self) -> int:
        return self.keyed.bytes

    @staticmethod
    def output_type(spec: Registered, input: RowType | None):
        if input is None:
            return None
        return RowType(input.key, spec.output or input.visible())


class AggregateRunner:
    """Runs an aggregate class (`initial`, `update`, `merge`, `finish`): one state per key (a
    dict or a dataclass of plain values), shipped across the shuffle as a row."""

    methods = ("initial", "update", "merge", "finish")
    row_parameter = 1

    def __init__(self, spec: Registered, built):
        self.built = built
        self.shape = spec.input_shape()
        self.state_shape = None
        self.keyed = _Keyed()

    def _initial(self):
        state = self.built.initial()
        if self.state_shape is None:
            self.state_shape = Shape(type(state))
        return state

    def update(self, data: bytes) -> None:
        batch = Batch(data)
        keyed = self.keyed
        keyed.observe(batch)
        make = self.shape.reader(batch.field_names())
        table, update = keyed.table, self.built.update
        for index, (key, values) in enumerate(batch.rows()):
            state = table.get(key)
            try:
                if state is None:
                    state = self._initial()
                    keyed.added(key, len(getattr(state, "__dict__", state)))
                updated = update(state, make(values))
            except MemoryError:
                raise
            except Exception as error:
                raise _fail_row(error, index) from None
            table[key] = state if updated is None else updated

    def merge(self, data: bytes) -> None:
        batch = Batch(data)
        keyed = self.keyed
        keyed.observe(batch)
        if self.state_shape is None:
            self._initial()
        make = self.state_shape.reader(batch.value_fields)
        table, merge = keyed.table, self.built.merge
        for index, (key, start, end) in enumerate(batch.raw_rows()):
            other = make(decode_values(batch.data, start, end))
            state = table.get(key)
            if state is None:
                table[key] = other
                keyed.added(key, len(batch.value_fields))
                continue
            try:
                merged = merge(state, other)
            except MemoryError:
                raise
            except Exception as error:
                raise Failed(f"merging the partial state of record {index}: {describe(error)}") from None
            table[key] = state if merged is None else merged

    def partials(self) -> bytes:
        return self.keyed.drain(lambda state: state)

    def finish(self) -> bytes:
        return self.keyed.drain(self.built.finish)

    def state_bytes(self) -> int:
        return self.keyed.bytes

    @staticmethod
    def output_type(spec: Registered, input: RowType | None):
        if spec.output is None or input is None:
            return None
        return RowType(input.key, spec.output)


class LineParseRunner:
    """Runs a line function as a parser: each line of a chunk to zero, one or several rows."""

    def __init__(self, spec: Registered, built):
        self.function = getattr(built, spec.method)

    def parse(self, chunk: bytes):
        """The rows of `chunk` as a framed batch, the records skipped (0) and the rows read."""
        out = RowWriter([])
        function = self.function
        offset = 0
        for index, raw in enumerate(chunk.split(b"\n")):
            at, offset = offset, offset + len(raw) + 1
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if not raw:
                continue
            try:
                _push_all(out, b"", function(str(raw, "utf-8")))
            except MemoryError:
                raise
            except UnicodeDecodeError as error:
                raise BadRecord(f"the line is not UTF-8: {error.reason}", index, at) from None
            except Exception as error:
                raise _fail_row(error, index, at) from None
        return out.finish(), 0, out.rows

    @staticmethod
    def output_type(spec: Registered, input=None):
        return None if spec.output is None else RowType([], spec.output)


class RowFormatRunner:
    """Runs a row function as a format: each row to one line of text (None: no line); a class
    may also define `header(fields)`, whose line (if not None) opens the part."""

    def __init__(self, spec: Registered, built):
        self.function = getattr(built, spec.method)
        self.header = getattr(built, "header", None)
        self.shape = spec.input_shape()
        self.started = False

    def format(self, data: bytes) -> bytes:
        batch = Batch(data)
        names = batch.field_names()
        make = self.shape.reader(names)
        lines = []
        if not self.started:
            self.started = True
            if self.header is not None:
                header = self.header(names)
                if header is not None:
                    lines.append(header)
        function = self.function
        for index, (_, values) in enumerate(batch.rows()):
            try:
                line = function(make(values))
            except MemoryError:
                raise
            except Exception as error:
                raise _fail_row(error, index) from None
            if line is not None:
                lines.append(line)
        return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""

    @staticmethod
    def output_type(spec: Registered, input=None):
        return None


map_rows = _decorator("map", RowMapRunner, "map")
map_rows.__doc__ = """A map over rows: `f(row)` returns None (drop it), one row, or an iterable
of rows; as a class, its `map(self, row)` does. `output=` ({name: type} or a dataclass) names
the output fields when the return annotation does not."""

map_batch = _decorator("map", BatchMapRunner, "map")
map_batch.__doc__ = """A map over whole framed batches, `f(batch: bytes) -> bytes`: read them
with `Batch`, write them with `BatchWriter` (no per-row Python objects when you avoid them)."""

reduce_rows = _decorator("aggregate", ReduceRunner, "reduce")
reduce_rows.__doc__ = """A reduce by key: `f(a, b)` combines two rows of one key into one
(associative, as it runs on both sides of the shuffle); as a class, its `reduce(self, a, b)`."""

aggregate_rows = _decorator("aggregate", AggregateRunner, "update")
aggregate_rows.__doc__ = """A keyed aggregate class: `initial()` a new state (a dict or a
dataclass of plain values), `update(state, row)` and `merge(state, other)` (each returning the
new state, or None when it changed `state` in place) and `finish(state)` the output row."""

parse_lines = _decorator("parse", LineParseRunner, "parse")
parse_lines.__doc__ = """A parser of lines: `f(line: str)` returns None (skip), one row or an
iterable of rows; as a class, its `parse(self, line)` does."""

format_rows = _decorator("format", RowFormatRunner, "format")
format_rows.__doc__ = """A format: `f(row)` returns one line of text (no newline) or None; as a
class, its `format(self, row)`, and `header(self, fields)` for a first line."""
