"""``@dataclass``, built on the class's first instantiation instead of at import.

:func:`dataclasses.dataclass` compiles each class's generated ``__init__``,
``__repr__`` and ``__eq__`` from source text when the decorator runs: about
1 to 2 ms per class.  pyvirtd's configuration and driver modules hold ~55
dataclasses, so that was about half of the daemon's start-up, mostly for
classes a given daemon never instantiates (capabilities, port forwards, …).

:func:`dataclass` here records the options and puts a placeholder ``__new__``
on the class.  The first ``Class(...)`` (or :func:`build`) runs the real
``dataclasses.dataclass`` on the class, in place, deferred bases first; the
class then has everything the standard decorator makes.  The build holds a
lock, so two threads instantiating the same class at once both see the
finished class.

The placeholder stays, swapped for a plain ``object.__new__`` call (about
0.4 µs per instance): CPython keeps routing instance creation through a
Python-level ``__new__`` once a class has had one, even after it is deleted,
and ``object.__new__`` then refuses the constructor's arguments.  An
``__init__`` placeholder would avoid that cost, but a thread could then meet
the class between the placeholder's removal and the generated ``__init__``'s
arrival.

:func:`field` records its options too, so that the :mod:`dataclasses` module
itself is imported with the first build, not with the modules that declare
dataclasses.

What needs a built class:
``dataclasses.fields(Class)`` and class-level access to a ``field(...)``
default before any instance exists (call :func:`build` first).  Instances are
always built, so ``asdict``, ``replace``, ``==`` and ``repr`` just work.  Type
checkers see the standard decorator and ``dataclasses.field``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

__all__ = ["build", "dataclass", "field"]


class _Field:
    """A ``field(...)`` declaration, made a ``dataclasses.field`` when its class is built."""

    __slots__ = ("options",)

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options


def _real_fields(cls: type) -> None:
    import dataclasses

    for name, value in list(cls.__dict__.items()):
        if isinstance(value, _Field):
            setattr(cls, name, dataclasses.field(**value.options))


_OPTIONS = "__pyvirt_dataclass_options__"
_lock = threading.RLock()


def build(cls: type) -> type:
    """Turn deferred dataclass ``cls`` (and its deferred bases) into a dataclass now; returns ``cls``.

    A no-op for classes already built or not made by :func:`dataclass`.
    Raises what ``dataclasses.dataclass`` raises for a bad definition.
    """
    if _OPTIONS not in cls.__dict__:
        return cls
    with _lock:
        if _OPTIONS not in cls.__dict__:  # built by another thread meanwhile
            return cls
        for base in reversed(cls.__mro__[1:]):
            build(base)
        import dataclasses
        import inspect  # loaded by asyncio anyway

        documented = cls.__doc__ is not None
        _real_fields(cls)
        dataclasses.dataclass(cls, **cls.__dict__[_OPTIONS])
        init_fn = cls.__dict__.get("__init__")  # absent with init=False
        if init_fn is not None:
            # inspect.signature() would describe our __new__, not the generated __init__
            init = inspect.signature(init_fn)
            sig = init.replace(parameters=list(init.parameters.values())[1:])
            cls.__signature__ = sig  # type: ignore[attr-defined]
            if not documented:  # what the standard decorator writes, from the right signature
                cls.__doc__ = cls.__name__ + str(sig).replace(" -> None", "")
        # last: a thread that met the placeholder waits on the lock above
        cls.__new__ = _PLAIN_NEW  # type: ignore[assignment]
        delattr(cls, _OPTIONS)
    return cls


def _plain_new(klass: type, *_args: Any, **_kwargs: Any) -> Any:
    return object.__new__(klass)


_PLAIN_NEW = staticmethod(_plain_new)


def _defer(cls: type, options: dict[str, Any]) -> type:
    if "__new__" in cls.__dict__ or "__init__" in cls.__dict__:
        import dataclasses

        _real_fields(cls)
        return dataclasses.dataclass(cls, **options)  # a class of its own make: nothing to defer

    def placeholder(klass: type, *_args: Any, **_kwargs: Any) -> Any:
        build(cls)
        # type.__call__ looks __init__ up after __new__ returns: the generated one runs
        return _plain_new(klass)

    setattr(cls, _OPTIONS, options)
    cls.__new__ = staticmethod(placeholder)  # type: ignore[assignment]
    return cls


if TYPE_CHECKING:
    # type checkers know the standard decorator and field(); the ones below behave the same
    from dataclasses import dataclass as dataclass
    from dataclasses import field as field
else:

    def field(**options):
        """Like :func:`dataclasses.field` (same options), for classes made by :func:`dataclass`."""
        return _Field(options)

    def dataclass(cls=None, /, **options):
        """Like :func:`dataclasses.dataclass` (same options), built on first instantiation."""
        if options.get("slots"):
            raise TypeError("slots=True makes a new class and cannot be deferred")
        if cls is None:
            return lambda c: _defer(c, options)
        return _defer(cls, options)
