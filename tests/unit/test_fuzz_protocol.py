"""Hostile bytes against the protocol decoder: only XdrError / ProtocolError may come out.

Covers the XDR ``Unpacker``, the header and length-word checks, and the
argument and return codecs of every procedure in the table (random bytes,
truncations and bit flips of well-formed payloads, absurd counts and lengths).
Each test is bounded by ``max_examples`` and a deadline so the file runs in a
few seconds.
"""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyvirt.rpc import protocol, remote
from pyvirt.rpc.protocol import ProtocolError
from pyvirt.rpc.xdr import STRING_MAX, Unpacker, XdrError
from tests.unit.xdr_strategies import sample_value, value_for

PROCS = sorted(remote.PROCEDURES)
FUZZ = settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


def _decode_or_xdr_error(codec: remote.Codec, data: bytes) -> None:
    try:
        remote.decode(codec, data)
    except XdrError:
        pass


@FUZZ
@given(st.sampled_from(PROCS), st.binary(max_size=256))
def test_random_bytes_into_every_args_codec(proc: int, data: bytes) -> None:
    _decode_or_xdr_error(remote.PROCEDURES[proc].args, data)


@FUZZ
@given(st.sampled_from(PROCS), st.binary(max_size=256))
def test_random_bytes_into_every_ret_codec(proc: int, data: bytes) -> None:
    _decode_or_xdr_error(remote.PROCEDURES[proc].ret, data)


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes_into_remote_error(data: bytes) -> None:
    try:
        remote.decode_error(data)
    except XdrError:
        pass


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_every_args_codec_round_trips_and_survives_mutation(data: st.DataObject) -> None:
    proc = data.draw(st.sampled_from(PROCS))
    codec = remote.PROCEDURES[proc].args
    value = data.draw(value_for(codec))
    wire = remote.encode(codec, value)
    assert remote.encode(codec, remote.decode(codec, wire, strict=True)) == wire
    # Truncations and bit flips must fail cleanly (or decode to something).
    cut = data.draw(st.integers(0, len(wire)))
    _decode_or_xdr_error(codec, wire[:cut])
    if wire:
        pos = data.draw(st.integers(0, len(wire) - 1))
        flipped = bytearray(wire)
        flipped[pos] ^= data.draw(st.integers(1, 255))
        _decode_or_xdr_error(codec, bytes(flipped))


def test_every_procedure_with_truncations_and_huge_counts() -> None:
    """Deterministic sweep: every proc, every truncation of a sample, counts of 0xffffffff."""
    rng = random.Random(1234)
    cases = 0
    for proc in PROCS:
        codec = remote.PROCEDURES[proc].args
        sample = remote.encode(codec, sample_value(codec, rng))
        for cut in range(len(sample) + 1):
            _decode_or_xdr_error(codec, sample[:cut])
            cases += 1
        for _ in range(20):
            blob = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
            _decode_or_xdr_error(codec, blob)
            cases += 1
        # Every 4-byte slot replaced by a huge length/count.
        for off in range(0, len(sample), 4):
            for word in (0xFFFFFFFF, 0x7FFFFFFF, STRING_MAX + 1, 0x10000):
                mutated = sample[:off] + struct.pack(">I", word) + sample[off + 4 :]
                _decode_or_xdr_error(codec, mutated)
                cases += 1
    print(f"\nprotocol sweep: {cases} decode cases over {len(PROCS)} procedures")
    assert cases > 1000


@FUZZ
@given(st.binary(max_size=64))
def test_unpacker_primitives(data: bytes) -> None:
    for op in (
        lambda u: u.unpack_int(),
        lambda u: u.unpack_uint(),
        lambda u: u.unpack_hyper(),
        lambda u: u.unpack_uhyper(),
        lambda u: u.unpack_bool(),
        lambda u: u.unpack_double(),
        lambda u: u.unpack_string(),
        lambda u: u.unpack_string(8),
        lambda u: u.unpack_opaque(),
        lambda u: u.unpack_fopaque(16),
        lambda u: u.unpack_array_length(16384),
        lambda u: u.unpack_ints(3),
    ):
        try:
            op(Unpacker(data))
        except XdrError:
            pass


def test_string_over_the_limit_is_refused_before_allocation() -> None:
    data = struct.pack(">I", STRING_MAX + 1) + b"x" * 8
    with pytest.raises(XdrError, match="exceeds maximum"):
        Unpacker(data).unpack_string()
    # A length within the limit but past the end of the data is refused too.
    with pytest.raises(XdrError, match="runs past the end"):
        Unpacker(struct.pack(">I", STRING_MAX) + b"abcd").unpack_string()


def test_huge_list_count_is_refused() -> None:
    codec = remote.PROCEDURES[remote.Proc.CONNECT_LIST_ALL_DOMAINS].ret
    with pytest.raises(XdrError):
        remote.decode(codec, struct.pack(">I", 0xFFFFFFFF))
    with pytest.raises(XdrError, match="cannot fit"):
        remote.decode(codec, struct.pack(">I", 16000) + b"\0" * 64)


@FUZZ
@given(st.integers(0, 2**32 - 1))
def test_length_word_checks(length: int) -> None:
    try:
        size = protocol.check_length(length)
    except ProtocolError:
        assert length < 28 or length - 4 > protocol.MESSAGE_MAX
    else:
        assert protocol.HEADER_MAX <= size <= protocol.MESSAGE_MAX


@FUZZ
@given(st.binary(max_size=40))
def test_unpack_header(data: bytes) -> None:
    try:
        header = protocol.unpack_header(data)
    except ProtocolError:
        assert len(data) < protocol.HEADER_MAX
    else:
        assert protocol.pack_message(header)[4:] == data[: protocol.HEADER_MAX]
