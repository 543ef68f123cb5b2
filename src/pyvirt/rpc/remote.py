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
"""

from __future__ import annotations

import enum
from collections import namedtuple
from collections.abc import Iterable, Mapping, Sequence

from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError
from pyvirt.rpc.xdr import STRING_MAX, Packer, Unpacker, XdrError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows pyvirsh start-up

if TYPE_CHECKING:
    from typing import Any, NamedTuple

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


class Codec:
    """Base of all codecs.

    ``pack`` raises :class:`~pyvirt.rpc.xdr.XdrError` for a value that does not
    fit the layout; ``unpack`` raises it for malformed data.  ``min_size`` is
    the fewest bytes one encoded value can take (used to reject impossible
    array counts before allocating anything).
    """

    min_size = 4

    def pack(self, packer: Packer, value: Any) -> None:
        raise NotImplementedError

    def unpack(self, unpacker: Unpacker) -> Any:
        raise NotImplementedError


class _VoidCodec(Codec):
    min_size = 0

    def pack(self, packer: Packer, value: Any) -> None:
        if value is not None and value != {}:
            raise XdrError(f"void payload takes no value, got {value!r}")

    def unpack(self, unpacker: Unpacker) -> None:
        return None

    def __repr__(self) -> str:
        return "Void"


class _IntCodec(Codec):
    def pack(self, packer: Packer, value: Any) -> None:
        packer.pack_int(value)

    def unpack(self, unpacker: Unpacker) -> int:
        return unpacker.unpack_int()

    def __repr__(self) -> str:
        return "Int"


class _UIntCodec(Codec):
    def pack(self, packer: Packer, value: Any) -> None:
        packer.pack_uint(value)

    def unpack(self, unpacker: Unpacker) -> int:
        return unpacker.unpack_uint()

    def __repr__(self) -> str:
        return "UInt"


class _HyperCodec(Codec):
    min_size = 8

    def pack(self, packer: Packer, value: Any) -> None:
        packer.pack_hyper(value)

    def unpack(self, unpacker: Unpacker) -> int:
        return unpacker.unpack_hyper()

    def __repr__(self) -> str:
        return "Hyper"


class _UHyperCodec(Codec):
    min_size = 8

    def pack(self, packer: Packer, value: Any) -> None:
        packer.pack_uhyper(value)

    def unpack(self, unpacker: Unpacker) -> int:
        return unpacker.unpack_uhyper()

    def __repr__(self) -> str:
        return "UHyper"


class _BoolCodec(Codec):
    def pack(self, packer: Packer, value: Any) -> None:
        packer.pack_bool(bool(value))

    def unpack(self, unpacker: Unpacker) -> bool:
        return unpacker.unpack_bool()

    def __repr__(self) -> str:
        return "Bool"


class _DoubleCodec(Codec):
    min_size = 8

    def pack(self, packer: Packer, value: Any) -> None:
        packer.pack_double(value)

    def unpack(self, unpacker: Unpacker) -> float:
        return unpacker.unpack_double()

    def __repr__(self) -> str:
        return "Double"


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

    def pack(self, packer: Packer, value: Any) -> None:
        if not isinstance(value, int) or not self._lo <= value <= self._hi:
            raise XdrError(f"{self._name} out of range: {value!r}")
        if self._signed:
            packer.pack_int(value)
        else:
            packer.pack_uint(value)

    def unpack(self, unpacker: Unpacker) -> int:
        raw = unpacker.unpack_uint() & self._mask
        if raw > self._hi:
            raw -= 1 << self._bits
        return raw

    def __repr__(self) -> str:
        return self._name


class String(Codec):
    """``string x<max>``: u32 length, UTF-8 bytes, zero padding."""

    def __init__(self, maximum: int = STRING_MAX) -> None:
        self.maximum = maximum

    def pack(self, packer: Packer, value: Any) -> None:
        packer.pack_string(value, self.maximum)

    def unpack(self, unpacker: Unpacker) -> str:
        return unpacker.unpack_string(self.maximum)

    def __repr__(self) -> str:
        return f"String({self.maximum})"


class Opaque(Codec):
    """``opaque x[n]``: exactly ``n`` raw bytes, padded to 4."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.min_size = (size + 3) & ~3

    def pack(self, packer: Packer, value: Any) -> None:
        packer.pack_fopaque(self.size, value)

    def unpack(self, unpacker: Unpacker) -> bytes:
        return unpacker.unpack_fopaque(self.size)

    def __repr__(self) -> str:
        return f"Opaque({self.size})"


class VarOpaque(Codec):
    """``opaque x<max>``: u32 length and raw bytes."""

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum

    def pack(self, packer: Packer, value: Any) -> None:
        packer.pack_opaque(value, self.maximum)

    def unpack(self, unpacker: Unpacker) -> bytes:
        return unpacker.unpack_opaque(self.maximum)

    def __repr__(self) -> str:
        return f"VarOpaque({self.maximum})"


def _char_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise XdrError(f"string expected for a char array, not {type(value).__name__}")


def _signed_chars(data: bytes) -> list[int]:
    # C's char is signed on the platforms libvirt runs on: 0x80..0xff go out negative.
    return [b - 256 if b > 127 else b for b in data]


def _chars_to_str(values: Sequence[int]) -> str:
    data = bytes(v & 0xFF for v in values)
    nul = data.find(b"\0")
    if nul >= 0:
        data = data[:nul]
    return data.decode("utf-8", "surrogateescape")


class CharArray(Codec):
    """``char x<max>``: u32 count, then one 4-byte int per char.

    The value is a ``str``.  Packing appends the C string's trailing NUL (as
    libvirtd does, counting ``strlen + 1``) unless the string is empty, which
    goes out as count 0.  Unpacking stops at the first NUL.
    """

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum

    def pack(self, packer: Packer, value: Any) -> None:
        data = _char_bytes(value)
        if data and not data.endswith(b"\0"):
            data += b"\0"
        packer.pack_array_length(len(data), self.maximum)
        packer.pack_ints(_signed_chars(data))

    def unpack(self, unpacker: Unpacker) -> str:
        n = unpacker.unpack_array_length(self.maximum)
        return _chars_to_str(unpacker.unpack_ints(n))

    def __repr__(self) -> str:
        return f"CharArray({self.maximum})"


