"""The `format` interface's `formatter` resource (componentize-py looks for it in this module)."""

from flicker_guest._component import Resource, guard


class Formatter(Resource):
    kind = "format"

    def format(self, input):
        return guard(self.op.format, input)
