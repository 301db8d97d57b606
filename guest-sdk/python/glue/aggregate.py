"""The `aggregate` interface's `aggregator` resource (componentize-py looks for it in this
module)."""

from flicker_guest._component import Resource, guard


class Aggregator(Resource):
    kind = "aggregate"

    def update(self, input):
        guard(self.op.update, input)

    def partials(self):
        return guard(self.op.partials)

    def merge(self, partials):
        guard(self.op.merge, partials)

    def finish(self):
        return guard(self.op.finish)

    def state_bytes(self):
        return self.op.state_bytes()