class CharVector(Codec):
    """``char x[n]``: exactly ``n`` chars, 4 bytes each, NUL-padded."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.min_size = 4 * size

    def pack(self, packer: Packer, value: Any) -> None:
        data = _char_bytes(value)
        if len(data) > self.size:
            raise XdrError(f"char[{self.size}] cannot hold {len(data)} bytes")
        packer.pack_ints(_signed_chars(data.ljust(self.size, b"\0")))

    def unpack(self, unpacker: Unpacker) -> str:
        return _chars_to_str(unpacker.unpack_ints(self.size))

    def __repr__(self) -> str:
        return f"CharVector({self.size})"


class Optional(Codec):
    """``T *x``: u32 0 for ``None``, or u32 1 followed by the value."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec

    def pack(self, packer: Packer, value: Any) -> None:
        if value is None:
            packer.pack_uint(0)
        else:
            packer.pack_uint(1)
            self.codec.pack(packer, value)

    def unpack(self, unpacker: Unpacker) -> Any:
        flag = unpacker.unpack_uint()
        if flag == 0:
            return None
        if flag != 1:
            raise XdrError(f"invalid optional-data flag {flag}")
        return self.codec.unpack(unpacker)

    def __repr__(self) -> str:
        return f"Optional({self.codec!r})"


class Array(Codec):
    """``T x<max>``: u32 count then the elements; the value is a list."""

    def __init__(self, codec: Codec, maximum: int) -> None:
        self.codec = codec
        self.maximum = maximum

    def pack(self, packer: Packer, value: Any) -> None:
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
            raise XdrError(f"array value must be a list, not {type(value).__name__}")
        items = value if isinstance(value, (list, tuple)) else list(value)
        packer.pack_array_length(len(items), self.maximum)
        pack = self.codec.pack
        for item in items:
            pack(packer, item)

    def unpack(self, unpacker: Unpacker) -> list[Any]:
        n = unpacker.unpack_array_length(self.maximum, self.codec.min_size)
        unpack = self.codec.unpack
        return [unpack(unpacker) for _ in range(n)]

    def __repr__(self) -> str:
        return f"Array({self.codec!r}, {self.maximum})"


class Struct(Codec):
    """A struct: its value is a dict keyed by the field names, in wire order."""

    def __init__(self, fields: Sequence[tuple[str, Codec]]) -> None:
        self.fields = tuple(fields)
        self.min_size = sum(c.min_size for _, c in self.fields)

    def pack(self, packer: Packer, value: Any) -> None:
        if not isinstance(value, Mapping):
            raise XdrError(f"struct value must be a dict, not {type(value).__name__}")
        for name, codec in self.fields:
            try:
                item = value[name]
            except KeyError:
                raise XdrError(f"missing struct field {name!r}") from None
            codec.pack(packer, item)

    def unpack(self, unpacker: Unpacker) -> dict[str, Any]:
        return {name: codec.unpack(unpacker) for name, codec in self.fields}

    def __repr__(self) -> str:
        return "Struct([" + ", ".join(f"({n!r}, {c!r})" for n, c in self.fields) + "])"


class Union(Codec):
    """A discriminated union on an int: the value is ``(discriminant, arm value)``."""

    def __init__(self, arms: Mapping[int, Codec]) -> None:
        self.arms = dict(arms)

    def pack(self, packer: Packer, value: Any) -> None:
        try:
            disc, arm_value = value
        except (TypeError, ValueError):
            raise XdrError(f"union value must be a (discriminant, value) pair, got {value!r}") from None
        codec = self.arms.get(disc)
        if codec is None:
            raise XdrError(f"invalid union discriminant {disc!r}")
        packer.pack_int(disc)
        codec.pack(packer, arm_value)

    def unpack(self, unpacker: Unpacker) -> tuple[int, Any]:
        disc = unpacker.unpack_int()
        codec = self.arms.get(disc)
        if codec is None:
            raise XdrError(f"invalid union discriminant {disc}")
        return disc, codec.unpack(unpacker)

    def __repr__(self) -> str:
        return f"Union({self.arms!r})"


Void: Codec = _VoidCodec()
Int: Codec = _IntCodec()
UInt: Codec = _UIntCodec()
Hyper: Codec = _HyperCodec()
UHyper: Codec = _UHyperCodec()
Bool: Codec = _BoolCodec()
Double: Codec = _DoubleCodec()
Char: Codec = _SmallIntCodec("Char", 8, True)
UChar: Codec = _SmallIntCodec("UChar", 8, False)
UShort: Codec = _SmallIntCodec("UShort", 16, False)


def encode(codec: Codec, value: Any) -> bytes:
    """Encode ``value`` with ``codec``; raises :class:`XdrError` if it does not fit."""
    packer = Packer()
    codec.pack(packer, value)
    return packer.get_buffer()


def decode(codec: Codec, data: bytes | bytearray | memoryview, *, strict: bool = False) -> Any:
    """Decode ``data`` with ``codec``.

    Trailing bytes are ignored (libvirt's clients accept them too) unless
    ``strict``.  Raises :class:`XdrError` on malformed data.
    """
    unpacker = Unpacker(data)
    value = codec.unpack(unpacker)
    if strict:
        unpacker.done()
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


class TypedParamType(enum.IntEnum):
    """``virTypedParameterType``: the discriminant of ``remote_typed_param_value``."""

    INT = 1
    UINT = 2
    LLONG = 3
    ULLONG = 4
    DOUBLE = 5
    BOOLEAN = 6
    STRING = 7


