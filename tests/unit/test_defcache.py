"""The definition cache: what it keeps, when it is used, and that nothing bad in it is used."""

from __future__ import annotations

import marshal
from pathlib import Path

import pytest

import pyvirt
from pyvirt.conf.domain import parse_domain
from pyvirt.qemu import defcache
from pyvirt.qemu.defcache import DefinitionCache, State

DATA = Path(__file__).resolve().parent.parent / "data" / "domain"


def _state(name: str = "disks") -> tuple[str, State]:
    d = parse_domain((DATA / f"{name}.in.xml").read_text())
    d.compact()
    state = d.compact_state()
    assert state is not None
    return d.format(), state


def test_saved_states_load_back_and_rebuild_their_definitions(tmp_path: Path) -> None:
    text, state = _state()
    path = tmp_path / "cache/qemu/definitions"
    DefinitionCache(path).save({"vm": state})
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert path.stat().st_mode & 0o777 == 0o600
    cache = DefinitionCache(path)
    loaded = cache.load()
    assert loaded == {"vm": state}
    d = cache.lookup(loaded["vm"], text)
    assert d is not None and d.compacted and d.format() == text


def test_a_file_that_changed_is_a_miss(tmp_path: Path) -> None:
    text, state = _state()
    cache = DefinitionCache(tmp_path / "definitions")
    assert cache.lookup(state, text.replace("<memory", "<memory ")) is None
    assert cache.lookup(None, text) is None
    assert cache.lookup("not a state", text) is None  # type: ignore[arg-type]
    assert cache.lookup({**state, "vcpus": "2"}, text) is None  # a state of the wrong shape


def test_unchanged_entries_are_not_written_again(tmp_path: Path) -> None:
    _, state = _state()
    path = tmp_path / "definitions"
    cache = DefinitionCache(path)
    cache.save({"vm": state})
    path.write_bytes(b"sentinel")  # a save that wrote would replace it
    cache.save({"vm": dict(state)})
    assert path.read_bytes() == b"sentinel"
    cache.save({})
    assert cache.load() == {}  # the empty set was written


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00garbage",
        marshal.dumps(("pyvirt-definitions-1", "someone else's code", {})),
        marshal.dumps(("pyvirt-definitions-0", None, {})),
        marshal.dumps([1, 2]),
        marshal.dumps(("pyvirt-definitions-1", defcache.code_key(), ["a list"])),
        marshal.dumps((1, 2, 3, 4)),
    ],
)
def test_a_damaged_or_foreign_cache_is_ignored(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "definitions"
    path.write_bytes(data)
    assert DefinitionCache(path).load() == {}


def test_a_cache_written_by_other_code_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, state = _state()
    path = tmp_path / "definitions"
    DefinitionCache(path).save({"vm": state})
    monkeypatch.setattr(defcache, "_code_key", defcache.code_key() + "\nan edited module")
    assert DefinitionCache(path).load() == {}


def test_the_code_key_names_every_module_of_pyvirt() -> None:
    key = defcache.code_key()
    package = Path(pyvirt.__file__).parent
    for module in ("conf/domain.py", "conf/xmlutil.py", "qemu/defcache.py", "__init__.py"):
        assert f"{package / module} " in key


def test_an_unwritable_cache_costs_nothing_but_speed(tmp_path: Path) -> None:
    _, state = _state()
    (tmp_path / "file").write_text("")
    cache = DefinitionCache(tmp_path / "file" / "definitions")  # its directory cannot be made
    cache.save({"vm": state})  # logged, not raised
    assert cache.load() == {}
