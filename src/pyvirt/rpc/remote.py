"""The REMOTE_PROGRAM procedure table and the codecs that describe it.

Each procedure of libvirt's ``src/remote/remote_protocol.x`` that pyvirt
speaks is a :class:`Procedure` in :data:`PROCEDURES`, holding codecs for its
arguments and its return value.  A codec has ``pack(packer, value)`` and
``unpack(unpacker)``; struct values are dicts keyed by the field names of
``remote_protocol.x``, optional pointers are ``None`` or the value, unions
are ``(discriminant, value)`` tuples and a void payload is ``None``.

For event procedures (server -> client ``MESSAGE`` type, listed in
:data:`EVENT_PROCEDURES`) ``args`` is the ``remote_..._msg`` layout and
``ret`` is :data:`Void`.

Nothing heavy happens at import (``pyvirsh`` pays for every millisecond): a
procedure's codecs are built the first time its ``args`` or ``ret`` is used,
and :class:`TypedParamType` (an ``IntEnum``) on first use.
"""

from __future__ import annotations

from _struct import Struct as _Struct
from _struct import error as _StructError  # type: ignore[attr-defined]
from _struct import pack as _pack
from _struct import unpack_from as _unpack_from

from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError

# Only XdrError and STRING_MAX, from protocol: the codecs work on bytes
# directly, so pyvirt.rpc.xdr (Packer, Unpacker) is not loaded for them.
from pyvirt.rpc.protocol import STRING_MAX, XdrError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows pyvirsh start-up

if TYPE_CHECKING:
    import enum
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from typing import Any

    from pyvirt.rpc.xdr import Packer, Unpacker


def _abc(name: str) -> Any:
    """``collections.abc.<name>`` (Mapping, Iterable), imported on first use.

    Only values that are not plain dicts / lists need them, and the module
    (``_collections_abc``, ~1 ms) is not loaded yet in pyvirsh's fast start.
    """
    import _collections_abc

    return getattr(_collections_abc, name)


__all__ = [
    "EVENT_PROCEDURES",
    "PROCEDURES",
    "PROC_NAMES",
    "PROC_NUMBERS",
    "REMOTE_ERROR",
    "UUID",
    "Array",
    "Bool",
    "Char",
    "CharArray",
    "CharVector",
    "Codec",
    "Double",
    "Hyper",
    "Int",
    "NonnullDomain",
    "NonnullNetwork",
    "NonnullStoragePool",
    "NonnullStorageVol",
    "NonnullString",
    "Opaque",
    "OptDomain",
    "OptNetwork",
    "OptString",
    "Optional",
    "Proc",
    "Procedure",
    "String",
    "Struct",
    "TypedParam",
    "TypedParamType",
    "UChar",
    "UHyper",
    "UInt",
    "UShort",
    "Union",
    "VarOpaque",
    "Void",
    "decode",
    "decode_error",
    "encode",
    "encode_error",
    "get_procedure",
    "typed_param",
    "typed_params_to_dict",
]

# ---------------------------------------------------------------------------
# Codecs
# ---------------------------------------------------------------------------

_pack_int = _Struct(">i").pack
_unpack_int = _Struct(">i").unpack_from
_pack_uint = _Struct(">I").pack
_unpack_uint = _Struct(">I").unpack_from
_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")


class Codec:
    """Base of all codecs.

    ``pack`` raises :class:`~pyvirt.rpc.xdr.XdrError` for a value that does not
    fit the layout; ``unpack`` raises it for malformed data.  ``min_size`` is
    the fewest bytes one encoded value can take (used to reject impossible
    array counts before allocating anything).

    Every codec does its work in two internal methods that composite codecs
    call directly, without going through a Packer or Unpacker object:
    ``_enc(buf, value)`` appends to a bytearray and ``_dec(data, pos)``
    returns ``(value, next position)``.  A subclass that only defines
    ``pack``/``unpack`` still works: the defaults bridge the two.
    """

    min_size = 4

    def pack(self, packer: Packer, value: Any) -> None:
        self._enc(packer._buf, value)

    def unpack(self, unpacker: Unpacker) -> Any:
        value, unpacker._pos = self._dec(unpacker._data, unpacker._pos)
        return value

    def _enc(self, buf: bytearray, value: Any) -> None:
        if type(self).pack is Codec.pack:
            raise NotImplementedError
        from pyvirt.rpc.xdr import Packer

        self.pack(Packer(buf), value)

    def _dec(self, data: Any, pos: int) -> tuple[Any, int]:
        if type(self).unpack is Codec.unpack:
            raise NotImplementedError
        from pyvirt.rpc.xdr import Unpacker

        unpacker = Unpacker(data, pos)
        value = self.unpack(unpacker)
        return value, unpacker.position


def _truncated(what: str, pos: int) -> XdrError:
    return XdrError(f"truncated XDR data reading {what} at offset {pos}")


def _past_end(what: str, n: int, pos: int, data: Any) -> XdrError:
    return XdrError(
        f"{what} of {n} bytes at offset {pos} runs past the end of the data ({len(data) - pos} bytes left)"
    )


def _dec_count(data: Any, pos: int) -> int:
    """The u32 at ``pos`` (a length or count word)."""
    try:
        return _unpack_uint(data, pos)[0]  # type: ignore[no-any-return]
    except _StructError:
        raise _truncated("unsigned int", pos) from None


class _VoidCodec(Codec):
    min_size = 0

    def _enc(self, buf: bytearray, value: Any) -> None:
        if value is not None and value != {}:
            raise XdrError(f"void payload takes no value, got {value!r}")

    def _dec(self, data: Any, pos: int) -> tuple[None, int]:
        return None, pos

    def __repr__(self) -> str:
        return "Void"


class _NumberCodec(Codec):
    """A fixed-size number (int, unsigned int, hyper, unsigned hyper, double).

    ``fmt`` is its struct format character; structs and arrays made only of
    these are packed and unpacked with one struct call.
    """

    def __init__(self, name: str, fmt: str, what: str, bad: str) -> None:
        self._name = name
        self.fmt = fmt
        self._what = what
        self._bad = bad
        self._struct = _Struct(">" + fmt)
        self.min_size = self._struct.size
        self._pack = self._struct.pack
        self._unpack_from = self._struct.unpack_from

    def _enc(self, buf: bytearray, value: Any) -> None:
        try:
            buf += self._pack(value)
        except (_StructError, TypeError) as err:
            raise XdrError(f"{self._bad}: {value!r}") from err

    def _dec(self, data: Any, pos: int) -> tuple[Any, int]:
        try:
            return self._unpack_from(data, pos)[0], pos + self.min_size
        except _StructError:
            raise _truncated(self._what, pos) from None

    def __repr__(self) -> str:
        return self._name


class _BoolCodec(Codec):
    def _enc(self, buf: bytearray, value: Any) -> None:
        buf += _pack_int(1 if value else 0)

    def _dec(self, data: Any, pos: int) -> tuple[bool, int]:
        try:
            value = _unpack_int(data, pos)[0]
        except _StructError:
            raise _truncated("int", pos) from None
        if value not in (0, 1):
            raise XdrError(f"invalid boolean value {value}")
        return value == 1, pos + 4

    def __repr__(self) -> str:
        return "Bool"


class _SmallIntCodec(Codec):
    """``char`` / ``unsigned char`` / ``unsigned short``: widened to 4 bytes.

    Packing checks the range; unpacking truncates like rpcgen's C code does.
    """

    def __init__(self, name: str, bits: int, signed: bool) -> None:
        self._name = name
        self._bits = bits
        self._signed = signed
        self._mask = (1 << bits) - 1
        if signed:
            self._lo, self._hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        else:
            self._lo, self._hi = 0, self._mask

    def _enc(self, buf: bytearray, value: Any) -> None:
        if not isinstance(value, int) or not self._lo <= value <= self._hi:
            raise XdrError(f"{self._name} out of range: {value!r}")
        buf += _pack_int(value) if self._signed else _pack_uint(value)

    def _dec(self, data: Any, pos: int) -> tuple[int, int]:
        raw = _dec_count(data, pos) & self._mask
        if raw > self._hi:
            raw -= 1 << self._bits
        return raw, pos + 4

    def __repr__(self) -> str:
        return self._name


class String(Codec):
    """``string x<max>``: u32 length, UTF-8 bytes, zero padding."""

    def __init__(self, maximum: int = STRING_MAX) -> None:
        self.maximum = maximum

    def _enc(self, buf: bytearray, value: Any) -> None:
        data: bytes | bytearray
        if isinstance(value, str):
            data = value.encode("utf-8", "surrogateescape")
        elif isinstance(value, (bytes, bytearray)):
            data = value
        else:
            raise XdrError(f"string expected, not {type(value).__name__}")
        n = len(data)
        if n > self.maximum:
            raise XdrError(f"string of {n} bytes exceeds maximum {self.maximum}")
        buf += _pack_uint(n)
        buf += data
        buf += _PAD[n & 3]

    def _dec(self, data: Any, pos: int) -> tuple[str, int]:
        n = _dec_count(data, pos)
        if n > self.maximum:
            raise XdrError(f"string length {n} exceeds maximum {self.maximum}")
        pos += 4
        stop = pos + ((n + 3) & ~3)
        if stop > len(data):
            raise _past_end("string", n, pos, data)
        return str(data[pos : pos + n], "utf-8", "surrogateescape"), stop

    def __repr__(self) -> str:
        return f"String({self.maximum})"


def _check_bytes(data: Any) -> None:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise XdrError(f"opaque data must be bytes, not {type(data).__name__}")


