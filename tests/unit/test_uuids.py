"""pyvirt.uuids agrees with the standard uuid module on every form pyvirt uses."""

from __future__ import annotations

import os
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyvirt.uuids import format_uuid, new_uuid, parse_uuid_bytes


@given(st.binary(min_size=16, max_size=16))
def test_format_matches_uuid_module(raw: bytes) -> None:
    assert format_uuid(raw) == str(uuid.UUID(bytes=raw))


@given(st.binary(min_size=16, max_size=16), st.sampled_from(["{}", "urn:uuid:{}", "{{{}}}", "{}"]))
def test_parse_matches_uuid_module(raw: bytes, shape: str) -> None:
    for text in (str(uuid.UUID(bytes=raw)), raw.hex(), raw.hex().upper()):
        given_text = shape.format(text)
        assert parse_uuid_bytes(given_text) == uuid.UUID(given_text).bytes == raw


@pytest.mark.parametrize("text", ["", "1234", "g" * 32, "0" * 31, "0" * 33, " " + "0" * 32, "0" * 30 + " 0"])
def test_parse_refuses_what_uuid_module_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        uuid.UUID(text)
    with pytest.raises(ValueError):
        parse_uuid_bytes(text)


def test_format_refuses_wrong_length() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        format_uuid(os.urandom(15))


def test_new_uuid_is_random_version_4() -> None:
    made = {new_uuid() for _ in range(200)}
    assert len(made) == 200
    for text in made:
        u = uuid.UUID(text)
        assert (u.version, u.variant, str(u)) == (4, uuid.RFC_4122, text)
