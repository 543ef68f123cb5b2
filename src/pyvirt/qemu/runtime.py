"""What a running domain holds: its QEMU process, monitor, taps and ports.

A :class:`DomainRuntime` is created by the driver when a domain starts and
dropped when it stops.  It serialises to a dict for the live status file so a
restarted daemon can reattach (same pid, monitor, taps).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pyvirt.conf.domain import LiveInfo, LiveInterface, SecLabel
from pyvirt.lazydataclass import dataclass, field
from pyvirt.qemu import process
from pyvirt.qemu.dac import Label
from pyvirt.qemu.monitor import QemuMonitor
from pyvirt.uuids import new_uuid

log = logging.getLogger(__name__)


@dataclass
class Port:
    """One guest NIC plugged into the host: its tap and where the tap goes."""

    alias: str
    mac: str
    tap: str | None = None
    network: str | None = None  # <interface type='network'>
    bridge: str | None = None
    portid: str = field(default_factory=new_uuid)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Port:
        return cls(
            alias=str(data["alias"]),
            mac=str(data["mac"]),
            tap=data.get("tap"),
            network=data.get("network"),
            bridge=data.get("bridge"),
            portid=str(data.get("portid") or new_uuid()),
        )


def tap_mac(guest_mac: str) -> str:
    """libvirt's host-side MAC for a tap: the guest MAC with first byte ``fe``."""
    return "fe" + guest_mac[2:]


@dataclass
class DomainRuntime:
    """The host resources of one running domain."""

    record: process.QemuProcess
    ports: list[Port] = field(default_factory=list)
    monitor: QemuMonitor | None = None
    watcher: process.ExitWatcher | None = None
    # Set while pyvirtd itself stops the domain, so the exit is not a crash.
    stopping: bool = False
    # The guest asked to power off (QMP SHUTDOWN seen).
    shutdown_seen: bool = False
    # virsh reboot through ACPI: reset instead of stopping on SHUTDOWN.
    fake_reboot: bool = False
    # The account QEMU runs as (None: root) and the files handed over to it.
    user: str | None = None
    uid: int = 0
    gid: int = 0
    labels: list[Label] = field(default_factory=list)
    # Block nodes of each disk (alias -> [format node, storage node]) and the last node number used.
    nodes: dict[str, list[str]] = field(default_factory=dict)
    node_index: int = 0
    # Devices whose unplug QEMU was asked for: alias -> resolved on DEVICE_DELETED (not saved).
    unplugging: dict[str, asyncio.Future[None]] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.record.pid

    def cpu_time_ns(self) -> int:
        return process.cpu_time_ns(self.record.pid)

    def live_info(self, domdef: Any) -> LiveInfo:
        by_alias = {p.alias: p for p in self.ports}
        ifaces = []
        for iface in domdef.interfaces:
            port = by_alias.get(iface.alias)
            if port is None:
                ifaces.append(LiveInterface())
            else:
                ifaces.append(
                    LiveInterface(
                        target_dev=port.tap,
                        bridge=port.bridge if port.network else None,
                        portid=port.portid if port.network else None,
                    )
                )
        ptys = self.record.pty_paths or {}
        serial_ptys = [ptys.get(s.alias) for s in domdef.serials]
        label = f"+{self.uid}:+{self.gid}"
        return LiveInfo(
            domain_id=self.record.dom_id,
            interfaces=ifaces,
            serial_ptys=serial_ptys,
            seclabels=[SecLabel(label=label, imagelabel=label)],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "record": self.record.to_dict(),
            "ports": [p.to_dict() for p in self.ports],
            "shutdown_seen": self.shutdown_seen,
            "user": self.user,
            "uid": self.uid,
            "gid": self.gid,
            "labels": [lb.to_dict() for lb in self.labels],
            "nodes": self.nodes,
            "node_index": self.node_index,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DomainRuntime:
        """Rebuild from a status file.

        Raises:
            KeyError, TypeError, ValueError: the data is not a runtime record.
        """
        return cls(
            record=process.QemuProcess.from_dict(data["record"]),
            ports=[Port.from_dict(p) for p in data.get("ports", [])],
            shutdown_seen=bool(data.get("shutdown_seen", False)),
            user=data.get("user"),
            uid=int(data.get("uid", 0)),
            gid=int(data.get("gid", 0)),
            labels=[Label.from_dict(lb) for lb in data.get("labels", [])],
            nodes={str(k): [str(n) for n in v] for k, v in (data.get("nodes") or {}).items()},
            node_index=int(data.get("node_index", 0)),
        )
