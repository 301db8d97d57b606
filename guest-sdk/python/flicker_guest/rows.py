"""Rows as Python values: dicts, or dataclasses whose fields say the row's type.

A row is a `dict` of field name to value. An operator whose row parameter is annotated with a
dataclass gets instances of it instead (fields the rows have beyond it are left out), and the
host checks before the job runs that the input rows have its fields with fitting types. A
dataclass as the return annotation (or an `output=` dict of field name to type) tells the host
the fields the operator outputs, so the steps after it are checked too.
"""

import dataclasses
import inspect
import operator
import typing

from .batch import BatchWriter
from .errors import BadRecord, MissingField, WrongType

#: The field types of `wit/operator.wit` (`field-type`), by name.
TEXT, INTEGER, FLOAT, BOOLEAN, ANY = "text", "integer", "float", "boolean", "any"

_BY_PYTHON = {str: TEXT, int: INTEGER, float: FLOAT, bool: BOOLEAN}
_WORDS = {TEXT: "text", INTEGER: "i64", FLOAT: "f64", BOOLEAN: "bool", ANY: "any value"}


class RowType:
    """The fields of rows: `key` and `values`, each a list of `(name, field type)`."""

    def __init__(self, key, values):
        self.key = list(key)
        self.values = list(values)

    def __eq__(self, other):
        return isinstance(other, RowType) and (self.key, self.values) == (other.key, other.values)

    def __repr__(self):
        return f"RowType(key={self.key!r}, values={self.values!r})"

    def visible(self) -> list:
        """The fields of a row as an operator reads it: key fields not repeated among the values,
        then the values."""
        names = {name for name, _ in self.values}
        return [field for field in self.key if field[0] not in names] + self.values


def field_type(annotation) -> str:
    """The field type of a Python annotation (`str`, `int`, `float`, `bool`, `Optional[...]`)."""
    if annotation in _BY_PYTHON:
        return _BY_PYTHON[annotation]
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if len(args) == 1 and type(None) in typing.get_args(annotation):
        return field_type(args[0])
    return ANY


def fields_of(spec) -> list | None:
    """The `(name, field type)` list of a dataclass or a `{name: type}` dict; None for others."""
    if isinstance(spec, dict):
        return [(str(name), field_type(ty)) for name, ty in spec.items()]
    if dataclasses.is_dataclass(spec) and isinstance(spec, type):
        hints = typing.get_type_hints(spec)
        return [(field.name, field_type(hints.get(field.name))) for field in dataclasses.fields(spec)]
    return None


def check_fields(wanted, row_type: RowType) -> None:
    """Raises `MissingField` or `WrongType` when rows of `row_type` lack a field of `wanted` (a
    list of `(name, field type)`) or hold it with a type that does not fit."""
    have = dict(row_type.visible())
    for name, wants in wanted:
        if name not in have:
            raise MissingField(name)
        found = have[name]
        fits = wants == ANY or found == ANY or found == wants or (wants == FLOAT and found == INTEGER)
        if not fits:
            raise WrongType(name, _WORDS[wants], found)


class Shape:
    """How an operator's rows look in Python: a dict, or a dataclass (`cls`)."""

    def __init__(self, cls=None):
        self.cls = cls if dataclasses.is_dataclass(cls) and isinstance(cls, type) else None
        self.fields = fields_of(self.cls) if self.cls else None
        self.names = [name for name, _ in self.fields] if self.fields else None

    def reader(self, names):
        """A function turning the values of fields `names` into a row of this shape."""
        if self.cls is None:
            return lambda values: dict(zip(names, values))
        at = {name: i for i, name in enumerate(names)}
        required = {f.name for f in dataclasses.fields(self.cls) if f.default is f.default_factory is dataclasses.MISSING}
        missing = [name for name in self.names if name not in at and name in required]
        if missing:
            message = f"the rows have no field `{missing[0]}` of {self.cls.__name__} (they have: {', '.join(names)})"

            def refuse(values):
                raise BadRecord(message)

            return refuse
        present = [name for name in self.names if name in at]
        if present == self.names:
            # Every field, in the dataclass's order: positional arguments, picked in C.
            pick = operator.itemgetter(*[at[name] for name in present])
            cls = self.cls
            if len(present) == 1:
                return lambda values: cls(pick(values))
            return lambda values: cls(*pick(values))
        picks = [(name, at[name]) for name in present]
        cls = self.cls
        return lambda values: cls(**{name: values[i] for name, i in picks})


def _dataclass_names(cls) -> list | None:
    """The field names of a dataclass type, or None for another type."""
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        return None
    return [field.name for field in dataclasses.fields(cls)]


def is_row(value) -> bool:
    """Whether `value` is one row (a dict or a dataclass instance), not an iterable of rows."""
    kind = type(value)
    return kind is dict or isinstance(value, dict) or hasattr(kind, "__dataclass_fields__")


class RowWriter:
    """Writes rows (dicts or dataclass instances) of one set of fields, each with its key."""

    def __init__(self, key_fields):
        self._key_fields = list(key_fields)
        self._writer = None
        self._names = None
        # How to get the values of a row of a type seen before: (its field count, a getter).
        self._getters = {}

    def _getter(self, row):
        kind = type(row)
        got = self._getters.get(kind)
        if got is not None:
            return got
        names = list(row.keys()) if isinstance(row, dict) else _dataclass_names(kind)
        if names is None:
            raise TypeError(f"a row is a dict or a dataclass instance, not {kind.__name__}")
        if self._writer is None:
            self._names = names
            self._writer = BatchWriter(self._key_fields, names)
        wanted = self._names
        if isinstance(row, dict):
            get = operator.itemgetter(*wanted)
        elif sorted(names) != sorted(wanted):
            raise ValueError(f"a row has the fields {names}, the rows before it {wanted}")
        else:
            get = operator.attrgetter(*wanted)
        if len(wanted) == 1:
            get = (lambda one: lambda row: (one(row),))(get)
        elif not wanted:
            get = lambda row: ()  # noqa: E731
        got = (len(wanted), get)
        self._getters[kind] = got
        return got

    def push(self, key: bytes, row) -> None:
        """Appends `row`; its fields must be those of the first row (in any order)."""
        count, get = self._getter(row)
        try:
            if type(row) is dict and len(row) != count:
                raise KeyError
            values = get(row)
        except KeyError:
            raise ValueError(f"a row has the fields {list(row)}, the rows before it {self._names}") from None
        self._writer.push(key, values)

    @property
    def rows(self) -> int:
        """How many rows were pushed."""
        return 0 if self._writer is None else self._writer.rows

    def finish(self) -> bytes:
        """The framed batch (with no value fields when no row was pushed)."""
        if self._writer is None:
            self._writer = BatchWriter(self._key_fields, [])
        return self._writer.finish()


def parameter_shapes(function, skip: int = 0):
    """The dataclass annotations of `function`'s parameters after the first `skip`, and of its
    return value, as `Shape`s (a plain `Shape()` where there is none)."""
    try:
        hints = typing.get_type_hints(function)
        names = list(inspect.signature(function).parameters)[skip:]
    except (TypeError, ValueError, NameError):
        return [], Shape()
    return [Shape(hints.get(name)) for name in names], Shape(hints.get("return"))
