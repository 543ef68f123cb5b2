"""pyvirt.lazydataclass: deferred dataclasses behave like the standard ones once used."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
import threading

import pytest

from pyvirt.lazydataclass import build, dataclass, field


def test_deferred_until_first_instance() -> None:
    @dataclass
    class Point:
        x: int
        y: int = 0
        tags: list[str] = field(default_factory=list)

    assert not dataclasses.is_dataclass(Point)
    p = Point(1)
    assert dataclasses.is_dataclass(Point)
    assert (p.x, p.y, p.tags) == (1, 0, [])
    assert p == Point(1, 0, [])
    assert p != Point(2)
    assert repr(p).endswith("Point(x=1, y=0, tags=[])")
    assert [f.name for f in dataclasses.fields(Point)] == ["x", "y", "tags"]
    assert Point(1).tags is not p.tags
    assert dataclasses.asdict(p) == {"x": 1, "y": 0, "tags": []}
    assert dataclasses.replace(p, y=5) == Point(1, 5)


def test_same_as_standard_decorator() -> None:
    def make(deco):  # type: ignore[no-untyped-def]
        @deco(frozen=True, order=True)
        class Pair:
            a: int
            b: str = "x"

        return Pair

    lazy, std = make(dataclass), make(dataclasses.dataclass)
    one, two = lazy(1), std(1)
    assert (one.a, one.b) == (two.a, two.b)
    assert lazy(1) < lazy(2)
    assert hash(lazy(3, "y")) == hash(lazy(3, "y"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.a = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        lazy()  # type: ignore[call-arg]
    for name in ("__init__", "__repr__", "__eq__", "__lt__", "__hash__", "__setattr__", "__match_args__"):
        assert name in lazy.__dict__, name
    # introspection describes the fields, not the placeholder
    assert str(inspect.signature(lazy)) == str(inspect.signature(std)) == "(a: 'int', b: 'str' = 'x') -> None"
    assert lazy.__doc__ == std.__doc__ == "Pair(a: 'int', b: 'str' = 'x')"


def test_bases_built_first_and_plain_subclass() -> None:
    @dataclass
    class Base:
        a: int

    @dataclass
    class Child(Base):
        b: int = 2

    class Plain(Base):
        def total(self) -> int:
            return self.a * 10

    c = Child(1)
    assert (c.a, c.b) == (1, 2)
    assert dataclasses.is_dataclass(Base)
    assert Plain(4).total() == 40


def test_plain_subclass_first() -> None:
    @dataclass
    class Base:
        a: int

    class Plain(Base):
        pass

    assert Plain(3).a == 3
    assert Base(5).a == 5


def test_build_explicitly() -> None:
    @dataclass
    class Cfg:
        n: int = 1

    assert build(Cfg) is Cfg
    assert [f.name for f in dataclasses.fields(Cfg)] == ["n"]
    assert build(Cfg) is Cfg  # again: a no-op
    assert build(int) is int


def test_own_init_is_built_at_once() -> None:
    @dataclass
    class Own:
        a: int = 0

        def __init__(self, value: str) -> None:
            self.a = int(value)

    assert dataclasses.is_dataclass(Own)
    assert Own("7").a == 7


def test_slots_refused() -> None:
    with pytest.raises(TypeError, match="slots"):

        @dataclass(slots=True)
        class S:
            a: int


def test_threads_share_one_build() -> None:
    @dataclass
    class Shared:
        a: int
        b: list[int] = field(default_factory=list)

    start = threading.Barrier(8)
    made: list[Shared] = []
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        start.wait()
        try:
            made.append(Shared(i))
        except BaseException as err:  # collected, the assertion below reports it
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(s.a for s in made) == list(range(8))
    assert all(s.b == [] for s in made)


_SURVEY = """
import dataclasses, sys
import pyvirt.daemon.server, pyvirt.network.runtime, pyvirt.qemu.runtime
import pyvirt.conf.capabilities, pyvirt.conf.domain, pyvirt.conf.network
classes = [c for m in list(sys.modules.values()) if m and m.__name__.startswith("pyvirt.")
           for c in vars(m).values() if isinstance(c, type) and c.__module__ == m.__name__]
deferred = [c for c in classes if "__pyvirt_dataclass_options__" in c.__dict__]
built = [c.__qualname__ for c in classes if dataclasses.is_dataclass(c)
         and c.__init__.__code__.co_filename == "<string>"]
print(len(deferred), built)
"""


def test_daemon_import_builds_no_dataclass() -> None:
    """Importing the daemon, its runtime and XML modules leaves the configuration and driver records unbuilt.

    (A class with its own ``__init__`` is built at once; only generated
    ``__init__``s, compiled from ``<string>``, count as built here.)
    """
    out = subprocess.run([sys.executable, "-c", _SURVEY], capture_output=True, text=True, check=True)
    count, built = out.stdout.split(" ", 1)
    assert int(count) > 40
    assert built.strip() == "[]"


def test_declaring_dataclasses_does_not_import_the_dataclasses_module() -> None:
    code = (
        "import sys\n"
        "from pyvirt.lazydataclass import dataclass, field\n"
        "@dataclass\n"
        "class Bag:\n"
        "    items: list = field(default_factory=list)\n"
        "    n: int = field(default=3, compare=False)\n"
        "before = 'dataclasses' in sys.modules\n"
        "a, b = Bag(), Bag(n=4)\n"
        "print(before, 'dataclasses' in sys.modules, a.items is not b.items, a == b, a.n, b)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True", "True", "True", "3", "Bag(items=[],", "n=4)"]


def test_field_on_a_class_with_its_own_init() -> None:
    @dataclass
    class Own:
        x: int
        seen: list[int] = field(default_factory=list, repr=False)

        def __init__(self, x: int) -> None:
            self.x = x
            self.seen = [x]

    assert dataclasses.is_dataclass(Own)  # built at once: nothing to defer
    assert repr(Own(2)).endswith("Own(x=2)") and Own(2) == Own(2)
