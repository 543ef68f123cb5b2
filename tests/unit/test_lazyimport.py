"""pyvirt.lazyimport: a stand-in that imports its module on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pyvirt.lazyimport import lazy_module


def test_imported_on_first_attribute_only() -> None:
    code = (
        "import sys\n"
        "from pyvirt.lazyimport import lazy_module\n"
        "shlex = lazy_module('shlex')\n"
        "before = 'shlex' in sys.modules\n"
        "print(before, shlex.quote('a b'), shlex.quote is sys.modules['shlex'].quote)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "'a", "b'", "True"]


def test_setting_and_deleting_act_on_the_module(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    proxy = lazy_module("json")
    monkeypatch.setattr(proxy, "dumps", lambda obj: "patched")
    assert json.dumps({}) == "patched" == proxy.dumps({})
    monkeypatch.undo()
    assert proxy.dumps({}) == "{}"
    proxy.pyvirt_marker = 1
    assert json.pyvirt_marker == 1  # type: ignore[attr-defined]
    del proxy.pyvirt_marker
    assert not hasattr(json, "pyvirt_marker")


def test_missing_module_fails_at_first_use() -> None:
    proxy = lazy_module("pyvirt.no_such_module")
    assert "no_such_module" in repr(proxy)
    with pytest.raises(ModuleNotFoundError):
        assert proxy.anything
    with pytest.raises(AttributeError):
        assert lazy_module("json").no_such_name


def test_a_stand_in_with_a_home_replaces_itself_there_on_first_use() -> None:
    import json

    namespace: dict[str, object] = {}
    namespace["js"] = proxy = lazy_module("json", home=(namespace, "js"))
    assert namespace["js"] is proxy
    assert proxy.dumps([]) == "[]"
    assert namespace["js"] is json  # later reads go to the module itself
    # a binding that was changed meanwhile is left alone
    namespace["other"] = other = lazy_module("json", home=(namespace, "gone"))
    assert other.dumps(1) == "1" and namespace["other"] is other and "gone" not in namespace
