"""Where the network runtime keeps its files, below the daemon's ``--root``.

``NetworkPaths(root)`` is the one parameter the runtime needs for files:

* ``ROOT/var/lib/pyvirt/dnsmasq/``: ``NAME.conf`` (0600), ``NAME.hostsfile``,
  ``NAME.addnhosts``, ``BRIDGE.status`` (leases JSON, named by bridge like
  libvirt), ``BRIDGE.macs``;
* ``ROOT/run/pyvirt/network/NAME.pid``: dnsmasq's pid file.
"""

from __future__ import annotations

import os
from pathlib import Path


class NetworkPaths:
    """File locations of the network runtime below ``root`` (default ``/``)."""

    __slots__ = ("root",)

    def __init__(self, root: str | os.PathLike[str] = "/") -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"NetworkPaths(root={self.root!r})"

    @property
    def dnsmasq_dir(self) -> Path:
        return self.root / "var/lib/pyvirt/dnsmasq"

    @property
    def pid_dir(self) -> Path:
        return self.root / "run/pyvirt/network"

    def conf(self, name: str) -> Path:
        return self.dnsmasq_dir / f"{name}.conf"

    def hostsfile(self, name: str) -> Path:
        return self.dnsmasq_dir / f"{name}.hostsfile"

    def addnhosts(self, name: str) -> Path:
        return self.dnsmasq_dir / f"{name}.addnhosts"

    def status(self, bridge: str) -> Path:
        return self.dnsmasq_dir / f"{bridge}.status"

    def macs(self, bridge: str) -> Path:
        return self.dnsmasq_dir / f"{bridge}.macs"

    def pidfile(self, name: str) -> Path:
        return self.pid_dir / f"{name}.pid"

    def ensure_dirs(self) -> None:
        """Create the directories (0755, so dnsmasq can re-read files after dropping root).

        Raises OSError when a directory cannot be created.
        """
        for d in (self.dnsmasq_dir, self.pid_dir):
            d.mkdir(parents=True, exist_ok=True, mode=0o755)