class Opaque(Codec):
    """``opaque x[n]``: exactly ``n`` raw bytes, padded to 4."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.min_size = (size + 3) & ~3

    def _enc(self, buf: bytearray, value: Any) -> None:
        _check_bytes(value)
        if len(value) != self.size:
            raise XdrError(f"fixed opaque needs {self.size} bytes, got {len(value)}")
        buf += value
        buf += _PAD[self.size & 3]

    def _dec(self, data: Any, pos: int) -> tuple[bytes, int]:
        stop = pos + self.min_size
        if stop > len(data):
            raise _past_end("fixed opaque", self.size, pos, data)
        return bytes(data[pos : pos + self.size]), stop

    def __repr__(self) -> str:
        return f"Opaque({self.size})"


class VarOpaque(Codec):
    """``opaque x<max>``: u32 length and raw bytes."""

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum

    def _enc(self, buf: bytearray, value: Any) -> None:
        _check_bytes(value)
        n = len(value)
        if n > self.maximum:
            raise XdrError(f"opaque data of {n} bytes exceeds maximum {self.maximum}")
        buf += _pack_uint(n)
        buf += value
        buf += _PAD[n & 3]

    def _dec(self, data: Any, pos: int) -> tuple[bytes, int]:
        n = _dec_count(data, pos)
        if n > self.maximum:
            raise XdrError(f"opaque length {n} exceeds maximum {self.maximum}")
        pos += 4
        stop = pos + ((n + 3) & ~3)
        if stop > len(data):
            raise _past_end("opaque", n, pos, data)
        return bytes(data[pos : pos + n]), stop

    def __repr__(self) -> str:
        return f"VarOpaque({self.maximum})"


def _char_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise XdrError(f"string expected for a char array, not {type(value).__name__}")


def _enc_chars(buf: bytearray, data: bytes) -> None:
    # One 4-byte int per char; C's char is signed on the platforms libvirt
    # runs on, so 0x80..0xff go out negative (sign-extended): a "b" view.
    buf += _pack(f">{len(data)}i", *memoryview(data).cast("b"))


def _chars_to_str(values: Sequence[int]) -> str:
    data = bytes(v & 0xFF for v in values)
    nul = data.find(b"\0")
    if nul >= 0:
        data = data[:nul]
    return data.decode("utf-8", "surrogateescape")


def _dec_chars(data: Any, pos: int, n: int) -> tuple[str, int]:
    stop = pos + 4 * n
    if stop > len(data):
        raise _truncated(f"{n} ints", pos)
    return _chars_to_str(_unpack_from(f">{n}i", data, pos)), stop


class CharArray(Codec):
    """``char x<max>``: u32 count, then one 4-byte int per char.

    The value is a ``str``.  Packing appends the C string's trailing NUL (as
    libvirtd does, counting ``strlen + 1``) unless the string is empty, which
    goes out as count 0.  Unpacking stops at the first NUL.
    """

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum

    def _enc(self, buf: bytearray, value: Any) -> None:
        data = _char_bytes(value)
        if data and not data.endswith(b"\0"):
            data += b"\0"
        if len(data) > self.maximum:
            raise XdrError(f"array of {len(data)} elements exceeds maximum {self.maximum}")
        buf += _pack_uint(len(data))
        _enc_chars(buf, data)

    def _dec(self, data: Any, pos: int) -> tuple[str, int]:
        n = _dec_array_length(data, pos, self.maximum, 4)
        return _dec_chars(data, pos + 4, n)

    def __repr__(self) -> str:
        return f"CharArray({self.maximum})"


class CharVector(Codec):
    """``char x[n]``: exactly ``n`` chars, 4 bytes each, NUL-padded."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.min_size = 4 * size

    def _enc(self, buf: bytearray, value: Any) -> None:
        data = _char_bytes(value)
        if len(data) > self.size:
            raise XdrError(f"char[{self.size}] cannot hold {len(data)} bytes")
        _enc_chars(buf, data.ljust(self.size, b"\0"))

    def _dec(self, data: Any, pos: int) -> tuple[str, int]:
        return _dec_chars(data, pos, self.size)

    def __repr__(self) -> str:
        return f"CharVector({self.size})"


class Optional(Codec):
    """``T *x``: u32 0 for ``None``, or u32 1 followed by the value."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec

    def _enc(self, buf: bytearray, value: Any) -> None:
        if value is None:
            buf += b"\0\0\0\0"
        else:
            buf += b"\0\0\0\1"
            self.codec._enc(buf, value)

    def _dec(self, data: Any, pos: int) -> tuple[Any, int]:
        flag = _dec_count(data, pos)
        if flag == 0:
            return None, pos + 4
        if flag != 1:
            raise XdrError(f"invalid optional-data flag {flag}")
        return self.codec._dec(data, pos + 4)

    def __repr__(self) -> str:
        return f"Optional({self.codec!r})"


def _dec_array_length(data: Any, pos: int, maximum: int, min_item_size: int) -> int:
    """Read an array's u32 count at ``pos`` and check it against ``maximum`` and the bytes left."""
    n = _dec_count(data, pos)
    if n > maximum:
        raise XdrError(f"array length {n} exceeds maximum {maximum}")
    left = len(data) - pos - 4
    if n * min_item_size > left:
        raise XdrError(f"array of {n} elements cannot fit in the {left} bytes left")
    return n


class Array(Codec):
    """``T x<max>``: u32 count then the elements; the value is a list."""

    def __init__(self, codec: Codec, maximum: int) -> None:
        self.codec = codec
        self.maximum = maximum
        # arrays of plain numbers go through one struct call
        self._fmt: str | None = getattr(codec, "fmt", None) if isinstance(codec, _NumberCodec) else None

    def _enc(self, buf: bytearray, value: Any) -> None:
        if type(value) is list or type(value) is tuple:
            items = value
        elif isinstance(value, (str, bytes, _abc("Mapping"))) or not isinstance(value, _abc("Iterable")):
            raise XdrError(f"array value must be a list, not {type(value).__name__}")
        else:
            items = value if isinstance(value, (list, tuple)) else list(value)
        n = len(items)
        if n > self.maximum:
            raise XdrError(f"array of {n} elements exceeds maximum {self.maximum}")
        buf += _pack_uint(n)
        if self._fmt is not None:
            try:
                buf += _pack(f">{n}{self._fmt}", *items)
                return
            except (_StructError, TypeError):
                pass  # element by element, for the element's own error
        enc = self.codec._enc
        for item in items:
            enc(buf, item)

    def _dec(self, data: Any, pos: int) -> tuple[list[Any], int]:
        codec = self.codec
        n = _dec_array_length(data, pos, self.maximum, codec.min_size)
        pos += 4
        if self._fmt is not None:
            return list(_unpack_from(f">{n}{self._fmt}", data, pos)), pos + n * codec.min_size
        if type(codec) is Struct:
            return codec._dec_many(data, pos, n)
        dec = codec._dec
        out: list[Any] = []
        append = out.append
        for _ in range(n):
            item, pos = dec(data, pos)
            append(item)
        return out, pos

    def __repr__(self) -> str:
        return f"Array({self.codec!r}, {self.maximum})"


def _enc_fields(buf: bytearray, value: Any, fields: Sequence[tuple[str, Codec]]) -> None:
    for name, codec in fields:
        try:
            item = value[name]
        except KeyError:
            raise XdrError(f"missing struct field {name!r}") from None
        codec._enc(buf, item)


def _fixed_format(codec: Codec) -> str | None:
    """The struct format of a codec that is a plain fixed-size block (a number or a fixed opaque)."""
    if isinstance(codec, _NumberCodec):
        return codec.fmt
    if isinstance(codec, Opaque):
        pad = codec.min_size - codec.size
        return f"{codec.size}s" + (f"{pad}x" if pad else "")
    return None


# Struct decoding plan steps: a run of fixed-size fields read with one struct
# call, a string field decoded inline, or any other field's own codec.
_STEP_FIXED, _STEP_STRING, _STEP_CODEC = 0, 1, 2
_UNPLANNED: Any = object()


class Struct(Codec):
    """A struct: its value is a dict keyed by the field names, in wire order."""

    def __init__(self, fields: Sequence[tuple[str, Codec]]) -> None:
        self.fields = tuple(fields)
        self.min_size = sum(c.min_size for _, c in self.fields)
        # the encoding and decoding plans are made on first use: most of the
        # table's structs are never used by a given process
        self._steps: tuple[tuple[int, Any, Any], ...] | None = None
        self._enc_steps: tuple[tuple[int, Any, Any], ...] | None = None
        self._named: Any = _UNPLANNED

    def _plan_dec(self) -> tuple[tuple[int, Any, Any], ...]:
        # Runs of consecutive fixed-size fields (numbers, fixed opaques such as
        # a uuid) are unpacked with one struct call each.
        steps: list[tuple[int, Any, Any]] = []
        run: list[tuple[str, Codec]] = []

        def flush() -> None:
            if len(run) == 1:
                steps.append((_STEP_CODEC, run[0][0], run[0][1]._dec))
            elif run:
                fmt = ">" + "".join(_fixed_format(c) or "" for _, c in run)
                steps.append((_STEP_FIXED, tuple(n for n, _ in run), (_Struct(fmt), tuple(run))))
            run.clear()

        for name, codec in self.fields:
            if _fixed_format(codec) is not None:
                run.append((name, codec))
                continue
            flush()
            if type(codec) is String:
                steps.append((_STEP_STRING, name, codec.maximum))
            else:
                steps.append((_STEP_CODEC, name, codec._dec))
        flush()
        self._steps = tuple(steps)
        return self._steps

    def _plan_enc(self) -> tuple[tuple[int, Any, Any], ...]:
        # Strings inline, runs of plain numbers with one struct call (a struct
        # call accepts and refuses exactly what the single ones do; after an
        # error the run is redone field by field for its wording).
        steps: list[tuple[int, Any, Any]] = []
        nums: list[tuple[str, Codec]] = []
        for name, codec in [*self.fields, ("", Void)]:
            if isinstance(codec, _NumberCodec):
                nums.append((name, codec))
                continue
            if len(nums) > 1:
                fmt = ">" + "".join(c.fmt for _, c in nums)  # type: ignore[attr-defined]
                steps.append((_STEP_FIXED, tuple(nums), _Struct(fmt).pack))
            elif nums:
                steps.append((_STEP_CODEC, nums[0][0], nums[0][1]._enc))
            nums.clear()
            if codec is Void:
                break
            if type(codec) is String:
                steps.append((_STEP_STRING, name, codec))
            else:
                steps.append((_STEP_CODEC, name, codec._enc))
        self._enc_steps = tuple(steps)
        return self._enc_steps

    def _enc(self, buf: bytearray, value: Any) -> None:
        if type(value) is not dict and not isinstance(value, _abc("Mapping")):
            raise XdrError(f"struct value must be a dict, not {type(value).__name__}")
        for step, name, arg in self._enc_steps or self._plan_enc():
            if step == _STEP_FIXED:
                try:
                    buf += arg(*[value[field] for field, _ in name])
                except (KeyError, _StructError, TypeError):
                    _enc_fields(bytearray(), value, name)  # raises the exact error
                    raise XdrError(f"cannot pack the fields {[f for f, _ in name]}") from None
                continue
            try:
                item = value[name]
            except KeyError:
                raise XdrError(f"missing struct field {name!r}") from None
            if step == _STEP_STRING:
                if type(item) is str:
                    data = item.encode("utf-8", "surrogateescape")
                    n = len(data)
                    if n <= arg.maximum:
                        buf += _pack_uint(n)
                        buf += data
                        buf += _PAD[n & 3]
                        continue
                arg._enc(buf, item)
            else:
                arg(buf, item)

    def _dec(self, data: Any, pos: int) -> tuple[dict[str, Any], int]:
        out: dict[str, Any] = {}
        for step, name, arg in self._steps or self._plan_dec():
            if step == _STEP_STRING:
                try:
                    n = _unpack_uint(data, pos)[0]
                except _StructError:
                    raise _truncated("unsigned int", pos) from None
                if n > arg:
                    raise XdrError(f"string length {n} exceeds maximum {arg}")
                pos += 4
                stop = pos + ((n + 3) & ~3)
                if stop > len(data):
                    raise _past_end("string", n, pos, data)
                out[name] = str(data[pos : pos + n], "utf-8", "surrogateescape")
                pos = stop
            elif step == _STEP_FIXED:
                fixed, run = arg
                try:
                    values = fixed.unpack_from(data, pos)
                except _StructError:
                    for field, codec in run:  # raises the exact error of the short field
                        out[field], pos = codec._dec(data, pos)
                    raise XdrError(f"truncated XDR data at offset {pos}") from None
                for field, item in zip(name, values, strict=True):
                    out[field] = item
                pos += fixed.size
            else:
                out[name], pos = arg(data, pos)
        return out, pos

    def _named_plan(self) -> tuple[str, int, Any, tuple[str, ...]] | None:
        """For a string followed only by fixed-size fields: (its name, its maximum, the
        struct of the fixed fields, their names).  None for any other struct."""
        plan = self._named
        if plan is _UNPLANNED:
            plan = None
            fields = self.fields
            rest = fields[1:]
            if rest and type(fields[0][1]) is String and all(_fixed_format(c) for _, c in rest):
                fmt = ">" + "".join(_fixed_format(c) or "" for _, c in rest)
                plan = (fields[0][0], fields[0][1].maximum, _Struct(fmt), tuple(n for n, _ in rest))
            self._named = plan
        return plan

    def _dec_many(self, data: Any, pos: int, n: int) -> tuple[list[dict[str, Any]], int]:
        """``n`` structs in a row (an array's items)."""
        out: list[dict[str, Any]] = []
        append = out.append
        plan = self._named_plan()
        if plan is not None and type(data) is bytes:
            # a name then fixed fields (remote_nonnull_domain, _network, ...: the
            # items of every list-all reply): one loop, no call per item
            key, maximum, fixed, names = plan
            unpack, size, end = fixed.unpack_from, fixed.size, len(data)
            width = len(names)
            first = names[0]
            second = names[1] if width > 1 else ""
            for _ in range(n):
                if pos + 4 > end:
                    break
                length = _unpack_uint(data, pos)[0]
                start = pos + 4
                stop = start + ((length + 3) & ~3)
                if length > maximum or stop + size > end:
                    break  # the generic loop below reports it
                name = data[start : start + length].decode("utf-8", "surrogateescape")
                values = unpack(data, stop)
                if width == 2:
                    append({key: name, first: values[0], second: values[1]})
                elif width == 1:
                    append({key: name, first: values[0]})
                else:
                    item = {key: name}
                    item.update(zip(names, values, strict=True))
                    append(item)
                pos = stop + size
            else:
                return out, pos
            n -= len(out)
        dec = self._dec
        for _ in range(n):
            value, pos = dec(data, pos)
            append(value)
        return out, pos

    def __repr__(self) -> str:
        return "Struct([" + ", ".join(f"({n!r}, {c!r})" for n, c in self.fields) + "])"


