"""Build the QEMU command line for a domain, the way libvirt 9.0 builds it.

:func:`build_argv` turns a parsed domain definition into an argv list for
``qemu-system-*``.  The order of the options and the spelling of each one
follow libvirt's ``qemuBuildCommandLine`` (see the reference output
``056-ps-qemu-pc1.txt``), so a ``ps`` of a pyvirt guest reads like one of
libvirt's.

Injection safety: every option that QEMU accepts in JSON form (``-device``,
``-netdev``, ``-blockdev``, ``-object``, ``-audiodev``) is emitted as JSON,
so a value taken from the XML (a disk path, a MAC, ...) can never add an
option of its own.  The options still in QEMU's ``key=value,...`` syntax
(``-name``, ``-machine``, ``-cpu``, ``-chardev``, ``-vnc``) double every
comma in a value, as libvirt's ``virQEMUBuildBufferEscapeComma`` does.
``-kernel``, ``-initrd`` and ``-append`` are taken verbatim by QEMU 7.2 (no
option parsing), so they are passed unchanged.

The domain object is read through the accessors of
``pyvirt.conf.domain.DomainDef``; attributes this module does not find fall
back to libvirt's defaults, which keeps it usable with partial definitions
(tests build small stand-ins).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from pyvirt.errors import ErrorDomain, config_unsupported, internal_error
from pyvirt.lazydataclass import dataclass
from pyvirt.uuids import format_uuid, parse_uuid_bytes

__all__ = [
    "DEFAULT_EMULATOR",
    "SANDBOX",
    "PciAddress",
    "build_argv",
    "disk_alias",
    "escape_comma",
    "interface_alias",
    "nic_driver",
    "serial_alias",
]

log = logging.getLogger(__name__)

DEFAULT_EMULATOR = "/usr/bin/qemu-system-x86_64"
SANDBOX = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"

# QEMU's device names for libvirt's <interface><model type=...>.
_NIC_DRIVERS = {
    "virtio": "virtio-net-pci",
    "e1000": "e1000",
    "e1000e": "e1000e",
    "rtl8139": "rtl8139",
    "ne2k_pci": "ne2k_pci",
    "pcnet": "pcnet",
    "vmxnet3": "vmxnet3",
}

# libvirt's default SCSI controller for x86 QEMU is the LSI 53C895A.
_SCSI_DRIVERS = {
    "lsilogic": "lsi",
    "virtio-scsi": "virtio-scsi-pci",
}

_TAP_TYPES = ("network", "bridge", "ethernet")


def escape_comma(value: str) -> str:
    """Double every comma so QEMU's option parser reads ``value`` as one value."""
    return value.replace(",", ",,")


