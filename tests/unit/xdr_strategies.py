"""Hypothesis strategies that build values for any codec of :mod:`pyvirt.rpc.remote`.

``value_for(codec)`` walks the codec tree (structs, unions, arrays, optional
pointers, strings, integers of every width) and returns a strategy of values
that codec can pack.  Sizes are kept small so fuzzing stays fast; the limits
themselves are tested separately with hand-made frames.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from pyvirt.rpc import remote

# Names that make drivers work hard: path tricks, control characters, unicode.
HOSTILE_NAMES = [
    "",
    ".",
    "..",
    "../../etc/passwd",
    "a/b",
    "x\n",
    "\t",
    "default",
    "x" * 300,
    "\u00e9t\u00e9",
    "\udcff",
    "nul\x00byte",
]

_TEXT = st.one_of(
    st.sampled_from(HOSTILE_NAMES),
    st.text(max_size=24),
)


def value_for(codec: remote.Codec, depth: int = 0) -> st.SearchStrategy[Any]:
    """A strategy of values ``codec.pack`` accepts.

    Raises:
        TypeError: for a codec class this module does not know.
    """
    name = repr(codec)
    if codec is remote.Void:
        return st.none()
    if name == "Int":
        return st.integers(-(2**31), 2**31 - 1)
    if name == "UInt":
        return st.integers(0, 2**32 - 1)
    if name == "Hyper":
        return st.integers(-(2**63), 2**63 - 1)
    if name == "UHyper":
        return st.integers(0, 2**64 - 1)
    if name == "Bool":
        return st.booleans()
    if name == "Double":
        return st.floats(allow_nan=False)
    if name == "Char":
        return st.integers(-128, 127)
    if name == "UChar":
        return st.integers(0, 255)
    if name == "UShort":
        return st.integers(0, 65535)
    if isinstance(codec, remote.String):
        return _TEXT
    if isinstance(codec, remote.Opaque):
        return st.binary(min_size=codec.size, max_size=codec.size)
    if isinstance(codec, remote.VarOpaque):
        return st.binary(max_size=min(codec.maximum, 64))
    if isinstance(codec, remote.CharArray):
        return st.text(
            alphabet=st.characters(min_codepoint=1, max_codepoint=127), max_size=min(16, codec.maximum - 1)
        )
    if isinstance(codec, remote.CharVector):
        return st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=127), max_size=codec.size)
    if isinstance(codec, remote.Optional):
        return st.one_of(st.none(), value_for(codec.codec, depth + 1))
    if isinstance(codec, remote.Array):
        return st.lists(value_for(codec.codec, depth + 1), max_size=0 if depth > 3 else min(codec.maximum, 3))
    if isinstance(codec, remote.Struct):
        return st.fixed_dictionaries({n: value_for(c, depth + 1) for n, c in codec.fields})
    if isinstance(codec, remote.Union):
        return st.one_of(
            *[st.tuples(st.just(disc), value_for(arm, depth + 1)) for disc, arm in sorted(codec.arms.items())]
        )
    raise TypeError(f"no strategy for codec {codec!r}")


def encoded_args(proc: int) -> st.SearchStrategy[bytes]:
    """Well-formed argument payloads for procedure ``proc``."""
    codec = remote.PROCEDURES[proc].args
    return value_for(codec).map(lambda v: remote.encode(codec, v))


def sample_value(codec: remote.Codec, rng: Any, depth: int = 0) -> Any:
    """One value for ``codec`` drawn from ``rng`` (a ``random.Random``), without hypothesis.

    Raises:
        TypeError: for a codec class this module does not know.
    """
    name = repr(codec)
    ints = {
        "Int": (-(2**31), 2**31 - 1),
        "UInt": (0, 2**32 - 1),
        "Hyper": (-(2**63), 2**63 - 1),
        "UHyper": (0, 2**64 - 1),
        "Char": (-128, 127),
        "UChar": (0, 255),
        "UShort": (0, 65535),
    }
    if codec is remote.Void:
        return None
    if name in ints:
        return rng.randint(*ints[name])
    if name == "Bool":
        return rng.random() < 0.5
    if name == "Double":
        return rng.uniform(-1e9, 1e9)
    if isinstance(codec, remote.String):
        return rng.choice([*HOSTILE_NAMES, "abc", "n1"])
    if isinstance(codec, remote.Opaque):
        return rng.randbytes(codec.size)
    if isinstance(codec, remote.VarOpaque):
        return rng.randbytes(rng.randint(0, 9))
    if isinstance(codec, (remote.CharArray, remote.CharVector)):
        return "abc"
    if isinstance(codec, remote.Optional):
        return None if rng.random() < 0.3 else sample_value(codec.codec, rng, depth + 1)
    if isinstance(codec, remote.Array):
        return [
            sample_value(codec.codec, rng, depth + 1) for _ in range(0 if depth > 3 else rng.randint(0, 2))
        ]
    if isinstance(codec, remote.Struct):
        return {n: sample_value(c, rng, depth + 1) for n, c in codec.fields}
    if isinstance(codec, remote.Union):
        disc = rng.choice(sorted(codec.arms))
        return (disc, sample_value(codec.arms[disc], rng, depth + 1))
    raise TypeError(f"no value for codec {codec!r}")