class Union(Codec):
    """A discriminated union on an int: the value is ``(discriminant, arm value)``."""

    def __init__(self, arms: Mapping[int, Codec]) -> None:
        self.arms = dict(arms)
        # number arms: discriminant and value read with one struct call
        self._numbers = {
            disc: _Struct(">i" + codec.fmt).unpack_from
            for disc, codec in self.arms.items()
            if isinstance(codec, _NumberCodec)
        }

    def _enc(self, buf: bytearray, value: Any) -> None:
        try:
            disc, arm_value = value
        except (TypeError, ValueError):
            raise XdrError(f"union value must be a (discriminant, value) pair, got {value!r}") from None
        codec = self.arms.get(disc)
        if codec is None:
            raise XdrError(f"invalid union discriminant {disc!r}")
        try:
            buf += _pack_int(disc)
        except (_StructError, TypeError) as err:
            raise XdrError(f"int out of range: {disc!r}") from err
        codec._enc(buf, arm_value)

    def _dec(self, data: Any, pos: int) -> tuple[tuple[int, Any], int]:
        try:
            disc = _unpack_int(data, pos)[0]
        except _StructError:
            raise _truncated("int", pos) from None
        number = self._numbers.get(disc)
        if number is not None:
            try:
                return number(data, pos), pos + 4 + self.arms[disc].min_size
            except _StructError:
                pass  # short: the arm's codec words the error
        codec = self.arms.get(disc)
        if codec is None:
            raise XdrError(f"invalid union discriminant {disc}")
        value, pos = codec._dec(data, pos + 4)
        return (disc, value), pos

    def __repr__(self) -> str:
        return f"Union({self.arms!r})"


Void: Codec = _VoidCodec()
Int: Codec = _NumberCodec("Int", "i", "int", "int out of range")
UInt: Codec = _NumberCodec("UInt", "I", "unsigned int", "unsigned int out of range")
Hyper: Codec = _NumberCodec("Hyper", "q", "hyper", "hyper out of range")
UHyper: Codec = _NumberCodec("UHyper", "Q", "unsigned hyper", "unsigned hyper out of range")
Bool: Codec = _BoolCodec()
Double: Codec = _NumberCodec("Double", "d", "double", "not a double")
Char: Codec = _SmallIntCodec("Char", 8, True)
UChar: Codec = _SmallIntCodec("UChar", 8, False)
UShort: Codec = _SmallIntCodec("UShort", 16, False)


def encode(codec: Codec, value: Any) -> bytes:
    """Encode ``value`` with ``codec``; raises :class:`XdrError` if it does not fit."""
    buf = bytearray()
    codec._enc(buf, value)
    return bytes(buf)


def decode(codec: Codec, data: bytes | bytearray | memoryview, *, strict: bool = False) -> Any:
    """Decode ``data`` with ``codec``.

    Trailing bytes are ignored (libvirt's clients accept them too) unless
    ``strict``.  Raises :class:`XdrError` on malformed data.
    """
    value, pos = codec._dec(data, 0)
    if strict and pos < len(data):
        raise XdrError(f"{len(data) - pos} unexpected trailing bytes")
    return value


# ---------------------------------------------------------------------------
# remote_protocol.x types
# ---------------------------------------------------------------------------

# List maxima (remote_protocol.x)
DOMAIN_LIST_MAX = 16384
NETWORK_LIST_MAX = 16384
STORAGE_POOL_LIST_MAX = 4096
STORAGE_VOL_LIST_MAX = 16384
CPUMAP_MAX = 2048
VCPUINFO_MAX = 16384
CPUMAPS_MAX = 8388608
AUTH_TYPE_LIST_MAX = 20
DOMAIN_SNAPSHOT_LIST_MAX = 1024
DOMAIN_MEMORY_STATS_MAX = 1024
DOMAIN_SCHEDULER_PARAMETERS_MAX = 16
DOMAIN_BLKIO_PARAMETERS_MAX = 16
DOMAIN_MEMORY_PARAMETERS_MAX = 16
DOMAIN_NUMA_PARAMETERS_MAX = 16
DOMAIN_INTERFACE_PARAMETERS_MAX = 16
DOMAIN_BLOCK_STATS_PARAMETERS_MAX = 16
DOMAIN_GET_CPU_STATS_MAX = 2048
DOMAIN_JOB_STATS_MAX = 64
DOMAIN_SEND_KEY_MAX = 16
NODE_CPU_STATS_MAX = 16
NODE_MEMORY_STATS_MAX = 16
NODE_MAX_CELLS = 1024
CPU_BASELINE_MAX = 256
CONNECT_CPU_MODELS_MAX = 8192
NETWORK_DHCP_LEASES_MAX = 65536
CONNECT_GET_ALL_DOMAIN_STATS_MAX = 4096
DOMAIN_INTERFACE_MAX = 2048
DOMAIN_IP_ADDR_MAX = 2048
DOMAIN_MESSAGES_MAX = 2048
# VIR_SECURITY_*_BUFLEN from libvirt-host.h
SECURITY_MODEL_MAX = 256 + 1
SECURITY_DOI_MAX = 256 + 1
SECURITY_LABEL_MAX = 4096 + 1
UUID_BUFLEN = 16

NonnullString = String(STRING_MAX)
OptString = Optional(NonnullString)
UUID = Opaque(UUID_BUFLEN)
NonnullDomain = Struct([("name", NonnullString), ("uuid", UUID), ("id", Int)])
NonnullNetwork = Struct([("name", NonnullString), ("uuid", UUID)])
NonnullStoragePool = Struct([("name", NonnullString), ("uuid", UUID)])
NonnullStorageVol = Struct([("pool", NonnullString), ("name", NonnullString), ("key", NonnullString)])
NonnullDomainSnapshot = Struct([("name", NonnullString), ("dom", NonnullDomain)])
OptDomain = Optional(NonnullDomain)
OptNetwork = Optional(NonnullNetwork)
OptStoragePool = Optional(NonnullStoragePool)


# virTypedParameterType values (TypedParamType has the same as an IntEnum).
_TP_INT, _TP_UINT, _TP_LLONG, _TP_ULLONG, _TP_DOUBLE, _TP_BOOLEAN, _TP_STRING = range(1, 8)

if TYPE_CHECKING:

    class TypedParamType(enum.IntEnum):
        """``virTypedParameterType``: the discriminant of ``remote_typed_param_value``."""

        INT = 1
        UINT = 2
        LLONG = 3
        ULLONG = 4
        DOUBLE = 5
        BOOLEAN = 6
        STRING = 7


def _typed_param_type() -> type[TypedParamType]:
    """The :class:`TypedParamType` IntEnum, built on first use (``enum`` is slow to import)."""
    known: type[TypedParamType] | None = globals().get("TypedParamType")
    if known is not None:
        return known
    import enum

    cls: Any = enum.IntEnum(  # type: ignore[misc]
        "TypedParamType",
        {"INT": 1, "UINT": 2, "LLONG": 3, "ULLONG": 4, "DOUBLE": 5, "BOOLEAN": 6, "STRING": 7},
        module=__name__,
    )
    cls.__doc__ = "``virTypedParameterType``: the discriminant of ``remote_typed_param_value``."
    globals()["TypedParamType"] = cls
    return globals()["TypedParamType"]  # type: ignore[no-any-return]


def __getattr__(name: str) -> Any:
    if name == "TypedParamType":
        return _typed_param_type()
    if name == "PROC_NUMBERS":
        return _proc_numbers()
    if name == "PROC_NAMES":
        return _proc_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


TypedParamValue = Union(
    {
        _TP_INT: Int,
        _TP_UINT: UInt,
        _TP_LLONG: Hyper,
        _TP_ULLONG: UHyper,
        _TP_DOUBLE: Double,
        _TP_BOOLEAN: Int,
        _TP_STRING: NonnullString,
    }
)
#: ``remote_typed_param``: ``{"field": str, "value": (TypedParamType, value)}``.
TypedParam = Struct([("field", NonnullString), ("value", TypedParamValue)])


def typed_param(field: str, value: Any, type: int | None = None) -> dict[str, Any]:
    """Build one ``remote_typed_param`` value.

    Without ``type`` it is guessed from the Python value: ``bool`` ->
    BOOLEAN, ``int`` -> LLONG if negative else ULLONG, ``float`` -> DOUBLE,
    ``str`` -> STRING.  Raises :class:`XdrError` for other value types.
    """
    if type is None:
        if isinstance(value, bool):
            type = _TP_BOOLEAN
        elif isinstance(value, int):
            type = _TP_LLONG if value < 0 else _TP_ULLONG
        elif isinstance(value, float):
            type = _TP_DOUBLE
        elif isinstance(value, str):
            type = _TP_STRING
        else:
            raise XdrError(f"cannot guess a typed parameter type for {value!r}")
    if type == _TP_BOOLEAN:
        value = 1 if value else 0
    return {"field": field, "value": (_typed_param_type()(type), value)}


