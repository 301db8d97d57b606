"""The `map` interface's `mapper` resource (componentize-py looks for it in this module)."""

from flicker_guest._component import Resource, guard


class Mapper(Resource):
    kind = "map"

    def map(self, input):
        return guard(self.op.map, input)
