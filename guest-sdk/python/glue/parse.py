"""The `parse` interface's `parser` resource (componentize-py looks for it in this module)."""

from flicker_guest._component import Resource, guard
from wit_world.exports.parse import Parsed


class Parser(Resource):
    kind = "parse"

    def parse(self, chunk):
        return Parsed(*guard(self.op.parse, chunk))