def typed_params_to_dict(params: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Flatten decoded typed parameters into ``{field: python value}``."""
    out: dict[str, Any] = {}
    for p in params:
        ptype, value = p["value"]
        out[p["field"]] = bool(value) if ptype == _TP_BOOLEAN else value
    return out


VcpuInfo = Struct([("number", UInt), ("state", Int), ("cpu_time", UHyper), ("cpu", Int)])
DomainMemoryStat = Struct([("tag", Int), ("val", UHyper)])
NodeStat = Struct([("field", NonnullString), ("value", UHyper)])
NetworkDhcpLease = Struct(
    [
        ("iface", NonnullString),
        ("expirytime", Hyper),
        ("type", Int),
        ("mac", OptString),
        ("iaid", OptString),
        ("ipaddr", NonnullString),
        ("prefix", UInt),
        ("hostname", OptString),
        ("clientid", OptString),
    ]
)
DomainIpAddr = Struct([("type", Int), ("addr", NonnullString), ("prefix", UInt)])
DomainInterface = Struct(
    [("name", NonnullString), ("hwaddr", OptString), ("addrs", Array(DomainIpAddr, DOMAIN_IP_ADDR_MAX))]
)
DomainStatsRecord = Struct(
    [("dom", NonnullDomain), ("params", Array(TypedParam, CONNECT_GET_ALL_DOMAIN_STATS_MAX))]
)

#: ``remote_error`` (the payload of every error reply).
REMOTE_ERROR = Struct(
    [
        ("code", Int),
        ("domain", Int),
        ("message", OptString),
        ("level", Int),
        ("dom", OptDomain),
        ("str1", OptString),
        ("str2", OptString),
        ("str3", OptString),
        ("int1", Int),
        ("int2", Int),
        ("net", OptNetwork),
    ]
)


def encode_error(err: VirtError) -> bytes:
    """Encode ``err`` as a ``remote_error`` payload (``dom``/``net`` are sent as NULL).

    Raises :class:`XdrError` if a field does not fit (e.g. a message over 4 MiB).
    """
    return encode(
        REMOTE_ERROR,
        {
            "code": err.code,
            "domain": err.domain,
            "message": err.message,
            "level": err.level,
            "dom": None,
            "str1": err.str1,
            "str2": err.str2,
            "str3": err.str3,
            "int1": err.int1,
            "int2": err.int2,
            "net": None,
        },
    )


def decode_error(payload: bytes | bytearray | memoryview) -> VirtError:
    """Decode a ``remote_error`` payload, keeping the server's message verbatim.

    Raises :class:`XdrError` if the payload is malformed.
    """
    e = decode(REMOTE_ERROR, payload)
    message = e["message"]
    return VirtError(
        e["code"],
        e["domain"],
        e["str2"],
        raw_message=message if message is not None else "Unknown error",
        str1=e["str1"],
        str2=e["str2"],
        str3=e["str3"],
        int1=e["int1"],
        int2=e["int2"],
        level=e["level"],
    )


# ---------------------------------------------------------------------------
# Procedures
# ---------------------------------------------------------------------------


class Proc:
    """REMOTE_PROC_* numbers (names without the prefix) of the procedures in the table.

    A plain class of int constants rather than an ``IntEnum``: building a
    ~200-member enum costs several milliseconds at import, which every
    ``pyvirsh`` run pays.  :data:`PROC_NUMBERS` and :data:`PROC_NAMES` map
    names to numbers and back.
    """

    CONNECT_OPEN = 1
    CONNECT_CLOSE = 2
    CONNECT_GET_TYPE = 3
    CONNECT_GET_VERSION = 4
    CONNECT_GET_MAX_VCPUS = 5
    NODE_GET_INFO = 6
    CONNECT_GET_CAPABILITIES = 7
    DOMAIN_ATTACH_DEVICE = 8
    DOMAIN_CREATE = 9
    DOMAIN_CREATE_XML = 10
    DOMAIN_DEFINE_XML = 11
    DOMAIN_DESTROY = 12
    DOMAIN_DETACH_DEVICE = 13
    DOMAIN_GET_XML_DESC = 14
    DOMAIN_GET_AUTOSTART = 15
    DOMAIN_GET_INFO = 16
    DOMAIN_GET_MAX_MEMORY = 17
    DOMAIN_GET_MAX_VCPUS = 18
    DOMAIN_GET_OS_TYPE = 19
    DOMAIN_GET_VCPUS = 20
    CONNECT_LIST_DEFINED_DOMAINS = 21
    DOMAIN_LOOKUP_BY_ID = 22
    DOMAIN_LOOKUP_BY_NAME = 23
    DOMAIN_LOOKUP_BY_UUID = 24
    CONNECT_NUM_OF_DEFINED_DOMAINS = 25
    DOMAIN_PIN_VCPU = 26
    DOMAIN_REBOOT = 27
    DOMAIN_RESUME = 28
    DOMAIN_SET_AUTOSTART = 29
    DOMAIN_SET_MAX_MEMORY = 30
    DOMAIN_SET_MEMORY = 31
    DOMAIN_SET_VCPUS = 32
    DOMAIN_SHUTDOWN = 33
    DOMAIN_SUSPEND = 34
    DOMAIN_UNDEFINE = 35
    CONNECT_LIST_DEFINED_NETWORKS = 36
    CONNECT_LIST_DOMAINS = 37
    CONNECT_LIST_NETWORKS = 38
    NETWORK_CREATE = 39
    NETWORK_CREATE_XML = 40
    NETWORK_DEFINE_XML = 41
    NETWORK_DESTROY = 42
    NETWORK_GET_XML_DESC = 43
    NETWORK_GET_AUTOSTART = 44
    NETWORK_GET_BRIDGE_NAME = 45
    NETWORK_LOOKUP_BY_NAME = 46
    NETWORK_LOOKUP_BY_UUID = 47
    NETWORK_SET_AUTOSTART = 48
    NETWORK_UNDEFINE = 49
    CONNECT_NUM_OF_DEFINED_NETWORKS = 50
    CONNECT_NUM_OF_DOMAINS = 51
    CONNECT_NUM_OF_NETWORKS = 52
    DOMAIN_RESTORE = 54
    DOMAIN_SAVE = 55
    DOMAIN_GET_SCHEDULER_TYPE = 56
    DOMAIN_GET_SCHEDULER_PARAMETERS = 57
    CONNECT_GET_HOSTNAME = 59
    CONNECT_SUPPORTS_FEATURE = 60
    DOMAIN_BLOCK_STATS = 64
    DOMAIN_INTERFACE_STATS = 65
    AUTH_LIST = 66
    AUTH_SASL_INIT = 67
    AUTH_POLKIT = 70
    CONNECT_NUM_OF_STORAGE_POOLS = 71
    CONNECT_LIST_STORAGE_POOLS = 72
    CONNECT_NUM_OF_DEFINED_STORAGE_POOLS = 73
    CONNECT_LIST_DEFINED_STORAGE_POOLS = 74
    STORAGE_POOL_CREATE_XML = 76
    STORAGE_POOL_DEFINE_XML = 77
    STORAGE_POOL_CREATE = 78
    STORAGE_POOL_BUILD = 79
    STORAGE_POOL_DESTROY = 80
    STORAGE_POOL_DELETE = 81
    STORAGE_POOL_UNDEFINE = 82
    STORAGE_POOL_REFRESH = 83
    STORAGE_POOL_LOOKUP_BY_NAME = 84
    STORAGE_POOL_LOOKUP_BY_UUID = 85
    STORAGE_POOL_LOOKUP_BY_VOLUME = 86
    STORAGE_POOL_GET_INFO = 87
    STORAGE_POOL_GET_XML_DESC = 88
    STORAGE_POOL_GET_AUTOSTART = 89
    STORAGE_POOL_SET_AUTOSTART = 90
    STORAGE_POOL_NUM_OF_VOLUMES = 91
    STORAGE_POOL_LIST_VOLUMES = 92
    STORAGE_VOL_CREATE_XML = 93
    STORAGE_VOL_DELETE = 94
    STORAGE_VOL_LOOKUP_BY_NAME = 95
    STORAGE_VOL_LOOKUP_BY_KEY = 96
    STORAGE_VOL_LOOKUP_BY_PATH = 97
    STORAGE_VOL_GET_INFO = 98
    STORAGE_VOL_GET_XML_DESC = 99
    STORAGE_VOL_GET_PATH = 100
    NODE_GET_CELLS_FREE_MEMORY = 101
    NODE_GET_FREE_MEMORY = 102
    CONNECT_DOMAIN_EVENT_REGISTER = 105
    CONNECT_DOMAIN_EVENT_DEREGISTER = 106
    DOMAIN_EVENT_LIFECYCLE = 107
    CONNECT_GET_URI = 110
    DOMAIN_GET_SECURITY_LABEL = 121
    NODE_GET_SECURITY_MODEL = 122
    STORAGE_VOL_CREATE_XML_FROM = 125
    CONNECT_IS_SECURE = 149
    DOMAIN_IS_ACTIVE = 150
    DOMAIN_IS_PERSISTENT = 151
    NETWORK_IS_ACTIVE = 152
    NETWORK_IS_PERSISTENT = 153
    STORAGE_POOL_IS_ACTIVE = 154
    STORAGE_POOL_IS_PERSISTENT = 155
    CONNECT_GET_LIB_VERSION = 157
    CONNECT_COMPARE_CPU = 158
    DOMAIN_MEMORY_STATS = 159
    DOMAIN_ATTACH_DEVICE_FLAGS = 160
    DOMAIN_DETACH_DEVICE_FLAGS = 161
    CONNECT_BASELINE_CPU = 162
    DOMAIN_GET_JOB_INFO = 163
    DOMAIN_ABORT_JOB = 164
    STORAGE_VOL_WIPE = 165
    CONNECT_DOMAIN_EVENT_REGISTER_ANY = 167
    CONNECT_DOMAIN_EVENT_DEREGISTER_ANY = 168
    DOMAIN_EVENT_REBOOT = 169
    DOMAIN_UPDATE_DEVICE_FLAGS = 174
    DOMAIN_MANAGED_SAVE = 182
    DOMAIN_HAS_MANAGED_SAVE_IMAGE = 183
    DOMAIN_MANAGED_SAVE_REMOVE = 184
    DOMAIN_SNAPSHOT_NUM = 187
    DOMAIN_SNAPSHOT_LIST_NAMES = 188
    DOMAIN_HAS_CURRENT_SNAPSHOT = 190
    DOMAIN_GET_BLOCK_INFO = 194
    DOMAIN_CREATE_WITH_FLAGS = 196
    DOMAIN_GET_MEMORY_PARAMETERS = 198
    DOMAIN_SET_VCPUS_FLAGS = 199
    DOMAIN_GET_VCPUS_FLAGS = 200
    DOMAIN_OPEN_CONSOLE = 201
    DOMAIN_IS_UPDATED = 202
    CONNECT_GET_SYSINFO = 203
    DOMAIN_SET_MEMORY_FLAGS = 204
    DOMAIN_GET_BLKIO_PARAMETERS = 206
    DOMAIN_INJECT_NMI = 210
    DOMAIN_GET_STATE = 212
    DOMAIN_GET_SCHEDULER_PARAMETERS_FLAGS = 223
    DOMAIN_SEND_KEY = 226
    NODE_GET_CPU_STATS = 227
    NODE_GET_MEMORY_STATS = 228
    DOMAIN_GET_CONTROL_INFO = 229
    DOMAIN_GET_VCPU_PIN_INFO = 230
    DOMAIN_UNDEFINE_FLAGS = 231
    DOMAIN_SAVE_FLAGS = 232
    DOMAIN_RESTORE_FLAGS = 233
    DOMAIN_DESTROY_FLAGS = 234
    DOMAIN_BLOCK_STATS_FLAGS = 243
    DOMAIN_RESET = 245
    DOMAIN_GET_NUMA_PARAMETERS = 255
    DOMAIN_GET_INTERFACE_PARAMETERS = 257
    DOMAIN_SHUTDOWN_FLAGS = 258
    STORAGE_VOL_RESIZE = 260
    DOMAIN_GET_CPU_STATS = 262
    DOMAIN_SET_METADATA = 264
    DOMAIN_GET_METADATA = 265
    CONNECT_LIST_ALL_DOMAINS = 273
    DOMAIN_LIST_ALL_SNAPSHOTS = 274
    DOMAIN_GET_HOSTNAME = 277
    CONNECT_LIST_ALL_STORAGE_POOLS = 281
    STORAGE_POOL_LIST_ALL_VOLUMES = 282
    CONNECT_LIST_ALL_NETWORKS = 283
    NETWORK_UPDATE = 291
    NODE_GET_CPU_MAP = 293
    DOMAIN_GET_JOB_STATS = 298
    CONNECT_GET_CPU_MODEL_NAMES = 312
    CONNECT_NETWORK_EVENT_REGISTER_ANY = 313
    CONNECT_NETWORK_EVENT_DEREGISTER_ANY = 314
    NETWORK_EVENT_LIFECYCLE = 315
    CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY = 316
    CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY = 317
    DOMAIN_EVENT_CALLBACK_LIFECYCLE = 318
    DOMAIN_EVENT_CALLBACK_REBOOT = 319
    DOMAIN_EVENT_CALLBACK_DEVICE_REMOVED = 333
    DOMAIN_GET_TIME = 337
    NETWORK_GET_DHCP_LEASES = 341
    CONNECT_GET_DOMAIN_CAPABILITIES = 342
    CONNECT_GET_ALL_DOMAIN_STATS = 344
    DOMAIN_EVENT_CALLBACK_AGENT_LIFECYCLE = 348
    DOMAIN_DEFINE_XML_FLAGS = 350
    DOMAIN_INTERFACE_ADDRESSES = 353
    DOMAIN_EVENT_CALLBACK_DEVICE_ADDED = 354
    DOMAIN_RENAME = 358
    CONNECT_REGISTER_CLOSE_CALLBACK = 360
    CONNECT_UNREGISTER_CLOSE_CALLBACK = 361
    CONNECT_EVENT_CONNECTION_CLOSED = 362
    CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY = 368
    CONNECT_STORAGE_POOL_EVENT_DEREGISTER_ANY = 369
    STORAGE_POOL_EVENT_LIFECYCLE = 370
    STORAGE_POOL_EVENT_REFRESH = 373
    STORAGE_VOL_GET_INFO_FLAGS = 378
    DOMAIN_GET_MESSAGES = 426
    NETWORK_DEFINE_XML_FLAGS = 432
    NETWORK_CREATE_XML_FLAGS = 437
    NETWORK_SET_METADATA = 444
    NETWORK_GET_METADATA = 445


def _proc_numbers() -> dict[str, int]:
    known: dict[str, int] | None = globals().get("PROC_NUMBERS")
    if known is None:
        known = globals()["PROC_NUMBERS"] = {k: v for k, v in vars(Proc).items() if not k.startswith("_")}
    return known


def _proc_names() -> dict[int, str]:
    known: dict[int, str] | None = globals().get("PROC_NAMES")
    if known is None:
        numbers = _proc_numbers()
        known = globals()["PROC_NAMES"] = dict(zip(numbers.values(), numbers, strict=True))
    return known


# PROC_NUMBERS and PROC_NAMES are built on first use (module __getattr__):
# looping over the ~200 names would cost every pyvirsh run.
if TYPE_CHECKING:
    #: REMOTE_PROC_* name (without the prefix) -> number.
    PROC_NUMBERS: dict[str, int]
    #: number -> REMOTE_PROC_* name (without the prefix).
    PROC_NAMES: dict[int, str]


if TYPE_CHECKING:
    #: How the table gives a procedure's codec (see :class:`Procedure`).
    CodecSpec = Codec | tuple[tuple[str, Codec], ...] | Callable[[], Codec]


class Procedure:
    """One REMOTE_PROGRAM procedure.

    ``api`` is libvirt's public function name (used in "read only access
    prevents ..."); ``readonly`` is True when the procedure is allowed on a
    read-only connection.  Some read-only procedures refuse particular flags
    or arguments on read-only connections (``DOMAIN_GET_XML_DESC`` with
    VIR_DOMAIN_XML_SECURE, ``DOMAIN_GET_VCPUS_FLAGS`` with VIR_DOMAIN_VCPU_GUEST,
    ``DOMAIN_INTERFACE_ADDRESSES`` with the agent source); the daemon checks
    those itself.

    ``args`` and ``ret`` are the codecs.  The table gives most of them as a
    tuple of ``(field, codec)`` pairs (a struct) or a factory, turned into a
    codec on first use: importing the table then builds no codec objects.
    """

    __slots__ = ("_args", "_name", "_ret", "api", "number", "readonly")

    def __init__(
        self,
        number: int,
        name: str | None,
        api: str,
        args: CodecSpec,
        ret: CodecSpec,
        readonly: bool,
    ) -> None:
        self.number = number
        self._name = name
        self.api = api
        self._args = args
        self._ret = ret
        self.readonly = readonly

    @property
    def name(self) -> str:
        """The REMOTE_PROC_* name without the prefix (looked up on first use when not given)."""
        name = self._name
        if name is None:
            name = self._name = _proc_names()[self.number]
        return name

    @property
    def args(self) -> Codec:
        """Codec of the call's arguments (or of an event's message)."""
        codec = self._args
        if not isinstance(codec, Codec):
            codec = self._args = _codec(codec)
        return codec

    @property
    def ret(self) -> Codec:
        """Codec of the reply (:data:`Void` for events)."""
        codec = self._ret
        if not isinstance(codec, Codec):
            codec = self._ret = _codec(codec)
        return codec


def _codec(spec: CodecSpec) -> Codec:
    """The codec a table entry describes: a codec, a struct's ``(field, codec)`` pairs, or a factory."""
    if isinstance(spec, Codec):
        return spec
    if isinstance(spec, tuple):
        return Struct(spec)
    return spec()

    def __repr__(self) -> str:
        return (
            f"Procedure(number={self.number}, name={self.name!r}, api={self.api!r}, readonly={self.readonly})"
        )