def _json(obj: Mapping[str, Any]) -> str:
    """Compact JSON as libvirt prints it (``{"a":1,"b":"x"}``), key order kept."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------
# small readers tolerant of how conf/domain.py spells things


def _get(obj: Any, *names: str, default: Any = None) -> Any:
    """The first attribute (or mapping key) of ``names`` that is set on ``obj``."""
    for name in names:
        if isinstance(obj, Mapping):
            value = obj.get(name)
        else:
            value = getattr(obj, name, None)
        if value is not None:
            return value
    return default


def _int(value: Any) -> int:
    if isinstance(value, int):
        return value
    return int(str(value), 0)


@dataclass(frozen=True)
class PciAddress:
    """A guest PCI address (domain 0 only, as QEMU's ``bus``/``addr``)."""

    bus: int
    slot: int
    function: int = 0

    def qemu_bus(self, root: str) -> str:
        """QEMU bus id: the root bus (``pci.0``/``pcie.0``) or ``pci.N``."""
        return root if self.bus == 0 else f"pci.{self.bus}"

    def qemu_addr(self) -> str:
        """``0x2`` or ``0x1.0x2`` (slot.function), as libvirt prints it."""
        if self.function:
            return f"{self.slot:#x}.{self.function:#x}"
        return f"{self.slot:#x}"


def _pci_address(dev: Any) -> PciAddress | None:
    """The PCI address a device definition carries, if any."""
    addr = _get(dev, "pci_address", "address")
    if addr is None:
        return None
    if isinstance(addr, PciAddress):
        return addr
    if isinstance(addr, tuple):
        if len(addr) == 4:  # (domain, bus, slot, function)
            return PciAddress(_int(addr[1]), _int(addr[2]), _int(addr[3]))
        return PciAddress(_int(addr[0]), _int(addr[1]), _int(addr[2]) if len(addr) > 2 else 0)
    atype = _get(addr, "type")
    if atype is not None and atype != "pci":
        return None
    slot = _get(addr, "slot")
    if slot is None:
        return None
    return PciAddress(_int(_get(addr, "bus", default=0)), _int(slot), _int(_get(addr, "function", default=0)))


class _PciAllocator:
    """Hands out free slots on the root bus for devices that have no address.

    conf/domain.py assigns addresses when a domain is defined (as libvirt
    does), so this is only a fallback; it reserves what the definition
    already uses and then takes the lowest free slot.
    """

    def __init__(self, q35: bool, used: Iterable[PciAddress]) -> None:
        self._used = {(a.bus, a.slot) for a in used}
        self._used.add((0, 0))  # host bridge
        self._used.add((0, 0x1F) if q35 else (0, 1))  # ICH9 LPC/SATA/SMBus or PIIX3

    def next(self) -> PciAddress:
        for slot in range(1, 32):
            if (0, slot) not in self._used:
                self._used.add((0, slot))
                return PciAddress(0, slot, 0)
        raise internal_error("No more available PCI slots", ErrorDomain.QEMU)


# --------------------------------------------------------------------------
# aliases (libvirt's qemuAssignDeviceAliases)


def _target_index(target: str) -> int:
    """``vda`` -> 0, ``sdb`` -> 1, ``hdaa`` -> 26 (virDiskNameToIndex)."""
    letters = target[2:] if len(target) > 2 else ""
    idx = 0
    for ch in letters:
        if not "a" <= ch <= "z":
            raise config_unsupported(f"invalid disk target '{target}'")
        idx = idx * 26 + (ord(ch) - ord("a") + 1)
    return idx - 1


def disk_alias(disk: Any) -> str:
    """libvirt's alias for a disk: ``virtio-disk0``, ``ide0-1-0``, ``sata0-0-2``, ``scsi0-0-0-1``."""
    alias = _get(disk, "alias")
    if alias:
        return str(alias)
    target = str(_get(disk, "target", default="vda"))
    bus = _disk_bus(disk)
    idx = _target_index(target)
    if bus == "virtio":
        return f"virtio-disk{idx}"
    if bus == "ide":
        return f"ide0-{idx // 2}-{idx % 2}"
    if bus == "sata":
        return f"sata0-0-{idx}"
    if bus == "scsi":
        return f"scsi0-0-0-{idx}"
    if bus == "usb":
        return f"usb-disk{idx}"
    if bus == "fdc":
        return f"fdc0-0-{idx}"
    return f"{bus}-disk{idx}"


def interface_alias(iface: Any, index: int) -> str:
    """``net0``, ``net1``, ... unless the definition names one."""
    return str(_get(iface, "alias") or f"net{index}")


def nic_driver(model: str | None) -> str:
    """QEMU's device for an ``<interface><model type>`` (libvirt's x86 default: rtl8139).

    Raises:
        VirtError: CONFIG_UNSUPPORTED for a model QEMU has no device for here.
    """
    driver = _NIC_DRIVERS.get(str(model or "rtl8139"))
    if driver is None:
        raise config_unsupported(f"interface model '{model}' is not supported")
    return driver


def serial_alias(serial: Any, index: int) -> str:
    """``serial0``, ``serial1``, ... unless the definition names one."""
    alias = _get(serial, "alias")
    if alias:
        return str(alias)
    port = _get(serial, "port", "target_port")
    return f"serial{port if port is not None else index}"


def _disk_bus(disk: Any) -> str:
    bus = _get(disk, "bus")
    if bus:
        return str(bus)
    target = str(_get(disk, "target", default="vda"))
    return {"vd": "virtio", "hd": "ide", "sd": "sata", "fd": "fdc"}.get(target[:2], "virtio")


# --------------------------------------------------------------------------
# the builder


@dataclass
class _Ctx:
    domdef: Any
    root_bus: str
    q35: bool
    pci: _PciAllocator
    args: list[str]
    # fallback addresses, assigned up front in libvirt's order, keyed by id(device)
    assigned: dict[int, PciAddress]
    balloon: Any = None

    def add(self, *items: str) -> None:
        self.args.extend(items)

    def addr_props(self, dev: Any) -> dict[str, str]:
        addr = _pci_address(dev) if dev is not None else None
        if addr is None:
            addr = self.assigned.get(id(dev)) if dev is not None else None
        if addr is None:
            addr = self.pci.next()
        return {"bus": addr.qemu_bus(self.root_bus), "addr": addr.qemu_addr()}

    def preassign(self, devices: Iterable[Any]) -> None:
        """Give devices without an address a slot, in the order libvirt assigns them."""
        for dev in devices:
            if dev is not None and not isinstance(dev, str) and _pci_address(dev) is None:
                self.assigned[id(dev)] = self.pci.next()


def _all_pci_addresses(domdef: Any) -> list[PciAddress]:
    out: list[PciAddress] = []
    devices: list[Any] = [
        *(_get(domdef, "disks", default=[]) or []),
        *(_get(domdef, "interfaces", default=[]) or []),
        *(_get(domdef, "rngs", default=[]) or []),
        *(_get(domdef, "controllers", default=[]) or []),
        *(_get(domdef, "videos", default=[]) or []),
    ]
    balloon = _get(domdef, "memballoon")
    if balloon is not None and not isinstance(balloon, str):
        devices.append(balloon)
    for dev in devices:
        addr = _pci_address(dev)
        if addr is not None:
            out.append(addr)
    return out


def build_argv(
    domdef: Any,
    *,
    monitor_path: str | None = None,
    monitor_fd: int | None = None,
    tap_fds: Mapping[str, int] | None = None,
    serial_log_fds: Mapping[str, int] | None = None,
    master_key_path: str | None = None,
    emulator: str | None = None,
    vnc_display: int | None = None,
) -> list[str]:
    """Return QEMU's argv (``argv[0]`` is the emulator) for ``domdef``.

    ``monitor_fd`` (a listening unix socket passed to QEMU, as libvirt does)
    or ``monitor_path`` (QEMU creates the socket) places the QMP monitor.
    ``tap_fds`` maps an interface alias (``net0``) to an open tap fd for
    interfaces of type network/bridge/ethernet.  ``serial_log_fds`` maps a
    serial alias (``serial0``) to an fd open on its ``<log file>``, passed
    through ``-add-fd`` as libvirt does; without it QEMU opens the log path
    itself.  ``master_key_path`` adds libvirt's ``masterKey0`` secret object.
    ``vnc_display`` is the display number for an autoport VNC server.

    Raises :class:`~pyvirt.errors.VirtError`: CONFIG_UNSUPPORTED for devices
    this builder cannot express, INTERNAL_ERROR when a tap fd is missing or
    no PCI slot is free.
    """
    if (monitor_path is None) == (monitor_fd is None):
        raise internal_error("exactly one of monitor_path and monitor_fd is required", ErrorDomain.QEMU)
    tap_fds = tap_fds or {}
    serial_log_fds = serial_log_fds or {}

    machine = str(_get(domdef, "machine", default="pc"))
    q35 = "q35" in machine
    root_bus = "pcie.0" if q35 else "pci.0"
    ctx = _Ctx(domdef, root_bus, q35, _PciAllocator(q35, _all_pci_addresses(domdef)), [], {})
    ctx.balloon = _balloon_of(domdef)
    # libvirt's qemuDomainAssignDevicePCISlots order: video, controllers, nets,
    # virtio disks, memballoon, rngs.
    ctx.preassign(
        [
            *(_get(domdef, "videos", default=[]) or [])[:1],
            *[c for c in _get(domdef, "controllers", default=[]) or [] if _get(c, "type") == "scsi"],
            *(_get(domdef, "interfaces", default=[]) or []),
            *[d for d in _get(domdef, "disks", default=[]) or [] if _disk_bus(d) == "virtio"],
            ctx.balloon if _get(ctx.balloon, "model") != "none" else None,
            *(_get(domdef, "rngs", default=[]) or []),
        ]
    )
    ctx.add(str(emulator or _get(domdef, "emulator") or DEFAULT_EMULATOR))

    name = str(_get(domdef, "name"))
    ctx.add("-name", f"guest={escape_comma(name)},debug-threads=on")
    ctx.add("-S")
    if master_key_path is not None:
        ctx.add(
            "-object",
            _json({"qom-type": "secret", "id": "masterKey0", "format": "raw", "file": master_key_path}),
        )

    memory_kib = int(_get(domdef, "memory_kib", default=0))
    if memory_kib <= 0:
        raise config_unsupported("domain memory must be greater than 0")
    memory_mib = (memory_kib + 1023) // 1024  # libvirt aligns x86 memory to 1 MiB
    ctx.add("-machine", f"{escape_comma(machine)},usb=off,dump-guest-core=off,memory-backend=pc.ram")
    virt_type = str(_get(domdef, "virt_type", default="qemu"))
    if virt_type not in ("qemu", "kvm"):
        raise config_unsupported(f"domain type '{virt_type}' is not supported by the QEMU driver")
    ctx.add("-accel", "kvm" if virt_type == "kvm" else "tcg")
    cpu_mode = _get(domdef, "cpu_mode")
    if cpu_mode == "host-passthrough":
        cpu_model: Any = "host"
    elif cpu_mode == "maximum":
        cpu_model = "max"
    else:
        cpu_model = _get(domdef, "cpu_model") or ("host" if virt_type == "kvm" else "qemu64")
    ctx.add("-cpu", escape_comma(str(cpu_model)))
    ctx.add("-m", str(memory_mib))
    ctx.add(
        "-object",
        _json({"qom-type": "memory-backend-ram", "id": "pc.ram", "size": memory_mib * 1024 * 1024}),
    )
    ctx.add("-overcommit", "mem-lock=off")
    vcpus = int(_get(domdef, "vcpus", default=1))
    ctx.add("-smp", f"{vcpus},sockets={vcpus},cores=1,threads=1")
    try:
        uuid = format_uuid(parse_uuid_bytes(str(_get(domdef, "uuid"))))
    except ValueError as err:
        raise internal_error(f"malformed domain uuid '{_get(domdef, 'uuid')}'", ErrorDomain.QEMU) from err
    ctx.add("-uuid", uuid)

    graphics = [g for g in (_get(domdef, "graphics", default=[]) or []) if g is not None]
    if not graphics:
        ctx.add("-display", "none")
    ctx.add("-no-user-config", "-nodefaults")
    if monitor_fd is not None:
        ctx.add("-chardev", f"socket,id=charmonitor,fd={monitor_fd},server=on,wait=off")
    else:
        assert monitor_path is not None
        ctx.add("-chardev", f"socket,id=charmonitor,path={escape_comma(monitor_path)},server=on,wait=off")
    ctx.add("-mon", "chardev=charmonitor,id=monitor,mode=control")
    clock = str(_get(domdef, "clock_offset", default="utc"))
    ctx.add("-rtc", "base=localtime" if clock == "localtime" else "base=utc")
    ctx.add("-no-shutdown")
    if not _get(domdef, "acpi", default=False):
        ctx.add("-no-acpi")  # libvirt 9.0 spelling; later versions use -machine acpi=off
    ctx.add("-boot", "strict=on")

    for opt, attr in (("-kernel", "kernel"), ("-initrd", "initrd"), ("-append", "cmdline")):
        value = _get(domdef, attr)
        if value:
            ctx.add(opt, str(value))

    _build_controllers(ctx)
    _build_disks(ctx)
    _build_interfaces(ctx, tap_fds)
    _build_serials(ctx, serial_log_fds)
    _build_inputs(ctx)
    ctx.add("-audiodev", _json({"id": "audio1", "driver": "none"}))
    _build_graphics(ctx, graphics, vnc_display)
    _build_memballoon(ctx)
    _build_rngs(ctx)
    ctx.add("-sandbox", SANDBOX)
    ctx.add("-msg", "timestamp=on")
    log.debug("argv for %s: %s", name, ctx.args)
    return ctx.args


def _build_controllers(ctx: _Ctx) -> None:
    controllers = _get(ctx.domdef, "controllers")
    usb_done = False
    scsi_done = False
    for ctrl in controllers or []:
        ctype = _get(ctrl, "type")
        model = _get(ctrl, "model")
        if ctype == "usb":
            usb_done = True
            if model in ("none",):
                continue
            _add_usb_controller(ctx, str(model or ""), _pci_address(ctrl))
        elif ctype == "scsi":
            scsi_done = True
            _add_scsi_controller(ctx, int(_get(ctrl, "index", default=0)), model, ctrl)
    if not usb_done:
        _add_usb_controller(ctx, "", None)
    if not scsi_done and any(_disk_bus(d) == "scsi" for d in _get(ctx.domdef, "disks", default=[]) or []):
        _add_scsi_controller(ctx, 0, None, None)


def _add_usb_controller(ctx: _Ctx, model: str, addr: PciAddress | None) -> None:
    if ctx.q35:
        driver = model if model in ("qemu-xhci", "nec-xhci", "ich9-usb-ehci1") else "qemu-xhci"
        if addr is None:
            addr = ctx.pci.next()
    else:
        driver = {"piix3-uhci": "piix3-usb-uhci", "piix4-uhci": "piix4-usb-uhci"}.get(model, model)
        if not driver or driver == "piix3-usb-uhci":
            driver = "piix3-usb-uhci"
            addr = addr or PciAddress(0, 1, 2)
        elif addr is None:
            addr = ctx.pci.next()
    ctx.add(
        "-device",
        _json({"driver": driver, "id": "usb", "bus": addr.qemu_bus(ctx.root_bus), "addr": addr.qemu_addr()}),
    )


def _add_scsi_controller(ctx: _Ctx, index: int, model: Any, ctrl: Any) -> None:
    driver = _SCSI_DRIVERS.get(str(model or "lsilogic"))
    if driver is None:
        raise config_unsupported(f"Unsupported controller model: {model}")
    props: dict[str, Any] = {"driver": driver, "id": f"scsi{index}"}
    props.update(ctx.addr_props(ctrl))
    ctx.add("-device", _json(props))


def _boot_indexes(domdef: Any) -> dict[int, int]:
    """Map ``id(device)`` to its ``bootindex``.

    Per-device ``<boot order>`` wins; otherwise libvirt 9.0 turns the
    ``<os><boot dev>`` list into a bootindex on the first disk / cdrom /
    floppy / interface of each kind.
    """
    disks = list(_get(domdef, "disks", default=[]) or [])
    ifaces = list(_get(domdef, "interfaces", default=[]) or [])
    out: dict[int, int] = {}
    for dev in (*disks, *ifaces):
        order = _get(dev, "boot_order")
        if order:
            out[id(dev)] = int(order)
    if out:
        return out
    firsts: dict[str, Any] = {}
    for d in disks:
        firsts.setdefault(str(_get(d, "device", default="disk")), d)
    if ifaces:
        firsts["network"] = ifaces[0]
    kinds = {"hd": "disk", "cdrom": "cdrom", "fd": "floppy", "network": "network"}
    for n, dev in enumerate(_get(domdef, "boot_devs", default=[]) or [], start=1):
        target = firsts.get(kinds.get(str(dev), ""))
        if target is not None and id(target) not in out:
            out[id(target)] = n
    return out


def _build_disks(ctx: _Ctx) -> None:
    disks = list(_get(ctx.domdef, "disks", default=[]) or [])
    boot = _boot_indexes(ctx.domdef)
    # libvirt numbers block nodes so that the first disk gets the highest one.
    node_index = sum(1 for d in disks if _get(d, "source"))
    for disk in disks:
        device = str(_get(disk, "device", default="disk"))
        bus = _disk_bus(disk)
        alias = disk_alias(disk)
        source = _get(disk, "source")
        readonly = bool(_get(disk, "readonly", default=False)) or device == "cdrom"
        fmt_node: str | None = None
        if source:
            dtype = str(_get(disk, "type", default="file"))
            if dtype == "file":
                driver = "file"
            elif dtype == "block":
                driver = "host_cdrom" if device == "cdrom" else "host_device"
            else:
                raise config_unsupported(f"disk type '{dtype}' is not supported")
            fmt = str(_get(disk, "driver_type", default="raw"))
            if fmt not in ("raw", "qcow2"):
                raise config_unsupported(f"unsupported disk driver type '{fmt}'")
            storage_node = f"libvirt-{node_index}-storage"
            fmt_node = f"libvirt-{node_index}-format"
            node_index -= 1
            ctx.add(
                "-blockdev",
                _json(
                    {
                        "driver": driver,
                        "filename": str(source),
                        "node-name": storage_node,
                        "auto-read-only": True,
                        "discard": "unmap",
                    }
                ),
            )
            ctx.add(
                "-blockdev",
                _json({"node-name": fmt_node, "read-only": readonly, "driver": fmt, "file": storage_node}),
            )
        props: dict[str, Any] = {}
        idx = _target_index(str(_get(disk, "target", default="vda")))
        # <address type='drive' controller bus target unit/>, else derived from the target name
        drive = _get(disk, "drive_address")
        if bus == "virtio":
            if device != "disk":
                raise config_unsupported(f"disk device '{device}' is not supported on bus virtio")
            props = {"driver": "virtio-blk-pci", **ctx.addr_props(disk)}
        elif bus == "ide":
            if ctx.q35:
                raise config_unsupported(
                    "IDE controllers are unsupported for this QEMU binary or machine type"
                )
            ide_bus, unit = (int(drive[1]), int(drive[3])) if drive else (idx // 2, idx % 2)
            props = {
                "driver": "ide-cd" if device == "cdrom" else "ide-hd",
                "bus": f"ide.{ide_bus}",
                "unit": unit,
            }
        elif bus == "sata":
            if not ctx.q35:
                raise config_unsupported("SATA disks need a q35 machine (no AHCI controller on i440fx)")
            port = int(drive[3]) if drive else idx
            props = {"driver": "ide-cd" if device == "cdrom" else "ide-hd", "bus": f"ide.{port}"}
        elif bus == "scsi":
            ctrl, sbus, target, unit = (int(v) for v in drive) if drive else (0, 0, 0, idx)
            props = {"driver": "scsi-cd" if device == "cdrom" else "scsi-hd"}
            if _scsi_model(ctx.domdef, ctrl) == "virtio-scsi":
                props.update({"bus": f"scsi{ctrl}.0", "channel": sbus, "scsi-id": target, "lun": unit})
            else:
                props.update({"bus": f"scsi{ctrl}.{sbus}", "scsi-id": unit})
        else:
            raise config_unsupported(f"disk bus '{bus}' is not supported")
        if fmt_node is not None:
            props["drive"] = fmt_node
        props["id"] = alias
        if id(disk) in boot:
            props["bootindex"] = boot[id(disk)]
        ctx.add("-device", _json(props))


def _scsi_model(domdef: Any, index: int) -> str:
    for ctrl in _get(domdef, "controllers", default=[]) or []:
        if _get(ctrl, "type") == "scsi" and int(_get(ctrl, "index", default=0)) == index:
            return str(_get(ctrl, "model") or "lsilogic")
    return "lsilogic"


def _build_interfaces(ctx: _Ctx, tap_fds: Mapping[str, int]) -> None:
    boot = _boot_indexes(ctx.domdef)
    for i, iface in enumerate(_get(ctx.domdef, "interfaces", default=[]) or []):
        alias = interface_alias(iface, i)
        itype = str(_get(iface, "type", default="network"))
        netdev_id = f"host{alias}"
        if itype in _TAP_TYPES:
            fd = tap_fds.get(alias)
            if fd is None:
                raise internal_error(f"no tap device was opened for interface '{alias}'", ErrorDomain.QEMU)
            netdev: dict[str, Any] = {"type": "tap", "fd": str(fd), "id": netdev_id}
        elif itype == "user":
            netdev = {"type": "user", "id": netdev_id}
        else:
            raise config_unsupported(f"interface type '{itype}' is not supported")
        model = str(_get(iface, "model") or "rtl8139")  # libvirt's x86 default NIC
        driver = _NIC_DRIVERS.get(model)
        if driver is None:
            raise config_unsupported(f"interface model '{model}' is not supported")
        mac = _get(iface, "mac")
        if not mac:
            raise internal_error(f"interface '{alias}' has no MAC address", ErrorDomain.QEMU)
        ctx.add("-netdev", _json(netdev))
        props: dict[str, Any] = {"driver": driver, "netdev": netdev_id, "id": alias, "mac": str(mac)}
        props.update(ctx.addr_props(iface))
        if id(iface) in boot:
            props["bootindex"] = boot[id(iface)]
        ctx.add("-device", _json(props))


def _build_serials(ctx: _Ctx, serial_log_fds: Mapping[str, int]) -> None:
    fdset = 0
    for i, serial in enumerate(_get(ctx.domdef, "serials", default=[]) or []):
        alias = serial_alias(serial, i)
        chardev_id = f"char{alias}"
        stype = str(_get(serial, "type", default="pty"))
        if stype == "pty":
            spec = f"pty,id={chardev_id}"
        elif stype == "file":
            path = _get(serial, "source_path", "path")
            if not path:
                raise config_unsupported(f"serial '{alias}' of type file needs a source path")
            spec = f"file,id={chardev_id},path={escape_comma(str(path))}"
        elif stype == "null":
            spec = f"null,id={chardev_id}"
        elif stype == "unix":
            path = _get(serial, "source_path", "path")
            if not path:
                raise config_unsupported(f"serial '{alias}' of type unix needs a source path")
            spec = f"socket,id={chardev_id},path={escape_comma(str(path))},server=on,wait=off"
        else:
            raise config_unsupported(f"serial type '{stype}' is not supported")
        log_file = _get(serial, "log_file")
        if log_file:
            fd = serial_log_fds.get(alias)
            if fd is not None:
                ctx.add("-add-fd", f"set={fdset},fd={fd},opaque={alias}-log")
                spec += f",logfile=/dev/fdset/{fdset},logappend=on"
                fdset += 1
            else:
                append = "on" if _get(serial, "log_append", default=False) else "off"
                spec += f",logfile={escape_comma(str(log_file))},logappend={append}"
        ctx.add("-chardev", spec)
        port = _get(serial, "port", "target_port")
        port = i if port is None else port
        ctx.add(
            "-device",
            _json({"driver": "isa-serial", "chardev": chardev_id, "id": alias, "index": int(port)}),
        )


def _build_inputs(ctx: _Ctx) -> None:
    """USB input devices; the PS/2 mouse and keyboard are built into the machine."""
    port = 1
    for i, inp in enumerate(_get(ctx.domdef, "inputs", default=[]) or []):
        bus = str(_get(inp, "bus", default="ps2"))
        if bus == "ps2":
            continue
        itype = str(_get(inp, "type", default="tablet"))
        driver = {"tablet": "usb-tablet", "mouse": "usb-mouse", "keyboard": "usb-kbd"}.get(itype)
        if bus != "usb" or driver is None:
            raise config_unsupported(f"input device '{itype}' on bus '{bus}' is not supported")
        alias = str(_get(inp, "alias") or f"input{i}")
        ctx.add("-device", _json({"driver": driver, "id": alias, "bus": "usb.0", "port": str(port)}))
        port += 1


def _build_graphics(ctx: _Ctx, graphics: list[Any], vnc_display: int | None) -> None:
    for gfx in graphics:
        gtype = str(_get(gfx, "type", default="vnc"))
        if gtype != "vnc":
            raise config_unsupported(f"graphics type '{gtype}' is not supported")
        listen = str(_get(gfx, "listen", "listen_address", default="127.0.0.1"))
        port = _get(gfx, "port")
        if port is not None and int(port) >= 5900:
            display = int(port) - 5900
        elif vnc_display is not None:
            display = vnc_display
        else:
            display = 0
        host = f"[{listen}]" if ":" in listen else listen
        ctx.add("-vnc", f"{escape_comma(host)}:{display},audiodev=audio1")
    videos = _get(ctx.domdef, "videos")
    if not videos and graphics:  # libvirt adds a default video device for graphics
        videos = [{"model": "vga"}]
    for i, video in enumerate(videos or []):
        model = str(_get(video, "model", "type", default="vga"))
        if model == "none":
            continue
        driver = {"vga": "VGA", "cirrus": "cirrus-vga", "virtio": "virtio-vga", "bochs": "bochs-display"}.get(
            model
        )
        if driver is None:
            raise config_unsupported(f"video model '{model}' is not supported")
        props: dict[str, Any] = {"driver": driver, "id": f"video{i}"}
        props.update(ctx.addr_props(video))
        ctx.add("-device", _json(props))


@dataclass(eq=False)
class _Balloon:
    model: str


def _balloon_of(domdef: Any) -> Any:
    """The memballoon definition (an object with ``model``), libvirt's virtio by default.

    The caller keeps the returned object: fallback PCI slots are keyed by identity.
    """
    balloon = _get(domdef, "memballoon")
    if balloon is None:
        return _Balloon("virtio")
    if isinstance(balloon, str):
        return _Balloon(balloon)
    return balloon


def _build_memballoon(ctx: _Ctx) -> None:
    balloon = ctx.balloon
    model = str(_get(balloon, "model", default="virtio"))
    if model == "none":
        return
    if model != "virtio":
        raise config_unsupported(f"memballoon model '{model}' is not supported")
    props: dict[str, Any] = {"driver": "virtio-balloon-pci", "id": "balloon0"}
    props.update(ctx.addr_props(balloon))
    ctx.add("-device", _json(props))


def _build_rngs(ctx: _Ctx) -> None:
    for i, rng in enumerate(_get(ctx.domdef, "rngs", default=[]) or []):
        model = str(_get(rng, "model", default="virtio"))
        if model != "virtio":
            raise config_unsupported(f"rng model '{model}' is not supported")
        backend = str(_get(rng, "backend_model", default="random"))
        if backend != "random":
            raise config_unsupported(f"rng backend '{backend}' is not supported")
        source = str(_get(rng, "backend_source", "source") or _get(rng, "backend") or "/dev/urandom")
        obj_id = f"objrng{i}"
        ctx.add("-object", _json({"qom-type": "rng-random", "id": obj_id, "filename": source}))
        props: dict[str, Any] = {"driver": "virtio-rng-pci", "rng": obj_id, "id": f"rng{i}"}
        props.update(ctx.addr_props(rng))
        ctx.add("-device", _json(props))
