"""XDR Packer/Unpacker: round trips, exact bytes, hostile input."""

from __future__ import annotations

import time
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyvirt.rpc.xdr import STRING_MAX, Packer, Unpacker, XdrError


def packed(fn_name: str, *args: object) -> bytes:
    p = Packer()
    getattr(p, fn_name)(*args)
    return p.get_buffer()


@pytest.mark.parametrize(
    ("method", "value", "expected"),
    [
        ("pack_int", 1, "00000001"),
        ("pack_int", -1, "ffffffff"),
        ("pack_uint", 0xFFFFFFFF, "ffffffff"),
        ("pack_hyper", -2, "fffffffffffffffe"),
        ("pack_uhyper", 7002000, "00000000006ad790"),
        ("pack_bool", True, "00000001"),
        ("pack_bool", False, "00000000"),
        ("pack_double", 1.5, "3ff8000000000000"),
    ],
)
def test_scalar_bytes(method: str, value: object, expected: str) -> None:
    assert packed(method, value).hex() == expected


def test_string_is_length_bytes_padding() -> None:
    assert packed("pack_string", "qemu:///system").hex() == "0000000e" + b"qemu:///system".hex() + "0000"
    assert packed("pack_string", "pc1").hex() == "0000000370633100"
    assert packed("pack_string", "").hex() == "00000000"
    assert packed("pack_string", "abcd").hex() == "0000000461626364"


def test_opaque_fixed_and_variable() -> None:
    uuid = bytes(range(16))
    assert packed("pack_fopaque", 16, uuid) == uuid
    assert packed("pack_fopaque", 3, b"abc") == b"abc\0"
    assert packed("pack_opaque", b"\x01\x02", 10) == b"\0\0\0\x02\x01\x02\0\0"


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("pack_int", (2**31,)),
        ("pack_int", (-(2**31) - 1,)),
        ("pack_uint", (-1,)),
        ("pack_uint", (2**32,)),
        ("pack_hyper", (2**63,)),
        ("pack_uhyper", (-1,)),
        ("pack_int", ("1",)),
        ("pack_double", ("x",)),
        ("pack_fopaque", (16, b"short")),
        ("pack_fopaque", (4, "text")),
        ("pack_opaque", (b"12345", 4)),
        ("pack_string", ("x" * 11, 10)),
        ("pack_string", (42,)),
        ("pack_array_length", (5, 4)),
        ("pack_raw", (b"abc",)),
        ("pack_ints", ([2**31],)),
    ],
)
def test_pack_rejects_bad_values(method: str, args: tuple[object, ...]) -> None:
    p = Packer()
    with pytest.raises(XdrError):
        getattr(p, method)(*args)


def test_round_trip_everything() -> None:
    p = Packer()
    p.pack_int(-5)
    p.pack_uint(5)
    p.pack_hyper(-(2**40))
    p.pack_uhyper(2**64 - 1)
    p.pack_bool(True)
    p.pack_double(-0.25)
    p.pack_fopaque(5, b"hello")
    p.pack_opaque(b"xyz")
    p.pack_string("héllo")
    p.pack_array_length(2, 10)
    p.pack_ints([-1, 2])
    u = Unpacker(p.get_buffer())
    assert u.unpack_int() == -5
    assert u.unpack_uint() == 5
    assert u.unpack_hyper() == -(2**40)
    assert u.unpack_uhyper() == 2**64 - 1
    assert u.unpack_bool() is True
    assert u.unpack_double() == -0.25
    assert u.unpack_fopaque(5) == b"hello"
    assert u.unpack_opaque() == b"xyz"
    assert u.unpack_string() == "héllo"
    assert u.unpack_array_length(10) == 2
    assert u.unpack_ints(2) == (-1, 2)
    assert u.remaining == 0
    u.done()


def test_invalid_utf8_survives_round_trip() -> None:
    raw = b"\x00\x00\x00\x02\xff\xfe\x00\x00"
    s = Unpacker(raw).unpack_string()
    assert packed("pack_string", s) == raw


def test_done_reports_trailing_bytes() -> None:
    u = Unpacker(b"\0\0\0\x01\0\0\0\x02")
    u.unpack_int()
    with pytest.raises(XdrError, match="trailing"):
        u.done()


