"""The component's entry module: imports the operator's `app.py` (which registers it) and
exports the schema interfaces; componentize-py finds each operator resource in the module named
after its interface (`map.py`, `aggregate.py`, `parse.py`, `format.py` beside this file)."""

import importlib

import app  # noqa: F401  (registers the operator)
from flicker_guest import operators
from flicker_guest._component import AggregateSchema, FormatSchema, MapSchema, ParseSchema  # noqa: F401

_kind = operators.registered().kind
try:
    importlib.import_module(f"wit_world.exports.{_kind}")
except ImportError:
    raise SystemExit(
        f"app.py defines a {_kind} operator, but the component is built for another kind: "
        f"set kind = \"{_kind}\" under [tool.flicker] in pyproject.toml"
    ) from None