def _s(*fields: tuple[str, Codec]) -> Struct:
    return Struct(fields)


_DOM = ("dom", NonnullDomain)
_NET = ("net", NonnullNetwork)
_POOL = ("pool", NonnullStoragePool)
_VOL = ("vol", NonnullStorageVol)
_FLAGS = ("flags", UInt)
_XML = ("xml", NonnullString)
_CB = ("callbackID", Int)

_DOM_ONLY = _s(_DOM)
_DOM_FLAGS = _s(_DOM, _FLAGS)
_NET_ONLY = _s(_NET)
_POOL_ONLY = _s(_POOL)
_POOL_FLAGS = _s(_POOL, _FLAGS)
_VOL_FLAGS = _s(_VOL, _FLAGS)
_RET_DOM = _s(_DOM)
_RET_NET = _s(_NET)
_RET_POOL = _s(_POOL)
_RET_VOL = _s(_VOL)
_RET_XML = _s(_XML)
_NUM = _s(("num", Int))
_NAMES_ARGS = _s(("maxnames", Int))
_CALLBACK_ID = _s(_CB)
_NEED_RESULTS_FLAGS = _s(("need_results", Int), _FLAGS)
_XML_FLAGS = _s(_XML, _FLAGS)
_VOL_INFO = _s(("type", Char), ("capacity", UHyper), ("allocation", UHyper))

PROCEDURES: dict[int, Procedure] = {}
#: Procedures the server sends as events (MESSAGE type); never called.
EVENT_PROCEDURES: frozenset[int]


def _def(proc: int, api: str, args: CodecSpec, ret: CodecSpec, readonly: bool) -> None:
    if proc in PROCEDURES:
        raise RuntimeError(f"procedure {_proc_names()[proc]} ({proc}) defined twice")
    PROCEDURES[proc] = Procedure(proc, None, api, args, ret, readonly)


_EVENTS: set[int] = set()


def _event(proc: int, api: str, msg: CodecSpec) -> None:
    _def(proc, api, msg, Void, False)
    _EVENTS.add(proc)


def _names(maximum: int) -> tuple[tuple[str, Codec], ...]:
    return (("names", Array(NonnullString, maximum)),)


RO, RW = True, False
P = Proc

# -- connection, auth and host ---------------------------------------------
_def(P.CONNECT_OPEN, "virConnectOpen", (("name", OptString), _FLAGS), Void, RO)
_def(P.CONNECT_CLOSE, "virConnectClose", Void, Void, RO)
_def(P.CONNECT_GET_TYPE, "virConnectGetType", Void, (("type", NonnullString),), RO)
_def(P.CONNECT_GET_VERSION, "virConnectGetVersion", Void, (("hv_ver", UHyper),), RO)
_def(P.CONNECT_GET_MAX_VCPUS, "virConnectGetMaxVcpus", (("type", OptString),), (("max_vcpus", Int),), RO)
_def(
    P.NODE_GET_INFO,
    "virNodeGetInfo",
    Void,
    (
        ("model", CharVector(32)),
        ("memory", UHyper),
        ("cpus", Int),
        ("mhz", Int),
        ("nodes", Int),
        ("sockets", Int),
        ("cores", Int),
        ("threads", Int),
    ),
    RO,
)
_def(P.CONNECT_GET_CAPABILITIES, "virConnectGetCapabilities", Void, (("capabilities", NonnullString),), RO)
_def(P.CONNECT_GET_HOSTNAME, "virConnectGetHostname", Void, (("hostname", NonnullString),), RO)
_def(
    P.CONNECT_SUPPORTS_FEATURE,
    "virConnectSupportsFeature",
    (("feature", Int),),
    (("supported", Int),),
    RO,
)
_def(P.AUTH_LIST, "virConnectAuthList", Void, (("types", Array(Int, AUTH_TYPE_LIST_MAX)),), RO)
_def(P.AUTH_SASL_INIT, "virConnectAuthSaslInit", Void, (("mechlist", NonnullString),), RO)
_def(P.AUTH_POLKIT, "virConnectAuthPolkit", Void, (("complete", Int),), RO)
_def(P.CONNECT_GET_URI, "virConnectGetURI", Void, (("uri", NonnullString),), RO)
_def(
    P.NODE_GET_SECURITY_MODEL,
    "virNodeGetSecurityModel",
    Void,
    (("model", CharArray(SECURITY_MODEL_MAX)), ("doi", CharArray(SECURITY_DOI_MAX))),
    RO,
)
_def(P.CONNECT_IS_SECURE, "virConnectIsSecure", Void, (("secure", Int),), RO)
_def(P.CONNECT_GET_LIB_VERSION, "virConnectGetLibVersion", Void, (("lib_ver", UHyper),), RO)
_def(P.CONNECT_COMPARE_CPU, "virConnectCompareCPU", _XML_FLAGS, (("result", Int),), RO)
_def(
    P.CONNECT_BASELINE_CPU,
    "virConnectBaselineCPU",
    (("xmlCPUs", Array(NonnullString, CPU_BASELINE_MAX)), _FLAGS),
    (("cpu", NonnullString),),
    RO,
)
_def(P.CONNECT_GET_SYSINFO, "virConnectGetSysinfo", (_FLAGS,), (("sysinfo", NonnullString),), RO)
_def(
    P.NODE_GET_CELLS_FREE_MEMORY,
    "virNodeGetCellsFreeMemory",
    (("startCell", Int), ("maxcells", Int)),
    (("cells", Array(UHyper, NODE_MAX_CELLS)),),
    RO,
)
_def(P.NODE_GET_FREE_MEMORY, "virNodeGetFreeMemory", Void, (("freeMem", UHyper),), RO)
_def(
    P.NODE_GET_CPU_STATS,
    "virNodeGetCPUStats",
    (("cpuNum", Int), ("nparams", Int), _FLAGS),
    (("params", Array(NodeStat, NODE_CPU_STATS_MAX)), ("nparams", Int)),
    RO,
)
_def(
    P.NODE_GET_MEMORY_STATS,
    "virNodeGetMemoryStats",
    (("nparams", Int), ("cellNum", Int), _FLAGS),
    (("params", Array(NodeStat, NODE_MEMORY_STATS_MAX)), ("nparams", Int)),
    RO,
)
_def(
    P.NODE_GET_CPU_MAP,
    "virNodeGetCPUMap",
    (("need_map", Int), ("need_online", Int), _FLAGS),
    (("cpumap", VarOpaque(CPUMAP_MAX)), ("online", UInt), ("ret", Int)),
    RO,
)
_def(
    P.CONNECT_GET_CPU_MODEL_NAMES,
    "virConnectGetCPUModelNames",
    (("arch", NonnullString), ("need_results", Int), _FLAGS),
    (("models", Array(NonnullString, CONNECT_CPU_MODELS_MAX)), ("ret", Int)),
    RO,
)
# Refused on read-only connections since CVE-2019-10167.
_def(
    P.CONNECT_GET_DOMAIN_CAPABILITIES,
    "virConnectGetDomainCapabilities",
    (
        ("emulatorbin", OptString),
        ("arch", OptString),
        ("machine", OptString),
        ("virttype", OptString),
        _FLAGS,
    ),
    (("capabilities", NonnullString),),
    RW,
)
_def(P.CONNECT_REGISTER_CLOSE_CALLBACK, "virConnectRegisterCloseCallback", Void, Void, RO)
_def(P.CONNECT_UNREGISTER_CLOSE_CALLBACK, "virConnectUnregisterCloseCallback", Void, Void, RO)