@pytest.mark.parametrize(
    ("method", "data"),
    [
        ("unpack_int", b"\0\0\0"),
        ("unpack_uint", b""),
        ("unpack_hyper", b"\0" * 7),
        ("unpack_uhyper", b"\0" * 4),
        ("unpack_double", b"\0" * 4),
        ("unpack_bool", b"\0\0\0\x02"),
        ("unpack_bool", b"\xff\xff\xff\xff"),
        ("unpack_string", b"\0\0\0\x05abcd"),  # data shorter than declared
        ("unpack_string", b"\0\0\0\x03abc"),  # padding missing
        ("unpack_opaque", b"\0\0\0\x01"),
        ("unpack_fopaque", b"\0" * 15),
    ],
)
def test_truncated_or_malformed(method: str, data: bytes) -> None:
    u = Unpacker(data)
    with pytest.raises(XdrError):
        if method == "unpack_fopaque":
            u.unpack_fopaque(16)
        else:
            getattr(u, method)()


def test_string_over_declared_max() -> None:
    data = packed("pack_string", "x" * 11)
    with pytest.raises(XdrError, match="exceeds maximum 10"):
        Unpacker(data).unpack_string(10)


def test_string_over_string_max_is_rejected_before_reading() -> None:
    data = (STRING_MAX + 1).to_bytes(4, "big")
    with pytest.raises(XdrError, match="exceeds maximum"):
        Unpacker(data).unpack_string()


def test_negative_count_is_a_huge_unsigned_count() -> None:
    with pytest.raises(XdrError, match="exceeds maximum"):
        Unpacker(b"\xff\xff\xff\xff").unpack_array_length(16384)


def test_array_count_that_cannot_fit_the_data() -> None:
    # 16000 elements allowed by the maximum, but only 8 bytes follow.
    data = (16000).to_bytes(4, "big") + b"\0" * 8
    with pytest.raises(XdrError, match="cannot fit"):
        Unpacker(data).unpack_array_length(16384)
    with pytest.raises(XdrError, match="cannot fit"):
        Unpacker((3).to_bytes(4, "big") + b"\0" * 16).unpack_array_length(10, min_item_size=8)


def test_unpack_ints_bounds() -> None:
    with pytest.raises(XdrError):
        Unpacker(b"\0" * 8).unpack_ints(3)
    with pytest.raises(XdrError):
        Unpacker(b"\0" * 8).unpack_ints(-1)


@pytest.mark.parametrize("length", [0x7FFFFFFF, 0xFFFFFFFF, STRING_MAX])
def test_hostile_lengths_fail_fast_without_allocating(length: int) -> None:
    data = length.to_bytes(4, "big") + b"abc"
    tracemalloc.start()
    start = time.perf_counter()
    for method in ("unpack_string", "unpack_opaque"):
        with pytest.raises(XdrError):
            getattr(Unpacker(data), method)()
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 0.05
    assert peak < 64 * 1024


def test_offset_and_memoryview_input() -> None:
    data = memoryview(b"junk" + packed("pack_string", "abc"))
    u = Unpacker(data, offset=4)
    assert u.position == 4
    assert u.unpack_string() == "abc"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("int"), st.integers(-(2**31), 2**31 - 1)),
            st.tuples(st.just("uint"), st.integers(0, 2**32 - 1)),
            st.tuples(st.just("hyper"), st.integers(-(2**63), 2**63 - 1)),
            st.tuples(st.just("uhyper"), st.integers(0, 2**64 - 1)),
            st.tuples(st.just("string"), st.text(max_size=40)),
            st.tuples(st.just("opaque"), st.binary(max_size=40)),
            st.tuples(st.just("double"), st.floats(allow_nan=False)),
        ),
        max_size=20,
    )
)
def test_property_round_trip(items: list[tuple[str, object]]) -> None:
    p = Packer()
    for kind, value in items:
        getattr(p, f"pack_{kind}")(value)
    data = p.get_buffer()
    assert len(data) % 4 == 0
    u = Unpacker(data)
    for kind, value in items:
        assert getattr(u, f"unpack_{kind}")() == value
    u.done()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_property_random_bytes_only_raise_xdrerror(data: bytes) -> None:
    u = Unpacker(data)
    for method in ("unpack_string", "unpack_opaque", "unpack_bool", "unpack_hyper"):
        try:
            getattr(u, method)()
        except XdrError:
            return
