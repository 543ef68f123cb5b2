"""XDR (RFC 4506) encoding and decoding with libvirt's limits.

:class:`Packer` builds a big-endian XDR byte string; :class:`Unpacker` reads
one back.  Decoding is written for hostile input: every length is checked
against its declared maximum *and* against the bytes actually left before
anything is allocated, and every failure raises :class:`XdrError`.

Strings travel as UTF-8.  Bytes that are not valid UTF-8 are kept with the
``surrogateescape`` error handler so that any name a peer sends survives a
decode/encode round trip unchanged.
"""

from __future__ import annotations

from _struct import Struct, pack, unpack_from
from _struct import error as _StructError  # type: ignore[attr-defined]

from pyvirt.rpc.protocol import XdrError

__all__ = [
    "STRING_MAX",
    "Packer",
    "Unpacker",
    "XdrError",
]

#: libvirt's VIR_NET_MESSAGE_STRING_MAX / REMOTE_STRING_MAX (4 MiB).
STRING_MAX = 4194304

_INT = Struct(">i")
_UINT = Struct(">I")
_HYPER = Struct(">q")
_UHYPER = Struct(">Q")
_DOUBLE = Struct(">d")

_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")


def _padded(n: int) -> int:
    return (n + 3) & ~3


class Packer:
    """Accumulates XDR-encoded values.

    Every ``pack_*`` method raises :class:`XdrError` when the value does not
    fit its XDR type (out-of-range integer, over-long string, wrong size).
    """

    __slots__ = ("_buf",)

    def __init__(self, buffer: bytearray | None = None) -> None:
        """Start empty, or append to ``buffer`` (packed in place, e.g. after room left for a header)."""
        self._buf = bytearray() if buffer is None else buffer

    def get_buffer(self) -> bytes:
        """Return everything packed so far."""
        return bytes(self._buf)

    def __len__(self) -> int:
        return len(self._buf)

    # -- integers ---------------------------------------------------------

    def pack_int(self, value: int) -> None:
        """Pack a signed 32-bit integer."""
        try:
            self._buf += _INT.pack(value)
        except (_StructError, TypeError) as err:
            raise XdrError(f"int out of range: {value!r}") from err

    def pack_uint(self, value: int) -> None:
        """Pack an unsigned 32-bit integer."""
        try:
            self._buf += _UINT.pack(value)
        except (_StructError, TypeError) as err:
            raise XdrError(f"unsigned int out of range: {value!r}") from err

    def pack_hyper(self, value: int) -> None:
        """Pack a signed 64-bit integer."""
        try:
            self._buf += _HYPER.pack(value)
        except (_StructError, TypeError) as err:
            raise XdrError(f"hyper out of range: {value!r}") from err

    def pack_uhyper(self, value: int) -> None:
        """Pack an unsigned 64-bit integer."""
        try:
            self._buf += _UHYPER.pack(value)
        except (_StructError, TypeError) as err:
            raise XdrError(f"unsigned hyper out of range: {value!r}") from err

    def pack_bool(self, value: bool) -> None:
        """Pack a boolean as the int 0 or 1."""
        self._buf += _INT.pack(1 if value else 0)

    def pack_double(self, value: float) -> None:
        """Pack an IEEE 754 double."""
        try:
            self._buf += _DOUBLE.pack(value)
        except (_StructError, TypeError) as err:
            raise XdrError(f"not a double: {value!r}") from err

    # -- opaque data and strings -----------------------------------------

    def pack_fopaque(self, size: int, data: bytes) -> None:
        """Pack fixed-length opaque data of exactly ``size`` bytes."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise XdrError(f"opaque data must be bytes, not {type(data).__name__}")
        if len(data) != size:
            raise XdrError(f"fixed opaque needs {size} bytes, got {len(data)}")
        self._buf += data
        self._buf += _PAD[size & 3]

    def pack_opaque(self, data: bytes, maximum: int = STRING_MAX) -> None:
        """Pack variable-length opaque data (u32 length, bytes, padding)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise XdrError(f"opaque data must be bytes, not {type(data).__name__}")
        n = len(data)
        if n > maximum:
            raise XdrError(f"opaque data of {n} bytes exceeds maximum {maximum}")
        self._buf += _UINT.pack(n)
        self._buf += data
        self._buf += _PAD[n & 3]

    def pack_string(self, value: str | bytes, maximum: int = STRING_MAX) -> None:
        """Pack a string (UTF-8) with at most ``maximum`` bytes."""
        if isinstance(value, str):
            data = value.encode("utf-8", "surrogateescape")
        elif isinstance(value, (bytes, bytearray)):
            data = bytes(value)
        else:
            raise XdrError(f"string expected, not {type(value).__name__}")
        n = len(data)
        if n > maximum:
            raise XdrError(f"string of {n} bytes exceeds maximum {maximum}")
        self._buf += _UINT.pack(n)
        self._buf += data
        self._buf += _PAD[n & 3]

    def pack_array_length(self, count: int, maximum: int) -> None:
        """Pack the u32 element count of a variable-length array."""
        if count > maximum:
            raise XdrError(f"array of {count} elements exceeds maximum {maximum}")
        self._buf += _UINT.pack(count)

    def pack_ints(self, values: list[int] | tuple[int, ...]) -> None:
        """Pack a run of signed 32-bit integers (no count word)."""
        try:
            self._buf += pack(f">{len(values)}i", *values)
        except (_StructError, TypeError) as err:
            raise XdrError(f"int out of range in {values!r}") from err

    def pack_raw(self, data: bytes) -> None:
        """Append already-encoded bytes (must be a multiple of 4 long)."""
        if len(data) & 3:
            raise XdrError("raw XDR data must be a multiple of 4 bytes")
        self._buf += data