TypedParamValue = Union(
    {
        TypedParamType.INT: Int,
        TypedParamType.UINT: UInt,
        TypedParamType.LLONG: Hyper,
        TypedParamType.ULLONG: UHyper,
        TypedParamType.DOUBLE: Double,
        TypedParamType.BOOLEAN: Int,
        TypedParamType.STRING: NonnullString,
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
            type = TypedParamType.BOOLEAN
        elif isinstance(value, int):
            type = TypedParamType.LLONG if value < 0 else TypedParamType.ULLONG
        elif isinstance(value, float):
            type = TypedParamType.DOUBLE
        elif isinstance(value, str):
            type = TypedParamType.STRING
        else:
            raise XdrError(f"cannot guess a typed parameter type for {value!r}")
    if type == TypedParamType.BOOLEAN:
        value = 1 if value else 0
    return {"field": field, "value": (TypedParamType(type), value)}


def typed_params_to_dict(params: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Flatten decoded typed parameters into ``{field: python value}``."""
    out: dict[str, Any] = {}
    for p in params:
        ptype, value = p["value"]
        out[p["field"]] = bool(value) if ptype == TypedParamType.BOOLEAN else value
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


#: REMOTE_PROC_* name (without the prefix) -> number.
PROC_NUMBERS: dict[str, int] = {k: v for k, v in vars(Proc).items() if not k.startswith("_")}
#: number -> REMOTE_PROC_* name (without the prefix).
PROC_NAMES: dict[int, str] = {v: k for k, v in PROC_NUMBERS.items()}


if TYPE_CHECKING:

    class Procedure(NamedTuple):
        """One REMOTE_PROGRAM procedure.

        ``api`` is libvirt's public function name (used in "read only access
        prevents ..."); ``readonly`` is True when the procedure is allowed on a
        read-only connection.  Some read-only procedures refuse particular flags
        or arguments on read-only connections (``DOMAIN_GET_XML_DESC`` with
        VIR_DOMAIN_XML_SECURE, ``DOMAIN_GET_VCPUS_FLAGS`` with VIR_DOMAIN_VCPU_GUEST,
        ``DOMAIN_INTERFACE_ADDRESSES`` with the agent source); the daemon checks
        those itself.
        """

        number: int
        name: str
        api: str
        args: Codec
        ret: Codec
        readonly: bool

else:
    Procedure = namedtuple("Procedure", "number name api args ret readonly")
    Procedure.__doc__ = "One REMOTE_PROGRAM procedure (see the type-checking definition above)."


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


def _def(proc: int, api: str, args: Codec, ret: Codec, readonly: bool) -> None:
    if proc in PROCEDURES:
        raise RuntimeError(f"procedure {PROC_NAMES[proc]} ({proc}) defined twice")
    PROCEDURES[proc] = Procedure(proc, PROC_NAMES[proc], api, args, ret, readonly)


_EVENTS: set[int] = set()


def _event(proc: int, api: str, msg: Codec) -> None:
    _def(proc, api, msg, Void, False)
    _EVENTS.add(proc)


def _names(maximum: int) -> Struct:
    return _s(("names", Array(NonnullString, maximum)))


RO, RW = True, False
P = Proc

# -- connection, auth and host ---------------------------------------------
_def(P.CONNECT_OPEN, "virConnectOpen", _s(("name", OptString), _FLAGS), Void, RO)
_def(P.CONNECT_CLOSE, "virConnectClose", Void, Void, RO)
_def(P.CONNECT_GET_TYPE, "virConnectGetType", Void, _s(("type", NonnullString)), RO)
_def(P.CONNECT_GET_VERSION, "virConnectGetVersion", Void, _s(("hv_ver", UHyper)), RO)
_def(P.CONNECT_GET_MAX_VCPUS, "virConnectGetMaxVcpus", _s(("type", OptString)), _s(("max_vcpus", Int)), RO)
_def(
    P.NODE_GET_INFO,
    "virNodeGetInfo",
    Void,
    _s(
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
_def(P.CONNECT_GET_CAPABILITIES, "virConnectGetCapabilities", Void, _s(("capabilities", NonnullString)), RO)
_def(P.CONNECT_GET_HOSTNAME, "virConnectGetHostname", Void, _s(("hostname", NonnullString)), RO)
_def(
    P.CONNECT_SUPPORTS_FEATURE,
    "virConnectSupportsFeature",
    _s(("feature", Int)),
    _s(("supported", Int)),
    RO,
)
_def(P.AUTH_LIST, "virConnectAuthList", Void, _s(("types", Array(Int, AUTH_TYPE_LIST_MAX))), RO)
_def(P.AUTH_SASL_INIT, "virConnectAuthSaslInit", Void, _s(("mechlist", NonnullString)), RO)
_def(P.AUTH_POLKIT, "virConnectAuthPolkit", Void, _s(("complete", Int)), RO)
_def(P.CONNECT_GET_URI, "virConnectGetURI", Void, _s(("uri", NonnullString)), RO)
_def(
    P.NODE_GET_SECURITY_MODEL,
    "virNodeGetSecurityModel",
    Void,
    _s(("model", CharArray(SECURITY_MODEL_MAX)), ("doi", CharArray(SECURITY_DOI_MAX))),
    RO,
)
_def(P.CONNECT_IS_SECURE, "virConnectIsSecure", Void, _s(("secure", Int)), RO)
_def(P.CONNECT_GET_LIB_VERSION, "virConnectGetLibVersion", Void, _s(("lib_ver", UHyper)), RO)
_def(P.CONNECT_COMPARE_CPU, "virConnectCompareCPU", _XML_FLAGS, _s(("result", Int)), RO)
_def(
    P.CONNECT_BASELINE_CPU,
    "virConnectBaselineCPU",
    _s(("xmlCPUs", Array(NonnullString, CPU_BASELINE_MAX)), _FLAGS),
    _s(("cpu", NonnullString)),
    RO,
)
_def(P.CONNECT_GET_SYSINFO, "virConnectGetSysinfo", _s(_FLAGS), _s(("sysinfo", NonnullString)), RO)
_def(
    P.NODE_GET_CELLS_FREE_MEMORY,
    "virNodeGetCellsFreeMemory",
    _s(("startCell", Int), ("maxcells", Int)),
    _s(("cells", Array(UHyper, NODE_MAX_CELLS))),
    RO,
)
_def(P.NODE_GET_FREE_MEMORY, "virNodeGetFreeMemory", Void, _s(("freeMem", UHyper)), RO)
_def(
    P.NODE_GET_CPU_STATS,
    "virNodeGetCPUStats",
    _s(("cpuNum", Int), ("nparams", Int), _FLAGS),
    _s(("params", Array(NodeStat, NODE_CPU_STATS_MAX)), ("nparams", Int)),
    RO,
)
_def(
    P.NODE_GET_MEMORY_STATS,
    "virNodeGetMemoryStats",
    _s(("nparams", Int), ("cellNum", Int), _FLAGS),
    _s(("params", Array(NodeStat, NODE_MEMORY_STATS_MAX)), ("nparams", Int)),
    RO,
)
_def(
    P.NODE_GET_CPU_MAP,
    "virNodeGetCPUMap",
    _s(("need_map", Int), ("need_online", Int), _FLAGS),
    _s(("cpumap", VarOpaque(CPUMAP_MAX)), ("online", UInt), ("ret", Int)),
    RO,
)
_def(
    P.CONNECT_GET_CPU_MODEL_NAMES,
    "virConnectGetCPUModelNames",
    _s(("arch", NonnullString), ("need_results", Int), _FLAGS),
    _s(("models", Array(NonnullString, CONNECT_CPU_MODELS_MAX)), ("ret", Int)),
    RO,
)
# Refused on read-only connections since CVE-2019-10167.
_def(
    P.CONNECT_GET_DOMAIN_CAPABILITIES,
    "virConnectGetDomainCapabilities",
    _s(
        ("emulatorbin", OptString),
        ("arch", OptString),
        ("machine", OptString),
        ("virttype", OptString),
        _FLAGS,
    ),
    _s(("capabilities", NonnullString)),
    RW,
)
_def(P.CONNECT_REGISTER_CLOSE_CALLBACK, "virConnectRegisterCloseCallback", Void, Void, RO)
_def(P.CONNECT_UNREGISTER_CLOSE_CALLBACK, "virConnectUnregisterCloseCallback", Void, Void, RO)

# -- domains ---------------------------------------------------------------
_def(P.DOMAIN_ATTACH_DEVICE, "virDomainAttachDevice", _s(_DOM, _XML), Void, RW)
_def(P.DOMAIN_CREATE, "virDomainCreate", _DOM_ONLY, Void, RW)
_def(P.DOMAIN_CREATE_XML, "virDomainCreateXML", _s(("xml_desc", NonnullString), _FLAGS), _RET_DOM, RW)
_def(P.DOMAIN_DEFINE_XML, "virDomainDefineXML", _s(_XML), _RET_DOM, RW)
_def(P.DOMAIN_DESTROY, "virDomainDestroy", _DOM_ONLY, Void, RW)
_def(P.DOMAIN_DETACH_DEVICE, "virDomainDetachDevice", _s(_DOM, _XML), Void, RW)
_def(P.DOMAIN_GET_XML_DESC, "virDomainGetXMLDesc", _DOM_FLAGS, _RET_XML, RO)
_def(P.DOMAIN_GET_AUTOSTART, "virDomainGetAutostart", _DOM_ONLY, _s(("autostart", Int)), RO)
_def(
    P.DOMAIN_GET_INFO,
    "virDomainGetInfo",
    _DOM_ONLY,
    _s(
        ("state", UChar),
        ("maxMem", UHyper),
        ("memory", UHyper),
        ("nrVirtCpu", UShort),
        ("cpuTime", UHyper),
    ),
    RO,
)
_def(P.DOMAIN_GET_MAX_MEMORY, "virDomainGetMaxMemory", _DOM_ONLY, _s(("memory", UHyper)), RO)
_def(P.DOMAIN_GET_MAX_VCPUS, "virDomainGetMaxVcpus", _DOM_ONLY, _NUM, RO)
_def(P.DOMAIN_GET_OS_TYPE, "virDomainGetOSType", _DOM_ONLY, _s(("type", NonnullString)), RO)
_def(
    P.DOMAIN_GET_VCPUS,
    "virDomainGetVcpus",
    _s(_DOM, ("maxinfo", Int), ("maplen", Int)),
    _s(("info", Array(VcpuInfo, VCPUINFO_MAX)), ("cpumaps", VarOpaque(CPUMAPS_MAX))),
    RO,
)
_def(P.CONNECT_LIST_DEFINED_DOMAINS, "virConnectListDefinedDomains", _NAMES_ARGS, _names(DOMAIN_LIST_MAX), RO)
_def(P.DOMAIN_LOOKUP_BY_ID, "virDomainLookupByID", _s(("id", Int)), _RET_DOM, RO)
_def(P.DOMAIN_LOOKUP_BY_NAME, "virDomainLookupByName", _s(("name", NonnullString)), _RET_DOM, RO)
_def(P.DOMAIN_LOOKUP_BY_UUID, "virDomainLookupByUUID", _s(("uuid", UUID)), _RET_DOM, RO)
_def(P.CONNECT_NUM_OF_DEFINED_DOMAINS, "virConnectNumOfDefinedDomains", Void, _NUM, RO)
_def(
    P.DOMAIN_PIN_VCPU,
    "virDomainPinVcpu",
    _s(_DOM, ("vcpu", UInt), ("cpumap", VarOpaque(CPUMAP_MAX))),
    Void,
    RW,
)
_def(P.DOMAIN_REBOOT, "virDomainReboot", _DOM_FLAGS, Void, RW)
_def(P.DOMAIN_RESUME, "virDomainResume", _DOM_ONLY, Void, RW)
_def(P.DOMAIN_SET_AUTOSTART, "virDomainSetAutostart", _s(_DOM, ("autostart", Int)), Void, RW)
_def(P.DOMAIN_SET_MAX_MEMORY, "virDomainSetMaxMemory", _s(_DOM, ("memory", UHyper)), Void, RW)
_def(P.DOMAIN_SET_MEMORY, "virDomainSetMemory", _s(_DOM, ("memory", UHyper)), Void, RW)
_def(P.DOMAIN_SET_VCPUS, "virDomainSetVcpus", _s(_DOM, ("nvcpus", UInt)), Void, RW)
_def(P.DOMAIN_SHUTDOWN, "virDomainShutdown", _DOM_ONLY, Void, RW)
_def(P.DOMAIN_SUSPEND, "virDomainSuspend", _DOM_ONLY, Void, RW)
_def(P.DOMAIN_UNDEFINE, "virDomainUndefine", _DOM_ONLY, Void, RW)
_def(
    P.CONNECT_LIST_DOMAINS,
    "virConnectListDomains",
    _s(("maxids", Int)),
    _s(("ids", Array(Int, DOMAIN_LIST_MAX))),
    RO,
)
_def(P.CONNECT_NUM_OF_DOMAINS, "virConnectNumOfDomains", Void, _NUM, RO)
_def(P.DOMAIN_RESTORE, "virDomainRestore", _s(("from", NonnullString)), Void, RW)
_def(P.DOMAIN_SAVE, "virDomainSave", _s(_DOM, ("to", NonnullString)), Void, RW)
_def(
    P.DOMAIN_GET_SCHEDULER_TYPE,
    "virDomainGetSchedulerType",
    _DOM_ONLY,
    _s(("type", NonnullString), ("nparams", Int)),
    RO,
)
_def(
    P.DOMAIN_GET_SCHEDULER_PARAMETERS,
    "virDomainGetSchedulerParameters",
    _s(_DOM, ("nparams", Int)),
    _s(("params", Array(TypedParam, DOMAIN_SCHEDULER_PARAMETERS_MAX))),
    RO,
)
_def(
    P.DOMAIN_BLOCK_STATS,
    "virDomainBlockStats",
    _s(_DOM, ("path", NonnullString)),
    _s(*((f, Hyper) for f in ("rd_req", "rd_bytes", "wr_req", "wr_bytes", "errs"))),
    RO,
)
_def(
    P.DOMAIN_INTERFACE_STATS,
    "virDomainInterfaceStats",
    _s(_DOM, ("path", NonnullString)),
    _s(
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
    _s(("label", CharArray(SECURITY_LABEL_MAX)), ("enforcing", Int)),
    RO,
)
_def(P.DOMAIN_IS_ACTIVE, "virDomainIsActive", _DOM_ONLY, _s(("active", Int)), RO)
_def(P.DOMAIN_IS_PERSISTENT, "virDomainIsPersistent", _DOM_ONLY, _s(("persistent", Int)), RO)
_def(
    P.DOMAIN_MEMORY_STATS,
    "virDomainMemoryStats",
    _s(_DOM, ("maxStats", UInt), _FLAGS),
    _s(("stats", Array(DomainMemoryStat, DOMAIN_MEMORY_STATS_MAX))),
    RO,
)
_def(P.DOMAIN_ATTACH_DEVICE_FLAGS, "virDomainAttachDeviceFlags", _s(_DOM, _XML, _FLAGS), Void, RW)
_def(P.DOMAIN_DETACH_DEVICE_FLAGS, "virDomainDetachDeviceFlags", _s(_DOM, _XML, _FLAGS), Void, RW)
_def(
    P.DOMAIN_GET_JOB_INFO,
    "virDomainGetJobInfo",
    _DOM_ONLY,
    _s(
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
_def(P.DOMAIN_UPDATE_DEVICE_FLAGS, "virDomainUpdateDeviceFlags", _s(_DOM, _XML, _FLAGS), Void, RW)
_def(P.DOMAIN_MANAGED_SAVE, "virDomainManagedSave", _DOM_FLAGS, Void, RW)
_def(P.DOMAIN_HAS_MANAGED_SAVE_IMAGE, "virDomainHasManagedSaveImage", _DOM_FLAGS, _s(("result", Int)), RO)
_def(P.DOMAIN_MANAGED_SAVE_REMOVE, "virDomainManagedSaveRemove", _DOM_FLAGS, Void, RW)
_def(P.DOMAIN_SNAPSHOT_NUM, "virDomainSnapshotNum", _DOM_FLAGS, _NUM, RO)
_def(
    P.DOMAIN_SNAPSHOT_LIST_NAMES,
    "virDomainSnapshotListNames",
    _s(_DOM, ("maxnames", Int), _FLAGS),
    _names(DOMAIN_SNAPSHOT_LIST_MAX),
    RO,
)
_def(P.DOMAIN_HAS_CURRENT_SNAPSHOT, "virDomainHasCurrentSnapshot", _DOM_FLAGS, _s(("result", Int)), RO)
_def(
    P.DOMAIN_GET_BLOCK_INFO,
    "virDomainGetBlockInfo",
    _s(_DOM, ("path", NonnullString), _FLAGS),
    _s(("allocation", UHyper), ("capacity", UHyper), ("physical", UHyper)),
    RO,
)
_def(P.DOMAIN_CREATE_WITH_FLAGS, "virDomainCreateWithFlags", _DOM_FLAGS, _RET_DOM, RW)
_def(
    P.DOMAIN_GET_MEMORY_PARAMETERS,
    "virDomainGetMemoryParameters",
    _s(_DOM, ("nparams", Int), _FLAGS),
    _s(("params", Array(TypedParam, DOMAIN_MEMORY_PARAMETERS_MAX)), ("nparams", Int)),
    RO,
)
_def(P.DOMAIN_SET_VCPUS_FLAGS, "virDomainSetVcpusFlags", _s(_DOM, ("nvcpus", UInt), _FLAGS), Void, RW)
_def(P.DOMAIN_GET_VCPUS_FLAGS, "virDomainGetVcpusFlags", _DOM_FLAGS, _NUM, RO)
_def(P.DOMAIN_OPEN_CONSOLE, "virDomainOpenConsole", _s(_DOM, ("dev_name", OptString), _FLAGS), Void, RW)
_def(P.DOMAIN_IS_UPDATED, "virDomainIsUpdated", _DOM_ONLY, _s(("updated", Int)), RO)
_def(P.DOMAIN_SET_MEMORY_FLAGS, "virDomainSetMemoryFlags", _s(_DOM, ("memory", UHyper), _FLAGS), Void, RW)
_def(
    P.DOMAIN_GET_BLKIO_PARAMETERS,
    "virDomainGetBlkioParameters",
    _s(_DOM, ("nparams", Int), _FLAGS),
    _s(("params", Array(TypedParam, DOMAIN_BLKIO_PARAMETERS_MAX)), ("nparams", Int)),
    RO,
)
_def(P.DOMAIN_INJECT_NMI, "virDomainInjectNMI", _DOM_FLAGS, Void, RW)
_def(P.DOMAIN_GET_STATE, "virDomainGetState", _DOM_FLAGS, _s(("state", Int), ("reason", Int)), RO)
_def(
    P.DOMAIN_GET_SCHEDULER_PARAMETERS_FLAGS,
    "virDomainGetSchedulerParametersFlags",
    _s(_DOM, ("nparams", Int), _FLAGS),
    _s(("params", Array(TypedParam, DOMAIN_SCHEDULER_PARAMETERS_MAX))),
    RO,
)
_def(
    P.DOMAIN_SEND_KEY,
    "virDomainSendKey",
    _s(
        _DOM,
        ("codeset", UInt),
        ("holdtime", UInt),
        ("keycodes", Array(UInt, DOMAIN_SEND_KEY_MAX)),
        _FLAGS,
    ),
    Void,
    RW,
)
_def(
    P.DOMAIN_GET_CONTROL_INFO,
    "virDomainGetControlInfo",
    _DOM_FLAGS,
    _s(("state", UInt), ("details", UInt), ("stateTime", UHyper)),
    RO,
)
_def(
    P.DOMAIN_GET_VCPU_PIN_INFO,
    "virDomainGetVcpuPinInfo",
    _s(_DOM, ("ncpumaps", Int), ("maplen", Int), _FLAGS),
    _s(("cpumaps", VarOpaque(CPUMAPS_MAX)), ("num", Int)),
    RO,
)
_def(P.DOMAIN_UNDEFINE_FLAGS, "virDomainUndefineFlags", _DOM_FLAGS, Void, RW)
_def(
    P.DOMAIN_SAVE_FLAGS,
    "virDomainSaveFlags",
    _s(_DOM, ("to", NonnullString), ("dxml", OptString), _FLAGS),
    Void,
    RW,
)
_def(
    P.DOMAIN_RESTORE_FLAGS,
    "virDomainRestoreFlags",
    _s(("from", NonnullString), ("dxml", OptString), _FLAGS),
    Void,
    RW,
)
_def(P.DOMAIN_DESTROY_FLAGS, "virDomainDestroyFlags", _DOM_FLAGS, Void, RW)
_def(
    P.DOMAIN_BLOCK_STATS_FLAGS,
    "virDomainBlockStatsFlags",
    _s(_DOM, ("path", NonnullString), ("nparams", Int), _FLAGS),
    _s(("params", Array(TypedParam, DOMAIN_BLOCK_STATS_PARAMETERS_MAX)), ("nparams", Int)),
    RO,
)
_def(P.DOMAIN_RESET, "virDomainReset", _DOM_FLAGS, Void, RW)
_def(
    P.DOMAIN_GET_NUMA_PARAMETERS,
    "virDomainGetNumaParameters",
    _s(_DOM, ("nparams", Int), _FLAGS),
    _s(("params", Array(TypedParam, DOMAIN_NUMA_PARAMETERS_MAX)), ("nparams", Int)),
    RO,
)
_def(
    P.DOMAIN_GET_INTERFACE_PARAMETERS,
    "virDomainGetInterfaceParameters",
    _s(_DOM, ("device", NonnullString), ("nparams", Int), _FLAGS),
    _s(("params", Array(TypedParam, DOMAIN_INTERFACE_PARAMETERS_MAX)), ("nparams", Int)),
    RO,
)
_def(P.DOMAIN_SHUTDOWN_FLAGS, "virDomainShutdownFlags", _DOM_FLAGS, Void, RW)
_def(
    P.DOMAIN_GET_CPU_STATS,
    "virDomainGetCPUStats",
    _s(_DOM, ("nparams", UInt), ("start_cpu", Int), ("ncpus", UInt), _FLAGS),
    _s(("params", Array(TypedParam, DOMAIN_GET_CPU_STATS_MAX)), ("nparams", Int)),
    RO,
)
_def(
    P.DOMAIN_SET_METADATA,
    "virDomainSetMetadata",
    _s(
        _DOM,
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
    P.DOMAIN_GET_METADATA,
    "virDomainGetMetadata",
    _s(_DOM, ("type", Int), ("uri", OptString), _FLAGS),
    _s(("metadata", NonnullString)),
    RO,
)
_def(
    P.CONNECT_LIST_ALL_DOMAINS,
    "virConnectListAllDomains",
    _NEED_RESULTS_FLAGS,
    _s(("domains", Array(NonnullDomain, DOMAIN_LIST_MAX)), ("ret", UInt)),
    RO,
)
_def(
    P.DOMAIN_LIST_ALL_SNAPSHOTS,
    "virDomainListAllSnapshots",
    _s(_DOM, ("need_results", Int), _FLAGS),
    _s(("snapshots", Array(NonnullDomainSnapshot, DOMAIN_SNAPSHOT_LIST_MAX)), ("ret", Int)),
    RO,
)
# May ask the guest agent; treated as a write operation to be safe.
_def(P.DOMAIN_GET_HOSTNAME, "virDomainGetHostname", _DOM_FLAGS, _s(("hostname", NonnullString)), RW)
_def(
    P.DOMAIN_GET_JOB_STATS,
    "virDomainGetJobStats",
    _DOM_FLAGS,
    _s(("type", Int), ("params", Array(TypedParam, DOMAIN_JOB_STATS_MAX))),
    RO,
)
# Talks to the guest agent: refused on read-only connections.
_def(P.DOMAIN_GET_TIME, "virDomainGetTime", _DOM_FLAGS, _s(("seconds", Hyper), ("nseconds", UInt)), RW)
_def(
    P.CONNECT_GET_ALL_DOMAIN_STATS,
    "virConnectGetAllDomainStats",
    _s(("doms", Array(NonnullDomain, DOMAIN_LIST_MAX)), ("stats", UInt), _FLAGS),
    _s(("retStats", Array(DomainStatsRecord, DOMAIN_LIST_MAX))),
    RO,
)
_def(P.DOMAIN_DEFINE_XML_FLAGS, "virDomainDefineXMLFlags", _XML_FLAGS, _RET_DOM, RW)
_def(
    P.DOMAIN_INTERFACE_ADDRESSES,
    "virDomainInterfaceAddresses",
    _s(_DOM, ("source", UInt), _FLAGS),
    _s(("ifaces", Array(DomainInterface, DOMAIN_INTERFACE_MAX))),
    RO,
)
_def(
    P.DOMAIN_RENAME,
    "virDomainRename",
    _s(_DOM, ("new_name", OptString), _FLAGS),
    _s(("retcode", Int)),
    RW,
)
_def(
    P.DOMAIN_GET_MESSAGES,
    "virDomainGetMessages",
    _DOM_FLAGS,
    _s(("msgs", Array(NonnullString, DOMAIN_MESSAGES_MAX))),
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
_def(P.NETWORK_CREATE_XML, "virNetworkCreateXML", _s(_XML), _RET_NET, RW)
_def(P.NETWORK_DEFINE_XML, "virNetworkDefineXML", _s(_XML), _RET_NET, RW)
_def(P.NETWORK_DESTROY, "virNetworkDestroy", _NET_ONLY, Void, RW)
_def(P.NETWORK_GET_XML_DESC, "virNetworkGetXMLDesc", _s(_NET, _FLAGS), _RET_XML, RO)
_def(P.NETWORK_GET_AUTOSTART, "virNetworkGetAutostart", _NET_ONLY, _s(("autostart", Int)), RO)
_def(P.NETWORK_GET_BRIDGE_NAME, "virNetworkGetBridgeName", _NET_ONLY, _s(("name", NonnullString)), RO)
_def(P.NETWORK_LOOKUP_BY_NAME, "virNetworkLookupByName", _s(("name", NonnullString)), _RET_NET, RO)
_def(P.NETWORK_LOOKUP_BY_UUID, "virNetworkLookupByUUID", _s(("uuid", UUID)), _RET_NET, RO)
_def(P.NETWORK_SET_AUTOSTART, "virNetworkSetAutostart", _s(_NET, ("autostart", Int)), Void, RW)
_def(P.NETWORK_UNDEFINE, "virNetworkUndefine", _NET_ONLY, Void, RW)
_def(P.NETWORK_IS_ACTIVE, "virNetworkIsActive", _NET_ONLY, _s(("active", Int)), RO)
_def(P.NETWORK_IS_PERSISTENT, "virNetworkIsPersistent", _NET_ONLY, _s(("persistent", Int)), RO)
_def(
    P.CONNECT_LIST_ALL_NETWORKS,
    "virConnectListAllNetworks",
    _NEED_RESULTS_FLAGS,
    _s(("nets", Array(NonnullNetwork, NETWORK_LIST_MAX)), ("ret", UInt)),
    RO,
)
_def(
    P.NETWORK_UPDATE,
    "virNetworkUpdate",
    _s(
        _NET,
        ("command", UInt),
        ("section", UInt),
        ("parentIndex", Int),
        _XML,
        _FLAGS,
    ),
    Void,
    RW,
)
_def(
    P.NETWORK_GET_DHCP_LEASES,
    "virNetworkGetDHCPLeases",
    _s(_NET, ("mac", OptString), ("need_results", Int), _FLAGS),
    _s(("leases", Array(NetworkDhcpLease, NETWORK_DHCP_LEASES_MAX)), ("ret", UInt)),
    RO,
)
_def(P.NETWORK_DEFINE_XML_FLAGS, "virNetworkDefineXMLFlags", _XML_FLAGS, _RET_NET, RW)
_def(P.NETWORK_CREATE_XML_FLAGS, "virNetworkCreateXMLFlags", _XML_FLAGS, _RET_NET, RW)
_def(
    P.NETWORK_SET_METADATA,
    "virNetworkSetMetadata",
    _s(
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
    _s(("network", NonnullNetwork), ("type", Int), ("uri", OptString), _FLAGS),
    _s(("metadata", NonnullString)),
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
_def(P.STORAGE_POOL_LOOKUP_BY_NAME, "virStoragePoolLookupByName", _s(("name", NonnullString)), _RET_POOL, RO)
_def(P.STORAGE_POOL_LOOKUP_BY_UUID, "virStoragePoolLookupByUUID", _s(("uuid", UUID)), _RET_POOL, RO)
_def(P.STORAGE_POOL_LOOKUP_BY_VOLUME, "virStoragePoolLookupByVolume", _s(_VOL), _RET_POOL, RO)
_def(
    P.STORAGE_POOL_GET_INFO,
    "virStoragePoolGetInfo",
    _POOL_ONLY,
    _s(("state", UChar), ("capacity", UHyper), ("allocation", UHyper), ("available", UHyper)),
    RO,
)
_def(P.STORAGE_POOL_GET_XML_DESC, "virStoragePoolGetXMLDesc", _POOL_FLAGS, _RET_XML, RO)
_def(P.STORAGE_POOL_GET_AUTOSTART, "virStoragePoolGetAutostart", _POOL_ONLY, _s(("autostart", Int)), RO)
_def(P.STORAGE_POOL_SET_AUTOSTART, "virStoragePoolSetAutostart", _s(_POOL, ("autostart", Int)), Void, RW)
_def(P.STORAGE_POOL_NUM_OF_VOLUMES, "virStoragePoolNumOfVolumes", _POOL_ONLY, _NUM, RO)
_def(
    P.STORAGE_POOL_LIST_VOLUMES,
    "virStoragePoolListVolumes",
    _s(_POOL, ("maxnames", Int)),
    _names(STORAGE_VOL_LIST_MAX),
    RO,
)
_def(P.STORAGE_VOL_CREATE_XML, "virStorageVolCreateXML", _s(_POOL, _XML, _FLAGS), _RET_VOL, RW)
_def(P.STORAGE_VOL_DELETE, "virStorageVolDelete", _VOL_FLAGS, Void, RW)
_def(
    P.STORAGE_VOL_LOOKUP_BY_NAME,
    "virStorageVolLookupByName",
    _s(_POOL, ("name", NonnullString)),
    _RET_VOL,
    RO,
)
_def(P.STORAGE_VOL_LOOKUP_BY_KEY, "virStorageVolLookupByKey", _s(("key", NonnullString)), _RET_VOL, RO)
_def(P.STORAGE_VOL_LOOKUP_BY_PATH, "virStorageVolLookupByPath", _s(("path", NonnullString)), _RET_VOL, RO)
_def(P.STORAGE_VOL_GET_INFO, "virStorageVolGetInfo", _s(_VOL), _VOL_INFO, RO)
_def(P.STORAGE_VOL_GET_XML_DESC, "virStorageVolGetXMLDesc", _VOL_FLAGS, _RET_XML, RO)
_def(P.STORAGE_VOL_GET_PATH, "virStorageVolGetPath", _s(_VOL), _s(("name", NonnullString)), RO)
_def(
    P.STORAGE_VOL_CREATE_XML_FROM,
    "virStorageVolCreateXMLFrom",
    _s(_POOL, _XML, ("clonevol", NonnullStorageVol), _FLAGS),
    _RET_VOL,
    RW,
)
_def(P.STORAGE_POOL_IS_ACTIVE, "virStoragePoolIsActive", _POOL_ONLY, _s(("active", Int)), RO)
_def(P.STORAGE_POOL_IS_PERSISTENT, "virStoragePoolIsPersistent", _POOL_ONLY, _s(("persistent", Int)), RO)
_def(P.STORAGE_VOL_WIPE, "virStorageVolWipe", _VOL_FLAGS, Void, RW)
_def(P.STORAGE_VOL_RESIZE, "virStorageVolResize", _s(_VOL, ("capacity", UHyper), _FLAGS), Void, RW)
_def(
    P.CONNECT_LIST_ALL_STORAGE_POOLS,
    "virConnectListAllStoragePools",
    _NEED_RESULTS_FLAGS,
    _s(("pools", Array(NonnullStoragePool, STORAGE_POOL_LIST_MAX)), ("ret", UInt)),
    RO,
)
_def(
    P.STORAGE_POOL_LIST_ALL_VOLUMES,
    "virStoragePoolListAllVolumes",
    _s(_POOL, ("need_results", Int), _FLAGS),
    _s(("vols", Array(NonnullStorageVol, STORAGE_VOL_LIST_MAX)), ("ret", UInt)),
    RO,
)
_def(P.STORAGE_VOL_GET_INFO_FLAGS, "virStorageVolGetInfoFlags", _VOL_FLAGS, _VOL_INFO, RO)

# -- event registration ----------------------------------------------------
_def(
    P.CONNECT_DOMAIN_EVENT_REGISTER,
    "virConnectDomainEventRegister",
    Void,
    _s(("cb_registered", Int)),
    RO,
)
_def(
    P.CONNECT_DOMAIN_EVENT_DEREGISTER,
    "virConnectDomainEventDeregister",
    Void,
    _s(("cb_registered", Int)),
    RO,
)
_def(P.CONNECT_DOMAIN_EVENT_REGISTER_ANY, "virConnectDomainEventRegisterAny", _s(("eventID", Int)), Void, RO)
_def(
    P.CONNECT_DOMAIN_EVENT_DEREGISTER_ANY,
    "virConnectDomainEventDeregisterAny",
    _s(("eventID", Int)),
    Void,
    RO,
)
_def(
    P.CONNECT_NETWORK_EVENT_REGISTER_ANY,
    "virConnectNetworkEventRegisterAny",
    _s(("eventID", Int), ("net", OptNetwork)),
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
    _s(("eventID", Int), ("dom", OptDomain)),
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
    _s(("eventID", Int), ("pool", OptStoragePool)),
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
    _s(_CB, _NET, ("event", Int), ("detail", Int)),
)
_event(
    P.DOMAIN_EVENT_CALLBACK_LIFECYCLE,
    "virConnectDomainEventCallback",
    _s(_CB, ("msg", _LIFECYCLE_MSG)),
)
_event(P.DOMAIN_EVENT_CALLBACK_REBOOT, "virConnectDomainEventGenericCallback", _s(_CB, ("msg", _DOM_ONLY)))
_event(
    P.DOMAIN_EVENT_CALLBACK_DEVICE_REMOVED,
    "virConnectDomainEventDeviceRemovedCallback",
    _s(_CB, ("msg", _s(_DOM, ("devAlias", NonnullString)))),
)
_event(
    P.DOMAIN_EVENT_CALLBACK_AGENT_LIFECYCLE,
    "virConnectDomainEventAgentLifecycleCallback",
    _s(_CB, _DOM, ("state", Int), ("reason", Int)),
)
_event(
    P.DOMAIN_EVENT_CALLBACK_DEVICE_ADDED,
    "virConnectDomainEventDeviceAddedCallback",
    _s(_CB, _DOM, ("devAlias", NonnullString)),
)
_event(P.CONNECT_EVENT_CONNECTION_CLOSED, "virConnectCloseFunc", _s(("reason", Int)))
_event(
    P.STORAGE_POOL_EVENT_LIFECYCLE,
    "virConnectStoragePoolEventLifecycleCallback",
    _s(_CB, _POOL, ("event", Int), ("detail", Int)),
)
_event(P.STORAGE_POOL_EVENT_REFRESH, "virConnectStoragePoolEventGenericCallback", _s(_CB, _POOL))

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