# -- domains ---------------------------------------------------------------
_def(P.DOMAIN_ATTACH_DEVICE, "virDomainAttachDevice", (_DOM, _XML), Void, RW)
_def(P.DOMAIN_CREATE, "virDomainCreate", _DOM_ONLY, Void, RW)
_def(P.DOMAIN_CREATE_XML, "virDomainCreateXML", (("xml_desc", NonnullString), _FLAGS), _RET_DOM, RW)
_def(P.DOMAIN_DEFINE_XML, "virDomainDefineXML", (_XML,), _RET_DOM, RW)
_def(P.DOMAIN_DESTROY, "virDomainDestroy", _DOM_ONLY, Void, RW)
_def(P.DOMAIN_DETACH_DEVICE, "virDomainDetachDevice", (_DOM, _XML), Void, RW)
_def(P.DOMAIN_GET_XML_DESC, "virDomainGetXMLDesc", _DOM_FLAGS, _RET_XML, RO)
_def(P.DOMAIN_GET_AUTOSTART, "virDomainGetAutostart", _DOM_ONLY, (("autostart", Int),), RO)
_def(
    P.DOMAIN_GET_INFO,
    "virDomainGetInfo",
    _DOM_ONLY,
    (("state", UChar), ("maxMem", UHyper), ("memory", UHyper), ("nrVirtCpu", UShort), ("cpuTime", UHyper)),
    RO,
)
_def(P.DOMAIN_GET_MAX_MEMORY, "virDomainGetMaxMemory", _DOM_ONLY, (("memory", UHyper),), RO)
_def(P.DOMAIN_GET_MAX_VCPUS, "virDomainGetMaxVcpus", _DOM_ONLY, _NUM, RO)
_def(P.DOMAIN_GET_OS_TYPE, "virDomainGetOSType", _DOM_ONLY, (("type", NonnullString),), RO)
_def(
    P.DOMAIN_GET_VCPUS,
    "virDomainGetVcpus",
    (_DOM, ("maxinfo", Int), ("maplen", Int)),
    (("info", Array(VcpuInfo, VCPUINFO_MAX)), ("cpumaps", VarOpaque(CPUMAPS_MAX))),
    RO,
)
_def(P.CONNECT_LIST_DEFINED_DOMAINS, "virConnectListDefinedDomains", _NAMES_ARGS, _names(DOMAIN_LIST_MAX), RO)
_def(P.DOMAIN_LOOKUP_BY_ID, "virDomainLookupByID", (("id", Int),), _RET_DOM, RO)
_def(P.DOMAIN_LOOKUP_BY_NAME, "virDomainLookupByName", (("name", NonnullString),), _RET_DOM, RO)
_def(P.DOMAIN_LOOKUP_BY_UUID, "virDomainLookupByUUID", (("uuid", UUID),), _RET_DOM, RO)
_def(P.CONNECT_NUM_OF_DEFINED_DOMAINS, "virConnectNumOfDefinedDomains", Void, _NUM, RO)
_def(
    P.DOMAIN_PIN_VCPU,
    "virDomainPinVcpu",
    (_DOM, ("vcpu", UInt), ("cpumap", VarOpaque(CPUMAP_MAX))),
    Void,
    RW,
)
_def(P.DOMAIN_REBOOT, "virDomainReboot", _DOM_FLAGS, Void, RW)
_def(P.DOMAIN_RESUME, "virDomainResume", _DOM_ONLY, Void, RW)
_def(P.DOMAIN_SET_AUTOSTART, "virDomainSetAutostart", (_DOM, ("autostart", Int)), Void, RW)
_def(P.DOMAIN_SET_MAX_MEMORY, "virDomainSetMaxMemory", (_DOM, ("memory", UHyper)), Void, RW)
_def(P.DOMAIN_SET_MEMORY, "virDomainSetMemory", (_DOM, ("memory", UHyper)), Void, RW)
_def(P.DOMAIN_SET_VCPUS, "virDomainSetVcpus", (_DOM, ("nvcpus", UInt)), Void, RW)
_def(P.DOMAIN_SHUTDOWN, "virDomainShutdown", _DOM_ONLY, Void, RW)
_def(P.DOMAIN_SUSPEND, "virDomainSuspend", _DOM_ONLY, Void, RW)
_def(P.DOMAIN_UNDEFINE, "virDomainUndefine", _DOM_ONLY, Void, RW)
_def(
    P.CONNECT_LIST_DOMAINS,
    "virConnectListDomains",
    (("maxids", Int),),
    (("ids", Array(Int, DOMAIN_LIST_MAX)),),
    RO,
)
_def(P.CONNECT_NUM_OF_DOMAINS, "virConnectNumOfDomains", Void, _NUM, RO)
_def(P.DOMAIN_RESTORE, "virDomainRestore", (("from", NonnullString),), Void, RW)
_def(P.DOMAIN_SAVE, "virDomainSave", (_DOM, ("to", NonnullString)), Void, RW)
_def(
    P.DOMAIN_GET_SCHEDULER_TYPE,
    "virDomainGetSchedulerType",
    _DOM_ONLY,
    (("type", NonnullString), ("nparams", Int)),
    RO,
)
_def(
    P.DOMAIN_GET_SCHEDULER_PARAMETERS,
    "virDomainGetSchedulerParameters",
    (_DOM, ("nparams", Int)),
    (("params", Array(TypedParam, DOMAIN_SCHEDULER_PARAMETERS_MAX)),),
    RO,
)
_def(
    P.DOMAIN_BLOCK_STATS,
    "virDomainBlockStats",
    (_DOM, ("path", NonnullString)),
    lambda: _s(*((f, Hyper) for f in ("rd_req", "rd_bytes", "wr_req", "wr_bytes", "errs"))),
    RO,
)
_def(
    P.DOMAIN_INTERFACE_STATS,
    "virDomainInterfaceStats",
    (_DOM, ("path", NonnullString)),
    lambda: _s(
        *(
            (f, Hyper)
            for f in (
                "rx_bytes",
                "rx_packets",
                "rx_errs",
                "rx_drop",
                "tx_bytes",
                "tx_packets",
                "tx_errs",
                "tx_drop",
            )
        )
    ),
    RO,
)
_def(
    P.DOMAIN_GET_SECURITY_LABEL,
    "virDomainGetSecurityLabel",
    _DOM_ONLY,
    (("label", CharArray(SECURITY_LABEL_MAX)), ("enforcing", Int)),
    RO,
)
_def(P.DOMAIN_IS_ACTIVE, "virDomainIsActive", _DOM_ONLY, (("active", Int),), RO)
_def(P.DOMAIN_IS_PERSISTENT, "virDomainIsPersistent", _DOM_ONLY, (("persistent", Int),), RO)
_def(
    P.DOMAIN_MEMORY_STATS,
    "virDomainMemoryStats",
    (_DOM, ("maxStats", UInt), _FLAGS),
    (("stats", Array(DomainMemoryStat, DOMAIN_MEMORY_STATS_MAX)),),
    RO,
)
_def(P.DOMAIN_ATTACH_DEVICE_FLAGS, "virDomainAttachDeviceFlags", (_DOM, _XML, _FLAGS), Void, RW)
_def(P.DOMAIN_DETACH_DEVICE_FLAGS, "virDomainDetachDeviceFlags", (_DOM, _XML, _FLAGS), Void, RW)
_def(
    P.DOMAIN_GET_JOB_INFO,
    "virDomainGetJobInfo",
    _DOM_ONLY,
    lambda: _s(
        ("type", Int),
        *(
            (f, UHyper)
            for f in (
                "timeElapsed",
                "timeRemaining",
                "dataTotal",
                "dataProcessed",
                "dataRemaining",
                "memTotal",
                "memProcessed",
                "memRemaining",
                "fileTotal",
                "fileProcessed",
                "fileRemaining",
            )
        ),
    ),
    RO,
)
_def(P.DOMAIN_ABORT_JOB, "virDomainAbortJob", _DOM_ONLY, Void, RW)
_def(P.DOMAIN_UPDATE_DEVICE_FLAGS, "virDomainUpdateDeviceFlags", (_DOM, _XML, _FLAGS), Void, RW)
_def(P.DOMAIN_MANAGED_SAVE, "virDomainManagedSave", _DOM_FLAGS, Void, RW)
_def(P.DOMAIN_HAS_MANAGED_SAVE_IMAGE, "virDomainHasManagedSaveImage", _DOM_FLAGS, (("result", Int),), RO)
_def(P.DOMAIN_MANAGED_SAVE_REMOVE, "virDomainManagedSaveRemove", _DOM_FLAGS, Void, RW)
_def(P.DOMAIN_SNAPSHOT_NUM, "virDomainSnapshotNum", _DOM_FLAGS, _NUM, RO)
_def(
    P.DOMAIN_SNAPSHOT_LIST_NAMES,
    "virDomainSnapshotListNames",
    (_DOM, ("maxnames", Int), _FLAGS),
    _names(DOMAIN_SNAPSHOT_LIST_MAX),
    RO,
)
_def(P.DOMAIN_HAS_CURRENT_SNAPSHOT, "virDomainHasCurrentSnapshot", _DOM_FLAGS, (("result", Int),), RO)
_def(
    P.DOMAIN_GET_BLOCK_INFO,
    "virDomainGetBlockInfo",
    (_DOM, ("path", NonnullString), _FLAGS),
    (("allocation", UHyper), ("capacity", UHyper), ("physical", UHyper)),
    RO,
)
_def(P.DOMAIN_CREATE_WITH_FLAGS, "virDomainCreateWithFlags", _DOM_FLAGS, _RET_DOM, RW)
_def(
    P.DOMAIN_GET_MEMORY_PARAMETERS,
    "virDomainGetMemoryParameters",
    (_DOM, ("nparams", Int), _FLAGS),
    (("params", Array(TypedParam, DOMAIN_MEMORY_PARAMETERS_MAX)), ("nparams", Int)),
    RO,
)
_def(P.DOMAIN_SET_VCPUS_FLAGS, "virDomainSetVcpusFlags", (_DOM, ("nvcpus", UInt), _FLAGS), Void, RW)
_def(P.DOMAIN_GET_VCPUS_FLAGS, "virDomainGetVcpusFlags", _DOM_FLAGS, _NUM, RO)
_def(P.DOMAIN_OPEN_CONSOLE, "virDomainOpenConsole", (_DOM, ("dev_name", OptString), _FLAGS), Void, RW)
_def(P.DOMAIN_IS_UPDATED, "virDomainIsUpdated", _DOM_ONLY, (("updated", Int),), RO)
_def(P.DOMAIN_SET_MEMORY_FLAGS, "virDomainSetMemoryFlags", (_DOM, ("memory", UHyper), _FLAGS), Void, RW)
_def(
    P.DOMAIN_GET_BLKIO_PARAMETERS,
    "virDomainGetBlkioParameters",
    (_DOM, ("nparams", Int), _FLAGS),
    (("params", Array(TypedParam, DOMAIN_BLKIO_PARAMETERS_MAX)), ("nparams", Int)),
    RO,
)
_def(P.DOMAIN_INJECT_NMI, "virDomainInjectNMI", _DOM_FLAGS, Void, RW)
_def(P.DOMAIN_GET_STATE, "virDomainGetState", _DOM_FLAGS, (("state", Int), ("reason", Int)), RO)
_def(
    P.DOMAIN_GET_SCHEDULER_PARAMETERS_FLAGS,
    "virDomainGetSchedulerParametersFlags",
    (_DOM, ("nparams", Int), _FLAGS),
    (("params", Array(TypedParam, DOMAIN_SCHEDULER_PARAMETERS_MAX)),),
    RO,
)
_def(
    P.DOMAIN_SEND_KEY,
    "virDomainSendKey",
    (_DOM, ("codeset", UInt), ("holdtime", UInt), ("keycodes", Array(UInt, DOMAIN_SEND_KEY_MAX)), _FLAGS),
    Void,
    RW,
)
_def(
    P.DOMAIN_GET_CONTROL_INFO,
    "virDomainGetControlInfo",
    _DOM_FLAGS,
    (("state", UInt), ("details", UInt), ("stateTime", UHyper)),
    RO,
)
_def(
    P.DOMAIN_GET_VCPU_PIN_INFO,
    "virDomainGetVcpuPinInfo",
    (_DOM, ("ncpumaps", Int), ("maplen", Int), _FLAGS),
    (("cpumaps", VarOpaque(CPUMAPS_MAX)), ("num", Int)),
    RO,
)
_def(P.DOMAIN_UNDEFINE_FLAGS, "virDomainUndefineFlags", _DOM_FLAGS, Void, RW)
_def(
    P.DOMAIN_SAVE_FLAGS,
    "virDomainSaveFlags",
    (_DOM, ("to", NonnullString), ("dxml", OptString), _FLAGS),
    Void,
    RW,
)
_def(
    P.DOMAIN_RESTORE_FLAGS,
    "virDomainRestoreFlags",
    (("from", NonnullString), ("dxml", OptString), _FLAGS),
    Void,
    RW,
)
_def(P.DOMAIN_DESTROY_FLAGS, "virDomainDestroyFlags", _DOM_FLAGS, Void, RW)
_def(
    P.DOMAIN_BLOCK_STATS_FLAGS,
    "virDomainBlockStatsFlags",
    (_DOM, ("path", NonnullString), ("nparams", Int), _FLAGS),
    (("params", Array(TypedParam, DOMAIN_BLOCK_STATS_PARAMETERS_MAX)), ("nparams", Int)),
    RO,
)
_def(P.DOMAIN_RESET, "virDomainReset", _DOM_FLAGS, Void, RW)
_def(
    P.DOMAIN_GET_NUMA_PARAMETERS,
    "virDomainGetNumaParameters",
    (_DOM, ("nparams", Int), _FLAGS),
    (("params", Array(TypedParam, DOMAIN_NUMA_PARAMETERS_MAX)), ("nparams", Int)),
    RO,
)
_def(
    P.DOMAIN_GET_INTERFACE_PARAMETERS,
    "virDomainGetInterfaceParameters",
    (_DOM, ("device", NonnullString), ("nparams", Int), _FLAGS),
    (("params", Array(TypedParam, DOMAIN_INTERFACE_PARAMETERS_MAX)), ("nparams", Int)),
    RO,
)
_def(P.DOMAIN_SHUTDOWN_FLAGS, "virDomainShutdownFlags", _DOM_FLAGS, Void, RW)
_def(
    P.DOMAIN_GET_CPU_STATS,
    "virDomainGetCPUStats",
    (_DOM, ("nparams", UInt), ("start_cpu", Int), ("ncpus", UInt), _FLAGS),
    (("params", Array(TypedParam, DOMAIN_GET_CPU_STATS_MAX)), ("nparams", Int)),
    RO,
)
_def(
    P.DOMAIN_SET_METADATA,
    "virDomainSetMetadata",
    (_DOM, ("type", Int), ("metadata", OptString), ("key", OptString), ("uri", OptString), _FLAGS),
    Void,
    RW,
)
_def(
    P.DOMAIN_GET_METADATA,
    "virDomainGetMetadata",
    (_DOM, ("type", Int), ("uri", OptString), _FLAGS),
    (("metadata", NonnullString),),
    RO,
)
_def(
    P.CONNECT_LIST_ALL_DOMAINS,
    "virConnectListAllDomains",
    _NEED_RESULTS_FLAGS,
    (("domains", Array(NonnullDomain, DOMAIN_LIST_MAX)), ("ret", UInt)),
    RO,
)
_def(
    P.DOMAIN_LIST_ALL_SNAPSHOTS,
    "virDomainListAllSnapshots",
    (_DOM, ("need_results", Int), _FLAGS),
    (("snapshots", Array(NonnullDomainSnapshot, DOMAIN_SNAPSHOT_LIST_MAX)), ("ret", Int)),
    RO,
)
# May ask the guest agent; treated as a write operation to be safe.
_def(P.DOMAIN_GET_HOSTNAME, "virDomainGetHostname", _DOM_FLAGS, (("hostname", NonnullString),), RW)
_def(
    P.DOMAIN_GET_JOB_STATS,
    "virDomainGetJobStats",
    _DOM_FLAGS,
    (("type", Int), ("params", Array(TypedParam, DOMAIN_JOB_STATS_MAX))),
    RO,
)
# Talks to the guest agent: refused on read-only connections.
_def(P.DOMAIN_GET_TIME, "virDomainGetTime", _DOM_FLAGS, (("seconds", Hyper), ("nseconds", UInt)), RW)
_def(
    P.CONNECT_GET_ALL_DOMAIN_STATS,
    "virConnectGetAllDomainStats",
    (("doms", Array(NonnullDomain, DOMAIN_LIST_MAX)), ("stats", UInt), _FLAGS),
    (("retStats", Array(DomainStatsRecord, DOMAIN_LIST_MAX)),),
    RO,
)
_def(P.DOMAIN_DEFINE_XML_FLAGS, "virDomainDefineXMLFlags", _XML_FLAGS, _RET_DOM, RW)
_def(
    P.DOMAIN_INTERFACE_ADDRESSES,
    "virDomainInterfaceAddresses",
    (_DOM, ("source", UInt), _FLAGS),
    (("ifaces", Array(DomainInterface, DOMAIN_INTERFACE_MAX)),),
    RO,
)
_def(
    P.DOMAIN_RENAME,
    "virDomainRename",
    (_DOM, ("new_name", OptString), _FLAGS),
    (("retcode", Int),),
    RW,
)
_def(
    P.DOMAIN_GET_MESSAGES,
    "virDomainGetMessages",
    _DOM_FLAGS,
    (("msgs", Array(NonnullString, DOMAIN_MESSAGES_MAX)),),
    RO,
)

