"""pyvirt: libvirt rebuilt in Python.

``pyvirt.open(uri)`` / ``pyvirt.openReadOnly(uri)`` return a
:class:`pyvirt.client.Connection`.  They are imported lazily so that
``import pyvirt`` stays cheap (``pyvirsh`` starts fast).
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time

__version__ = "0.1.0"

if TYPE_CHECKING:
    from pyvirt.client import Connection, Domain, Network, open, openReadOnly
    from pyvirt.errors import VirtError

__all__ = ["Connection", "Domain", "Network", "VirtError", "__version__", "open", "openReadOnly"]

_LAZY = {
    "open": "pyvirt.client",
    "openReadOnly": "pyvirt.client",
    "Connection": "pyvirt.client",
    "Domain": "pyvirt.client",
    "Network": "pyvirt.client",
    "VirtError": "pyvirt.errors",
    "libvirtError": "pyvirt.errors",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pyvirt' has no attribute {name!r}")
    import sys

    # __import__, not importlib.import_module: importlib costs ``warnings`` too
    __import__(module)
    attr = "VirtError" if name == "libvirtError" else name
    value = getattr(sys.modules[module], attr)
    globals()[name] = value
    return value
