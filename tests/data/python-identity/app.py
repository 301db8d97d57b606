# A map operator written in Python against the raw operator interface (no SDK): it hands every
# batch back as it came. Built by componentize-py into a component of the `map-operator` world
# (tests/all/python.rs).
from wit_world import exports


class Map(exports.Map):
    pass