# -- networks --------------------------------------------------------------
_def(
    P.CONNECT_LIST_DEFINED_NETWORKS,
    "virConnectListDefinedNetworks",
    _NAMES_ARGS,
    _names(NETWORK_LIST_MAX),
    RO,
)
_def(P.CONNECT_LIST_NETWORKS, "virConnectListNetworks", _NAMES_ARGS, _names(NETWORK_LIST_MAX), RO)
_def(P.CONNECT_NUM_OF_DEFINED_NETWORKS, "virConnectNumOfDefinedNetworks", Void, _NUM, RO)
_def(P.CONNECT_NUM_OF_NETWORKS, "virConnectNumOfNetworks", Void, _NUM, RO)
_def(P.NETWORK_CREATE, "virNetworkCreate", _NET_ONLY, Void, RW)
_def(P.NETWORK_CREATE_XML, "virNetworkCreateXML", (_XML,), _RET_NET, RW)
_def(P.NETWORK_DEFINE_XML, "virNetworkDefineXML", (_XML,), _RET_NET, RW)
_def(P.NETWORK_DESTROY, "virNetworkDestroy", _NET_ONLY, Void, RW)
_def(P.NETWORK_GET_XML_DESC, "virNetworkGetXMLDesc", (_NET, _FLAGS), _RET_XML, RO)
_def(P.NETWORK_GET_AUTOSTART, "virNetworkGetAutostart", _NET_ONLY, (("autostart", Int),), RO)
_def(P.NETWORK_GET_BRIDGE_NAME, "virNetworkGetBridgeName", _NET_ONLY, (("name", NonnullString),), RO)
_def(P.NETWORK_LOOKUP_BY_NAME, "virNetworkLookupByName", (("name", NonnullString),), _RET_NET, RO)
_def(P.NETWORK_LOOKUP_BY_UUID, "virNetworkLookupByUUID", (("uuid", UUID),), _RET_NET, RO)
_def(P.NETWORK_SET_AUTOSTART, "virNetworkSetAutostart", (_NET, ("autostart", Int)), Void, RW)
_def(P.NETWORK_UNDEFINE, "virNetworkUndefine", _NET_ONLY, Void, RW)
_def(P.NETWORK_IS_ACTIVE, "virNetworkIsActive", _NET_ONLY, (("active", Int),), RO)
_def(P.NETWORK_IS_PERSISTENT, "virNetworkIsPersistent", _NET_ONLY, (("persistent", Int),), RO)
_def(
    P.CONNECT_LIST_ALL_NETWORKS,
    "virConnectListAllNetworks",
    _NEED_RESULTS_FLAGS,
    (("nets", Array(NonnullNetwork, NETWORK_LIST_MAX)), ("ret", UInt)),
    RO,
)
_def(
    P.NETWORK_UPDATE,
    "virNetworkUpdate",
    (_NET, ("command", UInt), ("section", UInt), ("parentIndex", Int), _XML, _FLAGS),
    Void,
    RW,
)
_def(
    P.NETWORK_GET_DHCP_LEASES,
    "virNetworkGetDHCPLeases",
    (_NET, ("mac", OptString), ("need_results", Int), _FLAGS),
    (("leases", Array(NetworkDhcpLease, NETWORK_DHCP_LEASES_MAX)), ("ret", UInt)),
    RO,
)
_def(P.NETWORK_DEFINE_XML_FLAGS, "virNetworkDefineXMLFlags", _XML_FLAGS, _RET_NET, RW)
_def(P.NETWORK_CREATE_XML_FLAGS, "virNetworkCreateXMLFlags", _XML_FLAGS, _RET_NET, RW)
_def(
    P.NETWORK_SET_METADATA,
    "virNetworkSetMetadata",
    (
        ("network", NonnullNetwork),
        ("type", Int),
        ("metadata", OptString),
        ("key", OptString),
        ("uri", OptString),
        _FLAGS,
    ),
    Void,
    RW,
)
_def(
    P.NETWORK_GET_METADATA,
    "virNetworkGetMetadata",
    (("network", NonnullNetwork), ("type", Int), ("uri", OptString), _FLAGS),
    (("metadata", NonnullString),),
    RO,
)

