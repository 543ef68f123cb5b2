"""Every path of one pyvirtd instance, all under its ``--root`` (see DESIGN.md).

A plain class with only :mod:`pathlib` behind it: pyvirtd reads its socket and
pid-file paths from here before it loads anything heavy.
"""

from __future__ import annotations

from pathlib import Path

TYPE_CHECKING = False  # not typing's: imported before typing loads
if TYPE_CHECKING:
    from pyvirt.store import ObjectStore

__all__ = ["Layout"]


class Layout:
    """Every path of one pyvirtd instance, all under ``root``."""

    __slots__ = ("root",)

    def __init__(self, root: Path) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"Layout(root={self.root!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Layout) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    @property
    def etc(self) -> Path:
        return self.root / "etc/pyvirt"

    @property
    def run(self) -> Path:
        return self.root / "run/pyvirt"

    @property
    def lib(self) -> Path:
        return self.root / "var/lib/pyvirt"

    @property
    def cache(self) -> Path:
        return self.root / "var/cache/pyvirt"

    @property
    def log(self) -> Path:
        return self.root / "var/log/pyvirt"

    @property
    def socket_rw(self) -> Path:
        return self.run / "pyvirt-sock"

    @property
    def socket_ro(self) -> Path:
        return self.run / "pyvirt-sock-ro"

    @property
    def pidfile(self) -> Path:
        return self.run / "pyvirtd.pid"

    @property
    def domains(self) -> ObjectStore:
        return self._objects("qemu", "qemu")

    @property
    def networks(self) -> ObjectStore:
        return self._objects("qemu/networks", "network")

    def _objects(self, config: str, state: str) -> ObjectStore:
        from pyvirt.store import ObjectStore  # loaded with the drivers, after the sockets

        config_dir = self.etc / config
        return ObjectStore(
            config_dir=config_dir, autostart_dir=config_dir / "autostart", state_dir=self.run / state
        )

    @property
    def dnsmasq_dir(self) -> Path:
        return self.lib / "dnsmasq"

    @property
    def qemu_log_dir(self) -> Path:
        return self.log / "qemu"

    @property
    def domain_cache(self) -> Path:
        """The stored domain definitions as last read (see :mod:`pyvirt.defcache`)."""
        return self.cache / "qemu/definitions"

    @property
    def network_cache(self) -> Path:
        """The stored network definitions as last read (see :mod:`pyvirt.defcache`)."""
        return self.cache / "network/definitions"

    @property
    def qemu_lib_dir(self) -> Path:
        return self.lib / "qemu"
