"""Write flicker operators in Python.

A flicker operator is a WebAssembly component exporting one operator kind of the WIT package
`flicker:operator` (`wit/operator.wit`). This package hides the interface and the batch framing:
decorate one function or class in your `app.py` and build it with `flicker build` (which runs
componentize-py with no WASI imports).

```python
import flicker_guest as flicker

@flicker.map_rows
def to_fahrenheit(row):
    return {**row, "temperature": row["temperature"] * 9 / 5 + 32}
```

Kinds: `map_rows` (or `map_batch` over whole framed batches), `reduce_rows`, `aggregate_rows`,
`parse_lines`, `format_rows`. Rows are dicts, or dataclasses when the row parameter is annotated
with one (the host then checks the input's fields before the job runs). A class operator takes
the step's `Config` in its constructor; keys it never asks about are rejected. Raise
`InvalidConfig`, `BadRecord` or `Failed`; any other exception in a row function is a bad record
naming the row.
"""

from .batch import Batch, BatchWriter, MalformedBatch, decode_values, encode_key, encode_values
from .config import Config
from .errors import BadRecord, Failed, InvalidConfig, MissingField, OperatorError, TypeMismatch, WrongType
from .operators import aggregate_rows, format_rows, map_batch, map_rows, parse_lines, reduce_rows
from .rows import RowType

__all__ = [
    "Batch",
    "BatchWriter",
    "MalformedBatch",
    "decode_values",
    "encode_key",
    "encode_values",
    "Config",
    "BadRecord",
    "Failed",
    "InvalidConfig",
    "MissingField",
    "OperatorError",
    "TypeMismatch",
    "WrongType",
    "aggregate_rows",
    "format_rows",
    "map_batch",
    "map_rows",
    "parse_lines",
    "reduce_rows",
    "RowType",
]
