"""The batch framing of `docs/ARCHITECTURE.md` ("Batch framing"), read and written in Python.

```text
batch   := "FLB1" | names(key fields) | names(value fields) | row*
names   := count:u16 | (len:u16 | utf-8)*
row     := key_len:u32 | key | value_len:u32 | value
value   := 0x00 null | 0x01 false | 0x02 true | 0x03 i64 | 0x04 f64 | 0x05 len:u32 utf-8
```

Values are `None`, `bool`, `int` (64-bit), `float` and `str`. A row's key stays in its encoded
form (`bytes`): an operator hands it back as it came, and rows meet by it.
"""

import struct

MAGIC = b"FLB1"
_NULL, _FALSE, _TRUE, _I64, _F64, _STR = range(6)
_u16 = struct.Struct("<H")
_u32 = struct.Struct("<I")
_i64 = struct.Struct("<q")
_f64 = struct.Struct("<d")
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1


class MalformedBatch(ValueError):
    """Bytes that do not follow the framing."""


def _names(data, pos):
    try:
        (count,) = _u16.unpack_from(data, pos)
        pos += 2
        names = []
        for _ in range(count):
            (length,) = _u16.unpack_from(data, pos)
            pos += 2
            if pos + length > len(data):
                raise MalformedBatch(f"a field name runs past the end of the batch at byte {pos}")
            names.append(str(data[pos : pos + length], "utf-8"))
            pos += length
        return names, pos
    except struct.error:
        raise MalformedBatch(f"the field names end early at byte {pos}") from None


def decode_values(data, start: int = 0, end: int | None = None) -> list:
    """The values encoded in `data[start:end]`, in order."""
    end = len(data) if end is None else end
    out = []
    append = out.append
    pos = start
    try:
        while pos < end:
            tag = data[pos]
            pos += 1
            if tag == _STR:
                (length,) = _u32.unpack_from(data, pos)
                pos += 4 + length
                if pos > end:
                    raise MalformedBatch(f"a text value runs past its row at byte {pos - length}")
                append(str(data[pos - length : pos], "utf-8"))
            elif tag == _F64:
                append(_f64.unpack_from(data, pos)[0])
                pos += 8
            elif tag == _I64:
                append(_i64.unpack_from(data, pos)[0])
                pos += 8
            elif tag == _TRUE:
                append(True)
            elif tag == _FALSE:
                append(False)
            elif tag == _NULL:
                append(None)
            else:
                raise MalformedBatch(f"unknown value tag {tag} at byte {pos - 1}")
    except struct.error:
        raise MalformedBatch(f"a value runs past the end of its row at byte {pos}") from None
    if pos != end:
        raise MalformedBatch(f"a value runs past the end of its row at byte {end}")
    return out


def encode_values(values, out: bytearray) -> None:
    """Appends the encoding of `values` to `out`."""
    for value in values:
        kind = type(value)
        if kind is str:
            encoded = value.encode("utf-8")
            out.append(_STR)
            out += _u32.pack(len(encoded))
            out += encoded
        elif kind is float:
            out.append(_F64)
            out += _f64.pack(value)
        elif kind is int:
            if not _I64_MIN <= value <= _I64_MAX:
                raise ValueError(f"the integer {value} does not fit in 64 bits")
            out.append(_I64)
            out += _i64.pack(value)
        elif kind is bool:
            out.append(_TRUE if value else _FALSE)
        elif value is None:
            out.append(_NULL)
        elif isinstance(value, (bool, int, float, str)):
            encode_values([kind.__mro__[-2](value)], out)
        else:
            raise TypeError(f"a field holds None, bool, int, float or str, not {kind.__name__}")


def encode_key(values) -> bytes:
    """The encoded key of the given key field values."""
    out = bytearray()
    encode_values(values, out)
    return bytes(out)


class Batch:
    """A framed batch, read lazily: its field names, then its rows."""

    def __init__(self, data):
        if data[:4] != MAGIC:
            raise MalformedBatch("a batch starts with FLB1")
        self.data = data
        self.key_fields, pos = _names(data, 4)
        self.value_fields, self._rows_at = _names(data, pos)

    def raw_rows(self):
        """Each row as `(key, start, end)`: its encoded key, and where its values are in `data`."""
        data = self.data
        unpack = _u32.unpack_from
        pos, size = self._rows_at, len(data)
        try:
            while pos < size:
                (key_len,) = unpack(data, pos)
                key = data[pos + 4 : pos + 4 + key_len]
                pos += 4 + key_len
                (value_len,) = unpack(data, pos)
                pos += 4
                if pos + value_len > size or len(key) != key_len:
                    raise MalformedBatch(f"a row runs past the end of the batch at byte {pos}")
                yield key, pos, pos + value_len
                pos += value_len
        except struct.error:
            raise MalformedBatch(f"a row header ends early at byte {pos}") from None

    def field_names(self) -> list[str]:
        """The fields of each row as `rows` reads it: the key fields that are not also value
        fields (as `std:key-by` leaves them), then the value fields."""
        return [name for name in self.key_fields if name not in self.value_fields] + self.value_fields

    def rows(self):
        """Each row as `(key, values)`: its encoded key, and the values of `field_names()`."""
        data = self.data
        keep = [i for i, name in enumerate(self.key_fields) if name not in self.value_fields]
        for key, start, end in self.raw_rows():
            values = decode_values(data, start, end)
            if keep:
                key_values = decode_values(key)
                values = [key_values[i] for i in keep] + values
            yield key, values

    def __len__(self) -> int:
        return sum(1 for _ in self.raw_rows())


class BatchWriter:
    """Writes a batch of rows with the given key and value fields."""

    def __init__(self, key_fields, value_fields):
        self._out = bytearray(MAGIC)
        for names in (key_fields, value_fields):
            self._out += _u16.pack(len(names))
            for name in names:
                encoded = name.encode("utf-8")
                self._out += _u16.pack(len(encoded))
                self._out += encoded
        self.rows = 0

    def push(self, key: bytes, values) -> None:
        """Appends a row: its encoded key and its values (one per value field)."""
        out = self._out
        out += _u32.pack(len(key))
        out += key
        at = len(out)
        out += b"\0\0\0\0"
        try:
            encode_values(values, out)
        except (TypeError, ValueError):
            del out[at - 4 - len(key) :]
            raise
        _u32.pack_into(out, at, len(out) - at - 4)
        self.rows += 1

    def push_raw(self, key: bytes, values: bytes) -> None:
        """Appends a row whose values are encoded already."""
        out = self._out
        out += _u32.pack(len(key))
        out += key
        out += _u32.pack(len(values))
        out += values
        self.rows += 1

    def finish(self) -> bytes:
        """The framed batch."""
        return bytes(self._out)