# -- storage ---------------------------------------------------------------
_def(P.CONNECT_NUM_OF_STORAGE_POOLS, "virConnectNumOfStoragePools", Void, _NUM, RO)
_def(
    P.CONNECT_LIST_STORAGE_POOLS,
    "virConnectListStoragePools",
    _NAMES_ARGS,
    _names(STORAGE_POOL_LIST_MAX),
    RO,
)
_def(P.CONNECT_NUM_OF_DEFINED_STORAGE_POOLS, "virConnectNumOfDefinedStoragePools", Void, _NUM, RO)
_def(
    P.CONNECT_LIST_DEFINED_STORAGE_POOLS,
    "virConnectListDefinedStoragePools",
    _NAMES_ARGS,
    _names(STORAGE_POOL_LIST_MAX),
    RO,
)
_def(P.STORAGE_POOL_CREATE_XML, "virStoragePoolCreateXML", _XML_FLAGS, _RET_POOL, RW)
_def(P.STORAGE_POOL_DEFINE_XML, "virStoragePoolDefineXML", _XML_FLAGS, _RET_POOL, RW)
_def(P.STORAGE_POOL_CREATE, "virStoragePoolCreate", _POOL_FLAGS, Void, RW)
_def(P.STORAGE_POOL_BUILD, "virStoragePoolBuild", _POOL_FLAGS, Void, RW)
_def(P.STORAGE_POOL_DESTROY, "virStoragePoolDestroy", _POOL_ONLY, Void, RW)
_def(P.STORAGE_POOL_DELETE, "virStoragePoolDelete", _POOL_FLAGS, Void, RW)
_def(P.STORAGE_POOL_UNDEFINE, "virStoragePoolUndefine", _POOL_ONLY, Void, RW)
_def(P.STORAGE_POOL_REFRESH, "virStoragePoolRefresh", _POOL_FLAGS, Void, RW)
_def(P.STORAGE_POOL_LOOKUP_BY_NAME, "virStoragePoolLookupByName", (("name", NonnullString),), _RET_POOL, RO)
_def(P.STORAGE_POOL_LOOKUP_BY_UUID, "virStoragePoolLookupByUUID", (("uuid", UUID),), _RET_POOL, RO)
_def(P.STORAGE_POOL_LOOKUP_BY_VOLUME, "virStoragePoolLookupByVolume", (_VOL,), _RET_POOL, RO)
_def(
    P.STORAGE_POOL_GET_INFO,
    "virStoragePoolGetInfo",
    _POOL_ONLY,
    (("state", UChar), ("capacity", UHyper), ("allocation", UHyper), ("available", UHyper)),
    RO,
)
_def(P.STORAGE_POOL_GET_XML_DESC, "virStoragePoolGetXMLDesc", _POOL_FLAGS, _RET_XML, RO)
_def(P.STORAGE_POOL_GET_AUTOSTART, "virStoragePoolGetAutostart", _POOL_ONLY, (("autostart", Int),), RO)
_def(P.STORAGE_POOL_SET_AUTOSTART, "virStoragePoolSetAutostart", (_POOL, ("autostart", Int)), Void, RW)
_def(P.STORAGE_POOL_NUM_OF_VOLUMES, "virStoragePoolNumOfVolumes", _POOL_ONLY, _NUM, RO)
_def(
    P.STORAGE_POOL_LIST_VOLUMES,
    "virStoragePoolListVolumes",
    (_POOL, ("maxnames", Int)),
    _names(STORAGE_VOL_LIST_MAX),
    RO,
)
_def(P.STORAGE_VOL_CREATE_XML, "virStorageVolCreateXML", (_POOL, _XML, _FLAGS), _RET_VOL, RW)
_def(P.STORAGE_VOL_DELETE, "virStorageVolDelete", _VOL_FLAGS, Void, RW)
_def(
    P.STORAGE_VOL_LOOKUP_BY_NAME,
    "virStorageVolLookupByName",
    (_POOL, ("name", NonnullString)),
    _RET_VOL,
    RO,
)
_def(P.STORAGE_VOL_LOOKUP_BY_KEY, "virStorageVolLookupByKey", (("key", NonnullString),), _RET_VOL, RO)
_def(P.STORAGE_VOL_LOOKUP_BY_PATH, "virStorageVolLookupByPath", (("path", NonnullString),), _RET_VOL, RO)
_def(P.STORAGE_VOL_GET_INFO, "virStorageVolGetInfo", (_VOL,), _VOL_INFO, RO)
_def(P.STORAGE_VOL_GET_XML_DESC, "virStorageVolGetXMLDesc", _VOL_FLAGS, _RET_XML, RO)
_def(P.STORAGE_VOL_GET_PATH, "virStorageVolGetPath", (_VOL,), (("name", NonnullString),), RO)
_def(
    P.STORAGE_VOL_CREATE_XML_FROM,
    "virStorageVolCreateXMLFrom",
    (_POOL, _XML, ("clonevol", NonnullStorageVol), _FLAGS),
    _RET_VOL,
    RW,
)
_def(P.STORAGE_POOL_IS_ACTIVE, "virStoragePoolIsActive", _POOL_ONLY, (("active", Int),), RO)
_def(P.STORAGE_POOL_IS_PERSISTENT, "virStoragePoolIsPersistent", _POOL_ONLY, (("persistent", Int),), RO)
_def(P.STORAGE_VOL_WIPE, "virStorageVolWipe", _VOL_FLAGS, Void, RW)
_def(P.STORAGE_VOL_RESIZE, "virStorageVolResize", (_VOL, ("capacity", UHyper), _FLAGS), Void, RW)
_def(
    P.CONNECT_LIST_ALL_STORAGE_POOLS,
    "virConnectListAllStoragePools",
    _NEED_RESULTS_FLAGS,
    (("pools", Array(NonnullStoragePool, STORAGE_POOL_LIST_MAX)), ("ret", UInt)),
    RO,
)
_def(
    P.STORAGE_POOL_LIST_ALL_VOLUMES,
    "virStoragePoolListAllVolumes",
    (_POOL, ("need_results", Int), _FLAGS),
    (("vols", Array(NonnullStorageVol, STORAGE_VOL_LIST_MAX)), ("ret", UInt)),
    RO,
)
_def(P.STORAGE_VOL_GET_INFO_FLAGS, "virStorageVolGetInfoFlags", _VOL_FLAGS, _VOL_INFO, RO)

# -- event registration ----------------------------------------------------
_def(
    P.CONNECT_DOMAIN_EVENT_REGISTER,
    "virConnectDomainEventRegister",
    Void,
    (("cb_registered", Int),),
    RO,
)
_def(
    P.CONNECT_DOMAIN_EVENT_DEREGISTER,
    "virConnectDomainEventDeregister",
    Void,
    (("cb_registered", Int),),
    RO,
)
_def(P.CONNECT_DOMAIN_EVENT_REGISTER_ANY, "virConnectDomainEventRegisterAny", (("eventID", Int),), Void, RO)
_def(
    P.CONNECT_DOMAIN_EVENT_DEREGISTER_ANY,
    "virConnectDomainEventDeregisterAny",
    (("eventID", Int),),
    Void,
    RO,
)
_def(
    P.CONNECT_NETWORK_EVENT_REGISTER_ANY,
    "virConnectNetworkEventRegisterAny",
    (("eventID", Int), ("net", OptNetwork)),
    _CALLBACK_ID,
    RO,
)
_def(
    P.CONNECT_NETWORK_EVENT_DEREGISTER_ANY,
    "virConnectNetworkEventDeregisterAny",
    _CALLBACK_ID,
    Void,
    RO,
)
_def(
    P.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY,
    "virConnectDomainEventRegisterAny",
    (("eventID", Int), ("dom", OptDomain)),
    _CALLBACK_ID,
    RO,
)
_def(
    P.CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY,
    "virConnectDomainEventDeregisterAny",
    _CALLBACK_ID,
    Void,
    RO,
)
_def(
    P.CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY,
    "virConnectStoragePoolEventRegisterAny",
    (("eventID", Int), ("pool", OptStoragePool)),
    _CALLBACK_ID,
    RO,
)
_def(
    P.CONNECT_STORAGE_POOL_EVENT_DEREGISTER_ANY,
    "virConnectStoragePoolEventDeregisterAny",
    _CALLBACK_ID,
    Void,
    RO,
)

# -- events (server -> client MESSAGE) ---------------------------------------
_LIFECYCLE_MSG = _s(_DOM, ("event", Int), ("detail", Int))
_event(P.DOMAIN_EVENT_LIFECYCLE, "virConnectDomainEventCallback", _LIFECYCLE_MSG)
_event(P.DOMAIN_EVENT_REBOOT, "virConnectDomainEventGenericCallback", _DOM_ONLY)
_event(
    P.NETWORK_EVENT_LIFECYCLE,
    "virConnectNetworkEventLifecycleCallback",
    (_CB, _NET, ("event", Int), ("detail", Int)),
)
_event(
    P.DOMAIN_EVENT_CALLBACK_LIFECYCLE,
    "virConnectDomainEventCallback",
    (_CB, ("msg", _LIFECYCLE_MSG)),
)
_event(P.DOMAIN_EVENT_CALLBACK_REBOOT, "virConnectDomainEventGenericCallback", (_CB, ("msg", _DOM_ONLY)))
_event(
    P.DOMAIN_EVENT_CALLBACK_DEVICE_REMOVED,
    "virConnectDomainEventDeviceRemovedCallback",
    (_CB, ("msg", _s(_DOM, ("devAlias", NonnullString)))),
)
_event(
    P.DOMAIN_EVENT_CALLBACK_AGENT_LIFECYCLE,
    "virConnectDomainEventAgentLifecycleCallback",
    (_CB, _DOM, ("state", Int), ("reason", Int)),
)
_event(
    P.DOMAIN_EVENT_CALLBACK_DEVICE_ADDED,
    "virConnectDomainEventDeviceAddedCallback",
    (_CB, _DOM, ("devAlias", NonnullString)),
)
_event(P.CONNECT_EVENT_CONNECTION_CLOSED, "virConnectCloseFunc", (("reason", Int),))
_event(
    P.STORAGE_POOL_EVENT_LIFECYCLE,
    "virConnectStoragePoolEventLifecycleCallback",
    (_CB, _POOL, ("event", Int), ("detail", Int)),
)
_event(P.STORAGE_POOL_EVENT_REFRESH, "virConnectStoragePoolEventGenericCallback", (_CB, _POOL))

EVENT_PROCEDURES = frozenset(_EVENTS)
del P, RO, RW


def get_procedure(number: int) -> Procedure:
    """Return the table entry for ``number``.

    Raises :class:`VirtError` VIR_ERR_NO_SUPPORT (domain RPC) with libvirt's
    "unknown procedure: N" wording when the number is not in the table.
    """
    try:
        return PROCEDURES[number]
    except KeyError:
        raise VirtError(ErrorNumber.NO_SUPPORT, ErrorDomain.RPC, f"unknown procedure: {number}") from None
