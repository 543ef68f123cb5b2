"""UUID text and wire forms without the :mod:`uuid` module.

``import uuid`` also imports :mod:`platform` (a few ms of the daemon's
start-up, for features pyvirt does not use); these helpers are all pyvirt
needs: the canonical text of 16 bytes, the bytes of a text, a random v4.
"""

from __future__ import annotations

import os

__all__ = ["format_uuid", "new_uuid", "parse_uuid_bytes"]

_HEX = frozenset("0123456789abcdefABCDEF")


def format_uuid(raw: bytes) -> str:
    """The canonical lowercase text of 16 bytes (``8-4-4-4-12``).

    Raises ValueError when ``raw`` is not 16 bytes long.
    """
    if len(raw) != 16:
        raise ValueError(f"a uuid is 16 bytes, not {len(raw)}")
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def parse_uuid_bytes(text: str) -> bytes:
    """The 16 bytes of a uuid text, accepting what ``uuid.UUID(text)`` accepts.

    That is 32 hex digits, with '-' anywhere, optionally in braces or after
    ``urn:uuid:``.  Raises ValueError for anything else.
    """
    h = text.replace("urn:", "").replace("uuid:", "").strip("{}").replace("-", "")
    if len(h) != 32 or not _HEX.issuperset(h):
        raise ValueError(f"badly formed hexadecimal UUID string {text!r}")
    return bytes.fromhex(h)


def new_uuid() -> str:
    """A random (version 4, RFC 4122 variant) uuid in canonical form."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return format_uuid(bytes(raw))
