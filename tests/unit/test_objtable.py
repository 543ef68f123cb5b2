"""ObjectTable: the drivers' uuid-keyed object dict with a name index."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pyvirt.objtable import ObjectTable


@dataclass
class Obj:
    defname: str | None

    @property
    def name(self) -> str:
        assert self.defname is not None
        return self.defname


def test_set_find_delete() -> None:
    t: ObjectTable[Obj] = ObjectTable()
    a, b = Obj("a"), Obj("b")
    t["u1"] = a
    t["u2"] = b
    assert t.find_name("a") is a and t.find_name("b") is b and t.find_name("c") is None
    assert dict(t) == {"u1": a, "u2": b}
    a.defname = None  # undefine drops the definition before removing the object
    del t["u1"]
    assert t.find_name("a") is None and list(t) == ["u2"]
    assert t.pop("u2") is b and t.find_name("b") is None
    assert t.pop("u2", None) is None
    with pytest.raises(KeyError):
        t.pop("u2")
    with pytest.raises(KeyError):
        del t["u2"]


def test_replace_same_key() -> None:
    t: ObjectTable[Obj] = ObjectTable()
    a, a2 = Obj("a"), Obj("a")
    t["u1"] = a
    t["u1"] = a2
    assert t.find_name("a") is a2
    t["u1"] = Obj("z")
    assert t.find_name("a") is None and t.find_name("z") is t["u1"]


def test_stale_entry_rebuilds() -> None:
    t: ObjectTable[Obj] = ObjectTable()
    a = Obj("a")
    t["u1"] = a
    a.defname = "renamed"
    assert t.find_name("a") is None
    assert t.find_name("renamed") is a
    t.clear()
    assert t.find_name("renamed") is None and not t


def test_filter_pair_follows_libvirts_paired_filters() -> None:
    from pyvirt.objtable import filter_pair

    active, inactive = 1, 2
    objs = [("a", True), ("b", False), ("c", True)]
    asked: list[str] = []

    def is_active(o: tuple[str, bool]) -> bool:
        asked.append(o[0])
        return o[1]

    # Neither or both: everything, in order, and nothing is asked.
    assert filter_pair(objs, 0, active, inactive, is_active) == objs
    assert filter_pair(objs, active | inactive, active, inactive, is_active) == objs
    assert asked == []
    assert filter_pair(objs, active, active, inactive, is_active) == [("a", True), ("c", True)]
    assert filter_pair(objs, inactive, active, inactive, is_active) == [("b", False)]
    # Other bits do not matter.
    assert filter_pair(objs, active | 64, active, inactive, is_active) == [("a", True), ("c", True)]