class Unpacker:
    """Reads XDR values from a byte buffer.

    Every ``unpack_*`` method raises :class:`XdrError` when the data is
    truncated, a length exceeds its maximum or the bytes left, or a value is
    malformed.  Nothing is allocated from an unchecked length.
    """

    __slots__ = ("_data", "_end", "_pos")

    def __init__(self, data: bytes | bytearray | memoryview, offset: int = 0) -> None:
        self._data = data
        self._pos = offset
        self._end = len(data)

    @property
    def position(self) -> int:
        """Offset of the next byte to read."""
        return self._pos

    @property
    def remaining(self) -> int:
        """Bytes not yet consumed."""
        return self._end - self._pos

    def done(self) -> None:
        """Raise :class:`XdrError` unless every byte has been consumed."""
        if self._pos < self._end:
            raise XdrError(f"{self._end - self._pos} unexpected trailing bytes")

    def _truncated(self, what: str) -> XdrError:
        return XdrError(f"truncated XDR data reading {what} at offset {self._pos}")

    # -- integers ---------------------------------------------------------

    def unpack_int(self) -> int:
        """Read a signed 32-bit integer."""
        pos = self._pos
        if pos + 4 > self._end:
            raise self._truncated("int")
        self._pos = pos + 4
        return int(_INT.unpack_from(self._data, pos)[0])

    def unpack_uint(self) -> int:
        """Read an unsigned 32-bit integer."""
        pos = self._pos
        if pos + 4 > self._end:
            raise self._truncated("unsigned int")
        self._pos = pos + 4
        return int(_UINT.unpack_from(self._data, pos)[0])

    def unpack_hyper(self) -> int:
        """Read a signed 64-bit integer."""
        pos = self._pos
        if pos + 8 > self._end:
            raise self._truncated("hyper")
        self._pos = pos + 8
        return int(_HYPER.unpack_from(self._data, pos)[0])

    def unpack_uhyper(self) -> int:
        """Read an unsigned 64-bit integer."""
        pos = self._pos
        if pos + 8 > self._end:
            raise self._truncated("unsigned hyper")
        self._pos = pos + 8
        return int(_UHYPER.unpack_from(self._data, pos)[0])

    def unpack_bool(self) -> bool:
        """Read a boolean; anything but 0 or 1 is an error."""
        value = self.unpack_int()
        if value not in (0, 1):
            raise XdrError(f"invalid boolean value {value}")
        return value == 1

    def unpack_double(self) -> float:
        """Read an IEEE 754 double."""
        pos = self._pos
        if pos + 8 > self._end:
            raise self._truncated("double")
        self._pos = pos + 8
        return float(_DOUBLE.unpack_from(self._data, pos)[0])

    # -- opaque data and strings -----------------------------------------

    def _take(self, n: int, what: str) -> bytes:
        """Consume ``n`` data bytes plus padding, after checking both fit."""
        pos = self._pos
        stop = pos + _padded(n)
        if stop > self._end:
            raise XdrError(
                f"{what} of {n} bytes at offset {pos} runs past the end of the data "
                f"({self._end - pos} bytes left)"
            )
        self._pos = stop
        return bytes(self._data[pos : pos + n])

    def unpack_fopaque(self, size: int) -> bytes:
        """Read fixed-length opaque data of ``size`` bytes."""
        return self._take(size, "fixed opaque")

    def unpack_opaque(self, maximum: int = STRING_MAX) -> bytes:
        """Read variable-length opaque data of at most ``maximum`` bytes."""
        n = self.unpack_uint()
        if n > maximum:
            raise XdrError(f"opaque length {n} exceeds maximum {maximum}")
        return self._take(n, "opaque")

    def unpack_string(self, maximum: int = STRING_MAX) -> str:
        """Read a string of at most ``maximum`` bytes."""
        n = self.unpack_uint()
        if n > maximum:
            raise XdrError(f"string length {n} exceeds maximum {maximum}")
        return self._take(n, "string").decode("utf-8", "surrogateescape")

    def unpack_ints(self, count: int) -> tuple[int, ...]:
        """Read ``count`` signed 32-bit integers in one go."""
        pos = self._pos
        stop = pos + 4 * count
        if count < 0 or stop > self._end:
            raise self._truncated(f"{count} ints")
        self._pos = stop
        return unpack_from(f">{count}i", self._data, pos)

    def unpack_array_length(self, maximum: int, min_item_size: int = 4) -> int:
        """Read an array's u32 element count.

        The count must be at most ``maximum`` and the remaining data must be
        able to hold that many elements of at least ``min_item_size`` bytes.
        """
        n = self.unpack_uint()
        if n > maximum:
            raise XdrError(f"array length {n} exceeds maximum {maximum}")
        if n * min_item_size > self._end - self._pos:
            raise XdrError(f"array of {n} elements cannot fit in the {self._end - self._pos} bytes left")
        return n
