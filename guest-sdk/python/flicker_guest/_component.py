"""The bridge between the registered operator and the component's WIT exports (only imported
inside a component built by componentize-py, where `wit_world` exists)."""

import io
import sys

from componentize_py_types import Err
from wit_world.imports import types as wit

from . import operators
from .errors import BadRecord, Failed, InvalidConfig, MissingField, OperatorError, WrongType, describe
from .rows import ANY, BOOLEAN, FLOAT, INTEGER, TEXT, RowType

_TO_WIT = {
    TEXT: wit.FieldType.TEXT,
    INTEGER: wit.FieldType.INTEGER,
    FLOAT: wit.FieldType.FLOAT,
    BOOLEAN: wit.FieldType.BOOLEAN,
    ANY: wit.FieldType.ANY,
}
_FROM_WIT = {value: key for key, value in _TO_WIT.items()}


class _Printed(io.TextIOBase):
    """Where `print` writes: a component has no WASI, so no stdout. The last 2,000 characters
    printed during a call are added to the call's error, if it fails."""

    LIMIT = 2000

    def __init__(self):
        self.text = ""

    def writable(self):
        return True

    def write(self, text):
        self.text = (self.text + text)[-self.LIMIT :]
        return len(text)

    def take(self) -> str:
        text, self.text = self.text, ""
        return text


_printed = _Printed()
sys.stdout = sys.stderr = _printed


def _error(error: OperatorError) -> Err:
    message = error.message
    printed = _printed.take()
    if printed:
        message += f"\n[it printed:]\n{printed.rstrip()}"
    if isinstance(error, InvalidConfig):
        return Err(wit.Error_InvalidConfig(message))
    if isinstance(error, BadRecord):
        index = min(max(error.index or 0, 0), 0xFFFF_FFFF)
        return Err(wit.Error_BadRecord(wit.BadRecord(index, error.offset, message)))
    return Err(wit.Error_Failed(message))


def guard(call, *args, failure=Failed):
    """`call(*args)`, its errors raised as the WIT error; an unexpected exception is `failure`."""
    try:
        result = call(*args)
        _printed.take()
        return result
    except OperatorError as error:
        raise _error(error) from None
    except MemoryError:
        raise
    except Exception as error:
        raise _error(failure(describe(error))) from None


def _row_type(row_type: "wit.RowType") -> RowType:
    return RowType(
        [(field.name, _FROM_WIT[field.type]) for field in row_type.key],
        [(field.name, _FROM_WIT[field.type]) for field in row_type.values],
    )


def _wit_row_type(row_type: RowType | None):
    if row_type is None:
        return None
    return wit.RowType(
        [wit.Field(name, _TO_WIT[kind]) for name, kind in row_type.key],
        [wit.Field(name, _TO_WIT[kind]) for name, kind in row_type.values],
    )


def _mismatch(error: Exception) -> Err:
    if isinstance(error, MissingField):
        return Err(wit.TypeMismatch_MissingField(error.field))
    if isinstance(error, WrongType):
        return Err(wit.TypeMismatch_WrongType(wit.WrongType(error.field, error.expected, _TO_WIT[error.found])))
    return Err(wit.TypeMismatch_Other(describe(error)))


def _output_type(input):
    try:
        return _wit_row_type(operators.registered().output_type(None if input is None else _row_type(input)))
    except MemoryError:
        raise
    except Exception as error:
        raise _mismatch(error) from None


class Resource:
    """An operator resource of kind `kind`: `create` builds the registered operator."""

    kind = ""

    def __init__(self, op):
        self.op = op

    @classmethod
    def create(cls, config):
        spec = operators.registered()
        if spec.kind != cls.kind:
            raise _error(Failed(f"the component's operator is a {spec.kind}, built as a {cls.kind}"))
        return cls(guard(spec.build, config, failure=InvalidConfig))


class MapSchema:
    """The `map-schema` export."""

    def output_type(self, config, input):
        return _output_type(input)


class AggregateSchema(MapSchema):
    """The `aggregate-schema` export."""


class ParseSchema:
    """The `parse-schema` export."""

    def output_type(self, config):
        return _output_type(None)


class FormatSchema:
    """The `format-schema` export."""

    def check_input(self, config, input):
        _output_type(input)
