"""The definition cache: what it keeps, when it is used, and that nothing bad in it is used."""

from __future__ import annotations

import marshal
from pathlib import Path

import pytest

import pyvirt
from pyvirt import defcache
from pyvirt.defcache import DefinitionCache, State


def _state(text: str = "<domain>\n  <name>vm</name>\n</domain>\n") -> State:
    return {"xml": text, "name": "vm", "vcpus": 2, "plain": True}


def _loaded(path: Path, entries: dict[str, State]) -> DefinitionCache:
    """A cache of ``entries`` at ``path``, loaded as at a start."""
    DefinitionCache(path).save(entries)
    cache = DefinitionCache(path)
    cache.load()
    return cache


def test_saved_states_load_back(tmp_path: Path) -> None:
    state = _state()
    path = tmp_path / "cache/qemu/definitions"
    DefinitionCache(path).save({"vm": state})
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert path.stat().st_mode & 0o777 == 0o600
    cache = DefinitionCache(path)
    assert cache.match("vm", str(state["xml"])) is None  # nothing held before load()
    cache.load()
    assert cache.match("vm", str(state["xml"])) == state


def test_a_file_that_changed_is_a_miss(tmp_path: Path) -> None:
    state = _state()
    cache = DefinitionCache(tmp_path / "definitions")
    cache.save({"vm": state, "odd": "not a state"})  # type: ignore[dict-item]
    cache.load()
    text = str(state["xml"])
    assert cache.match("vm", text) == state
    assert cache.match("vm", text.replace("vm", "vm ")) is None
    assert cache.match("other", text) is None
    assert cache.match("odd", text) is None


def test_states_are_let_go_once_saved(tmp_path: Path) -> None:
    # After the save that ends a start, only the texts are kept, to tell whether a later save
    # has anything new to write.
    state = _state()
    path = tmp_path / "definitions"
    cache = _loaded(path, {"vm": state})
    assert cache.match("vm", str(state["xml"])) == state
    cache.save({"vm": state})
    assert cache.match("vm", str(state["xml"])) is None
    path.unlink()
    cache.save({"vm": state})  # unchanged: not written
    assert not path.exists()
    cache.save({"vm": {**state, "xml": "<domain/>"}})
    assert path.exists()


def test_unchanged_entries_are_not_written_again(tmp_path: Path) -> None:
    state = _state()
    path = tmp_path / "definitions"
    cache = DefinitionCache(path)
    cache.save({"vm": state})
    path.write_bytes(b"sentinel")  # a save that wrote would replace it
    cache.save({"vm": dict(state)})
    assert path.read_bytes() == b"sentinel"
    cache.save({})
    cache.load()
    assert cache.match("vm", str(state["xml"])) is None  # the empty set was written


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00garbage",
        marshal.dumps(("pyvirt-definitions-1", "someone else's code", {"vm": _state()})),
        marshal.dumps(("pyvirt-definitions-0", defcache.code_key(), {"vm": _state()})),
        marshal.dumps([1, 2]),
        marshal.dumps((1, 2, 3, 4)),
        marshal.dumps(("pyvirt-definitions-1", defcache.code_key(), [("vm", _state())])),
    ],
)
def test_a_damaged_or_foreign_cache_is_ignored(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "definitions"
    path.write_bytes(data)
    cache = DefinitionCache(path)
    cache.load()
    assert cache.match("vm", str(_state()["xml"])) is None


def test_a_cache_written_by_other_code_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = _state()
    path = tmp_path / "definitions"
    DefinitionCache(path).save({"vm": state})
    monkeypatch.setattr(defcache, "_code_key", defcache.code_key() + "\nan edited module")
    cache = DefinitionCache(path)
    cache.load()
    assert cache.match("vm", str(state["xml"])) is None


def test_the_code_key_names_every_module_of_pyvirt_and_lxml() -> None:
    key = defcache.code_key()
    package = Path(pyvirt.__file__).parent
    for module in ("conf/domain.py", "conf/network.py", "conf/xmlutil.py", "defcache.py", "__init__.py"):
        assert f"{package / module} " in key
    assert "/lxml/etree." in key


def test_an_unwritable_cache_costs_nothing_but_speed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "file").write_text("")
    cache = DefinitionCache(tmp_path / "file" / "definitions")  # its directory cannot be made
    cache.save({"vm": _state()})  # logged, not raised
    assert "cannot write the definition cache" in caplog.text
    cache.load()
    assert cache.match("vm", str(_state()["xml"])) is None


class _Obj:
    def __init__(self, state: State | None) -> None:
        self.state = state

    def cache_state(self) -> State | None:
        return self.state


def test_save_objects_after_a_start_served_all_from_the_cache(tmp_path: Path) -> None:
    a, b = _state(), _state("<domain>\n  <name>vm2</name>\n</domain>\n")
    b["name"] = "vm2"
    path = tmp_path / "definitions"
    cache = _loaded(path, {"vm": a, "vm2": b})
    assert cache.match("vm", str(a["xml"])) and cache.match("vm2", str(b["xml"]))
    path.unlink()
    cache.save_objects([_Obj(a), _Obj(b)])  # everything came from the cache: nothing to write
    assert not path.exists()
    cache.save_objects([_Obj(a), _Obj(None)])  # later saves compare: vm2 is gone (transient now)
    cache.load()
    assert cache.match("vm", str(a["xml"])) == a and cache.match("vm2", str(b["xml"])) is None


def test_save_objects_writes_what_a_start_parsed(tmp_path: Path) -> None:
    a = _state()
    cache = _loaded(tmp_path / "definitions", {"vm": a})
    assert cache.match("vm", str(a["xml"])) == a
    new = {**a, "xml": "<domain>\n  <name>vm3</name>\n</domain>\n", "name": "vm3"}
    cache.save_objects([_Obj(a), _Obj(new)])  # vm3 was parsed: written
    cache.load()
    assert cache.match("vm3", str(new["xml"])) == new
