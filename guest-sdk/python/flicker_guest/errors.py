"""The errors an operator raises: each becomes a variant of the WIT `error` the host shows."""

import traceback


class OperatorError(Exception):
    """Base of the errors an operator may raise on purpose."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidConfig(OperatorError):
    """The step's config is wrong: the job is refused before any task runs."""


class Failed(OperatorError):
    """Any other failure of the operator (not the fault of one record)."""


class BadRecord(OperatorError):
    """One record could not be handled: the data's fault, named by its index in the batch.

    Raise it from a row function without `index`: the SDK fills in the row it was called for
    (and, for a parser, the byte offset of the line). Any other exception raised by a row function
    becomes a `BadRecord` too, naming the exception and the line of code that raised it.
    """

    def __init__(self, message: str, index: int | None = None, offset: int | None = None):
        super().__init__(message)
        self.index = index
        self.offset = offset

    def __str__(self) -> str:
        where = "" if self.index is None else f"record {self.index}: "
        return where + self.message


class TypeMismatch(Exception):
    """Why an operator cannot take rows of a type (answered before the job runs)."""


class MissingField(TypeMismatch):
    """The operator reads a field the rows do not have."""

    def __init__(self, field: str):
        super().__init__(f"missing field `{field}`")
        self.field = field


class WrongType(TypeMismatch):
    """A field the operator reads has a type it cannot take."""

    def __init__(self, field: str, expected: str, found: str):
        super().__init__(f"field `{field}` is {found}, expected {expected}")
        self.field = field
        self.expected = expected
        self.found = found


def describe(error: BaseException) -> str:
    """`error` in one line: its type, its message and the line of code that raised it."""
    # Source lines are not looked up: a component has no files to read them from.
    frames = traceback.StackSummary.extract(traceback.walk_tb(error.__traceback__), lookup_lines=False)
    where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    text = str(error)
    return f"{type(error).__name__}: {text}{where}" if text else f"{type(error).__name__}{where}"
