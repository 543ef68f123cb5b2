"""Domain XML: parse, validate against the host, fill libvirt's defaults, format.

The lxml tree is the single source of truth.  :func:`parse_domain` checks
the document, fills in what libvirt 9.0's QEMU driver fills in (uuid, units,
machine alias -> canonical name, default CPU, boot device, implicit
controllers / inputs / audio / memballoon / console, MACs, PCI and drive
addresses, ...) and puts every element in libvirt's order.  Elements pyvirt
does not model stay in the tree untouched, so they survive a round trip.
Typed read-only views (:class:`DiskDef`, :class:`InterfaceDef`, ...) are
built from the tree when first used, again after each change.  A stored
(inactive) definition can be kept as its formatted text alone
(:meth:`DomainDef.compact`), the tree parsed back when needed.

:meth:`DomainDef.format` prints the inactive definition, or with a
:class:`LiveInfo` the live one (id, aliases, tap names, pty paths, DAC
seclabel, CPU check='full').
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import functools
import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from pyvirt.conf.capabilities import KNOWN_ARCHES, Capabilities, GuestArch
from pyvirt.conf.xmlutil import (
    format_xml,
    generate_mac,
    generate_uuid,
    is_multicast_mac,
    parse_mac,
    parse_uuid,
    parse_xml,
    prop_enum,
    scale_integer,
)
from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError
from pyvirt.lazydataclass import dataclass, field
from pyvirt.lazyimport import lazy_module

if TYPE_CHECKING:
    from lxml import etree

    from pyvirt.conf.xmlutil import Element
else:
    etree = lazy_module("lxml.etree", home=(globals(), "etree"))  # see xmlutil

__all__ = [
    "ChrDef",
    "ControllerDef",
    "DiskDef",
    "DomainDef",
    "GraphicsDef",
    "InputDef",
    "InterfaceDef",
    "LiveInfo",
    "LiveInterface",
    "MemballoonDef",
    "PciAddress",
    "RngDef",
    "SecLabel",
    "VideoDef",
    "parse_domain",
]

VIRT_TYPES = (
    "none", "qemu", "kqemu", "kvm", "xen", "lxc", "uml", "openvz", "test", "vmware",
    "hyperv", "vbox", "phyp", "parallels", "bhyve", "vz",
)  # fmt: skip
OS_TYPES = ("hvm", "xen", "linux", "exe", "uml", "xenpvh")
LIFECYCLE_ACTIONS = ("destroy", "restart", "rename-restart", "preserve")
CRASH_ACTIONS = (*LIFECYCLE_ACTIONS, "coredump-destroy", "coredump-restart")

# Top-level children in libvirt's format order (virDomainDefFormatInternal).
_TOP_ORDER = (
    "name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory",
    "currentMemory", "blkiotune", "memtune", "memoryBacking", "vcpu", "vcpus", "iothreads",
    "iothreadids", "defaultiothread", "cputune", "numatune", "resource", "sysinfo", "bootloader",
    "bootloader_args", "os", "idmap", "features", "cpu", "clock", "on_poweroff", "on_reboot",
    "on_crash", "on_lockfailure", "pm", "perf", "devices", "seclabel", "keywrap",
    "launchSecurity",
)  # fmt: skip
_OS_ORDER = (
    "type", "firmware", "loader", "nvram", "init", "initarg", "initenv", "initdir", "inituser",
    "initgroup", "kernel", "initrd", "cmdline", "dtb", "root", "acpi", "boot", "bootmenu",
    "smbios", "bios",
)  # fmt: skip
_DEVICE_ORDER = (
    "emulator", "disk", "controller", "lease", "filesystem", "interface", "smartcard", "serial",
    "parallel", "console", "channel", "input", "tpm", "graphics", "sound", "audio", "video",
    "hostdev", "redirdev", "redirfilter", "hub", "watchdog", "memballoon", "rng", "nvram",
    "panic", "shmem", "memory", "iommu", "vsock", "crypto",
)  # fmt: skip
_DISK_ORDER = (
    "driver", "source", "backingStore", "backenddomain", "target", "blockio", "geometry",
    "iotune", "readonly", "shareable", "transient", "serial", "wwn", "vendor", "product",
    "encryption", "boot", "alias", "address",
)  # fmt: skip
_IFACE_ORDER = (
    "mac", "source", "virtualport", "ip", "route", "script", "downscript", "backenddomain",
    "target", "guest", "model", "driver", "backend", "filterref", "tune", "teaming", "link",
    "mtu", "coalesce", "bandwidth", "vlan", "port", "boot", "alias", "rom", "address",
)  # fmt: skip
_TAP_TYPES = ("network", "bridge", "ethernet", "direct")
_CHR_ORDER = ("source", "protocol", "log", "target", "alias", "address")
_CPU_ORDER = ("model", "vendor", "topology", "cache", "maxphysaddr", "feature", "numa")
_GRAPHICS_ATTR_ORDER = ("type", "port", "autoport", "websocket", "listen")
_DISK_PREFIX_BUS = (("hd", "ide"), ("sd", "scsi"), ("vd", "virtio"), ("xvd", "xen"), ("fd", "fdc"))

_DEFAULT_CAPS: Capabilities | None = None


def _fallback_caps() -> Capabilities:
    global _DEFAULT_CAPS
    if _DEFAULT_CAPS is None:
        _DEFAULT_CAPS = Capabilities.fake()
    return _DEFAULT_CAPS


# --------------------------------------------------------------------------- errors


def _xml_err(detail: str) -> VirtError:
    return VirtError(ErrorNumber.XML_ERROR, ErrorDomain.DOMAIN, detail)


def _unsupported(detail: str, domain: int = ErrorDomain.QEMU) -> VirtError:
    return VirtError(ErrorNumber.CONFIG_UNSUPPORTED, domain, detail)


# --------------------------------------------------------------------------- tree helpers


def _child(parent: Element, tag: str) -> Element | None:
    """``parent.find(tag)`` for a plain tag name, without ElementPath's overhead."""
    if len(parent) > 8:
        for e in parent.iterchildren(tag):
            return e
        return None
    # Most elements have a few children: comparing their tags is cheaper than
    # setting up lxml's tag matcher (a lookup in the document's dictionary).
    for e in parent:
        if e.tag == tag:
            return e
    return None


def _text(parent: Element, tag: str) -> str | None:
    e = _child(parent, tag)
    if e is None or e.text is None:
        return None
    return str(e.text)


def _sub(parent: Element, tag: str, attrs: dict[str, str] | None = None, text: str | None = None) -> Element:
    e = etree.SubElement(parent, tag)
    for k, v in (attrs or {}).items():
        e.set(k, v)
    if text is not None:
        e.text = text
    return e


# Per-thread state of the tree helpers: ``factory`` / ``home`` make new elements
# (cheaper than etree.Element, which creates a document for each), ``fast`` is
# set while _fill works on a tree without namespaces (see _fast_tree),
# ``deferred`` by _deferred_sort, ``parser`` reads formatted definitions back.
class _HelperState(threading.local):
    def __init__(self) -> None:
        self.fast = False
        self.home: Element | None = None
        self.factory: Element | None = None
        self.deferred: tuple[Element, Sequence[str], list[Element]] | None = None
        self.parser: etree.XMLParser | None = None


_HELPERS = _HelperState()


def _new(tag: str, attrs: dict[str, str] | None = None, text: str | None = None) -> Element:
    # Made in the document being filled when there is one (adding it to the
    # tree then moves nothing between documents), else in a factory document.
    factory = _HELPERS.home
    if factory is None:
        factory = _HELPERS.factory
        if factory is None:
            factory = _HELPERS.factory = etree.Element("pyvirt-factory")
    e = factory.makeelement(tag)
    if attrs:
        for k, v in attrs.items():
            e.set(k, v)
    if text is not None:
        e.text = text
    return e


@contextlib.contextmanager
def _fast_tree(enabled: bool, home: Element | None = None) -> Iterator[None]:
    """Let :func:`_sort_children` / :func:`_insert_ordered` skip moving children.

    Moving an element (remove + append) makes lxml reconcile the namespace
    declarations of its subtree; with no declaration anywhere in the tree
    (``enabled``: the document text has no ``xmlns``), a move changes nothing
    but the order, so children already in order can stay where they are.
    ``home``: an element of the tree being filled (:func:`_new` makes new
    elements in its document).
    """
    saved = _HELPERS.fast, _HELPERS.home
    _HELPERS.fast = enabled
    _HELPERS.home = home
    try:
        yield
    finally:
        _HELPERS.fast, _HELPERS.home = saved


_RANK_MAPS: dict[int, tuple[Sequence[str], dict[str, int]]] = {}


def _ranks(order: Sequence[str]) -> dict[str, int]:
    """``{tag: position}`` for ``order`` (first occurrence), memoised per sequence object."""
    hit = _RANK_MAPS.get(id(order))
    if hit is not None and hit[0] is order:
        return hit[1]
    ranks: dict[str, int] = {}
    for i, tag in enumerate(order):
        ranks.setdefault(tag, i)
    if isinstance(order, tuple):
        _RANK_MAPS[id(order)] = (order, ranks)
    return ranks


def _order_attrs(elem: Element, order: Sequence[str]) -> None:
    """Rewrite the attributes so that those in ``order`` come first, in that order."""
    pos = -1
    unordered_seen = False
    for key in elem.keys():
        attr = str(key)
        if attr[0] == "{":
            break  # rewriting a namespaced attribute may change its prefix: do it
        if attr in order:
            i = order.index(attr)
            if unordered_seen or i < pos:
                break
            pos = i
        else:
            unordered_seen = True
    else:
        return  # already in order: rewriting would give the same attributes
    items = list(elem.attrib.items())
    first = [(k, v) for name in order for k, v in items if k == name]
    rest = [(k, v) for k, v in items if k not in order]
    elem.attrib.clear()
    for k, v in first + rest:
        elem.set(k, v)


def _sort_children(parent: Element, order: Sequence[str]) -> None:
    """Stable-sort element children into ``order``; unknown ones stay behind their predecessor."""
    if _HELPERS.fast:
        ranks = _ranks(order)
        nodes = list(parent)
        rank = -1
        for c in nodes:
            tag = c.tag
            if not isinstance(tag, str):
                break
            r = ranks.get(tag)
            if r is not None:
                if r < rank:
                    break
                rank = r
        else:
            # Already in order (and only elements): what the full sort leaves.
            for c in nodes:
                c.tail = None
            parent.text = None
            return
    children = [c for c in parent if isinstance(c.tag, str)]
    ranked = []
    rank = -1
    for pos, c in enumerate(children):
        if c.tag in order:
            rank = order.index(str(c.tag))
        ranked.append((rank, pos, c))
    ranked.sort(key=lambda t: (t[0], t[1]))
    for c in list(parent):
        parent.remove(c)
    for _, _, c in ranked:
        c.tail = None
        parent.append(c)
    parent.text = None


@contextlib.contextmanager
def _deferred_sort(parent: Element, order: Sequence[str]) -> Iterator[None]:
    """In fast mode, children :func:`_insert_ordered` adds to ``parent`` are appended and
    the children sorted once on leaving (``parent`` sorted on entry).

    Appending known tags to sorted children and stable-sorting once gives the
    order inserting each in its place would (an unknown tag keeps following
    its predecessor either way).  Only lookups may happen in between.
    """
    if not _HELPERS.fast:
        yield
        return
    added: list[Element] = []
    saved = _HELPERS.deferred
    _HELPERS.deferred = (parent, order, added)
    try:
        yield
    finally:
        _HELPERS.deferred = saved
    if added:
        _merge_added(parent, order, added)


def _merge_added(parent: Element, order: Sequence[str], added: list[Element]) -> None:
    """Move the appended ``added`` children where :func:`_insert_ordered` would have put them."""
    ranks = _ranks(order)
    added = [c for c in added if c.getparent() is parent]  # (none is moved away, but be sure)
    new_ids = {id(c) for c in added}
    nodes = list(parent)
    placed: list[int] = []  # effective ranks of the children in place, in order
    rank = -1
    for c in nodes:
        if id(c) in new_ids:
            continue
        tag = c.tag
        if not isinstance(tag, str):
            _sort_children(parent, order)
            return
        r = ranks.get(tag)
        if r is not None:
            if r < rank:
                _sort_children(parent, order)
                return
            rank = r
        placed.append(rank)
    for c in nodes:
        c.tail = None
    for child in added:
        own = ranks[str(child.tag)]
        at = bisect.bisect_right(placed, own)
        if at < len(placed):
            parent.insert(at, child)
        placed.insert(at, own)
    parent.text = None


def _insert_ordered(parent: Element, child: Element, order: Sequence[str]) -> Element:
    deferred = _HELPERS.deferred
    if (
        deferred is not None
        and parent is deferred[0]
        and order is deferred[1]
        and child.getparent() is None
        and isinstance(child.tag, str)
        and child.tag in _ranks(order)
    ):
        parent.append(child)
        deferred[2].append(child)
        return child
    if _HELPERS.fast and child.getparent() is None and isinstance(child.tag, str):
        # With the children in order, the full sort would put the new child
        # just before the first one ranked after it (an unknown tag ranks as
        # its predecessor, so it stays last).
        ranks = _ranks(order)
        own = ranks.get(child.tag)
        nodes = list(parent)
        rank = -1
        at = None
        for pos, c in enumerate(nodes):
            tag = c.tag
            if not isinstance(tag, str):
                break
            r = ranks.get(tag)
            if r is not None:
                if r < rank:
                    break
                rank = r
            if at is None and own is not None and rank > own:
                at = pos
        else:
            for c in nodes:
                c.tail = None
            child.tail = None
            if at is None:
                parent.append(child)
            else:
                parent.insert(at, child)
            parent.text = None
            return child
    parent.append(child)
    _sort_children(parent, order)
    return child


def _ensure(parent: Element, tag: str, order: Sequence[str]) -> Element:
    e = _child(parent, tag)
    if e is None:
        e = _insert_ordered(parent, _new(tag), order)
    return e


def _parse_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip(), 0)
    except ValueError:
        return None


# --------------------------------------------------------------------------- addresses


@dataclass(frozen=True)
class PciAddress:
    """A guest PCI address (``<address type='pci' .../>``)."""

    domain: int = 0
    bus: int = 0
    slot: int = 0
    function: int = 0
    multifunction: bool = False

    def qemu_addr(self) -> str:
        """``0x2`` or ``0x1.0x2`` as QEMU's ``addr`` property wants it."""
        if self.function:
            return f"0x{self.slot:x}.0x{self.function:x}"
        return f"0x{self.slot:x}"

    def attributes(self) -> list[tuple[str, str]]:
        """The ``<address>`` attributes in libvirt's order and spelling."""
        attrs = [
            ("type", "pci"),
            ("domain", f"0x{self.domain:04x}"),
            ("bus", f"0x{self.bus:02x}"),
            ("slot", f"0x{self.slot:02x}"),
            ("function", f"0x{self.function:x}"),
        ]
        if self.multifunction:
            attrs.append(("multifunction", "on"))
        return attrs

    def to_element(self) -> Element:
        return _new("address", dict(self.attributes()))


def _pci_from_elem(addr: Element | None) -> PciAddress | None:
    if addr is None or addr.get("type") != "pci":
        return None
    vals = {}
    for k, limit in (("domain", 0xFFFF), ("bus", 0xFF), ("slot", 0x1F), ("function", 7)):
        raw = addr.get(k)
        v = _parse_int(raw) if raw is not None else 0
        if v is None or not 0 <= v <= limit:
            raise _xml_err(f"Cannot parse <address> '{k}' attribute")
        vals[k] = v
    return PciAddress(
        vals["domain"], vals["bus"], vals["slot"], vals["function"], addr.get("multifunction") == "on"
    )


def _set_address(dev: Element, addr: Element, order: Sequence[str] | None = None) -> None:
    old = _child(dev, "address")
    if old is not None:
        dev.remove(old)
    dev.append(addr)
    if order is not None:
        _sort_children(dev, order)
    else:
        # address is always the last piece of device info
        _move_last(dev, "address")


def _move_last(dev: Element, tag: str) -> None:
    e = _child(dev, tag)
    if e is not None:
        dev.remove(e)
        dev.append(e)


class _PciSlots:
    """Bus 0 of a pci-root: which slots are taken, next-free search like libvirt's."""

    def __init__(self) -> None:
        self.used: set[tuple[int, int, int]] = set()  # (bus, slot, function)
        self.last_slot = 0

    def reserve(self, a: PciAddress, what: str) -> None:
        key = (a.bus, a.slot, a.function)
        if key in self.used:
            raise _xml_err(
                f"Attempted double use of PCI Address {a.domain:04x}:{a.bus:02x}:{a.slot:02x}.{a.function:x}"
            )
        self.used.add(key)

    def slot_in_use(self, slot: int) -> bool:
        return any(b == 0 and s == slot for b, s, _ in self.used)

    def next(self) -> PciAddress:
        taken = {s for b, s, _ in self.used if b == 0}
        for slot in list(range(self.last_slot + 1, 32)) + list(range(1, self.last_slot + 1)):
            if slot not in taken:
                self.used.add((0, slot, 0))
                self.last_slot = slot
                return PciAddress(0, 0, slot, 0)
        raise VirtError(ErrorNumber.INTERNAL_ERROR, ErrorDomain.QEMU, "No more available PCI slots")


# --------------------------------------------------------------------------- typed views


@dataclass(frozen=True)
class DiskDef:
    type: str
    device: str
    driver_name: str | None
    driver_type: str | None
    source: str | None
    target: str
    bus: str
    readonly: bool
    address: PciAddress | None
    drive_address: tuple[int, int, int, int] | None  # controller, bus, target, unit
    alias: str
    boot_order: int | None = None


@dataclass(frozen=True)
class InterfaceDef:
    type: str
    mac: str
    source_network: str | None
    source_bridge: str | None
    source_dev: str | None
    model: str | None
    target_dev: str | None
    alias: str
    address: PciAddress | None
    boot_order: int | None = None


@dataclass(frozen=True)
class ChrDef:
    kind: str  # "serial" / "console" / "channel" / "parallel"
    type: str
    source_path: str | None
    log_file: str | None
    log_append: bool | None
    target_type: str | None
    port: int | None
    alias: str


@dataclass(frozen=True)
class ControllerDef:
    type: str
    index: int
    model: str | None
    alias: str
    address: PciAddress | None


@dataclass(frozen=True)
class GraphicsDef:
    type: str
    port: int | None
    autoport: bool
    listen: str | None
    passwd: str | None = None


@dataclass(frozen=True)
class VideoDef:
    model: str
    vram: int | None
    heads: int | None
    primary: bool
    alias: str
    address: PciAddress | None


@dataclass(frozen=True)
class InputDef:
    type: str
    bus: str
    alias: str


@dataclass(frozen=True)
class MemballoonDef:
    model: str
    alias: str
    address: PciAddress | None


@dataclass(frozen=True)
class RngDef:
    model: str
    backend_model: str
    backend: str | None
    alias: str
    address: PciAddress | None


# --------------------------------------------------------------------------- live info


@dataclass
class LiveInterface:
    """What the running domain adds to one ``<interface>``."""

    target_dev: str | None = None
    bridge: str | None = None
    portid: str | None = None


@dataclass
class SecLabel:
    """A ``<seclabel>`` of a running domain (DAC: ``+UID:+GID``)."""

    label: str
    imagelabel: str | None = None
    model: str = "dac"
    type: str = "dynamic"
    relabel: bool = True


@dataclass
class LiveInfo:
    """Runtime facts merged into the live XML by :meth:`DomainDef.format`.

    ``interfaces`` / ``serial_ptys`` / ``graphics_ports`` are by device index
    (missing entries mean "nothing to add").  ``cpu_features`` None means
    libvirt's answer for TCG's ``qemu64`` (``hypervisor``, ``lahf_lm``).
    ``aliases`` False suppresses ``<alias>`` elements.
    """

    domain_id: int
    interfaces: list[LiveInterface] = field(default_factory=list)
    serial_ptys: list[str | None] = field(default_factory=list)
    seclabels: list[SecLabel] = field(default_factory=list)
    graphics_ports: list[int] = field(default_factory=list)
    graphics_listen: str = "127.0.0.1"
    cpu_features: list[str] | None = None
    aliases: bool = True


# --------------------------------------------------------------------------- helpers: names


def _check_name(root: Element) -> str:
    name_el = _child(root, "name")
    name = name_el.text if name_el is not None else None
    if not name:
        raise VirtError(ErrorNumber.NO_NAME, ErrorDomain.DOMAIN, raw_message="missing name information")
    name = str(name)
    bad = re.search(r"[\n]", name)
    if bad:
        ch = bad.group(0)
        shown = ch if ch.isprintable() else f"0x{ord(ch):02x}"
        raise VirtError(ErrorNumber.XML_DETAIL, ErrorDomain.DOMAIN, f"invalid char in name: {shown}")
    if "/" in name:
        raise _xml_err(f"name {name} cannot contain '/'")
    return name


def disk_name_to_index(name: str) -> int:
    """``vda`` -> 0, ``hdc`` -> 2, ``sdaa`` -> 26 (libvirt's virDiskNameToIndex).

    Raises:
        ValueError: the name has no known prefix or letters.
    """
    for prefix in ("fd", "hd", "vd", "sd", "xvd", "ubd"):
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            break
    else:
        raise ValueError(name)
    m = re.match(r"^([a-z]+)\d*$", rest)
    if not m:
        raise ValueError(name)
    idx = 0
    for ch in m.group(1):
        idx = idx * 26 + (ord(ch) - ord("a") + 1)
    return idx - 1


def _memory_kib(el: Element, what: str) -> int:
    raw = (el.text or "").strip()
    try:
        value = int(raw, 10)
        if value < 0:
            raise ValueError(raw)
    except ValueError as err:
        raise _xml_err(f"Invalid value '{raw}' for element or attribute './{what}[1]'") from err
    unit = el.get("unit")
    nbytes = scale_integer(value, unit, 1024)
    return (nbytes + 1023) // 1024


# --------------------------------------------------------------------------- the definition


class _Views:
    """The typed views of one tree (built together by :meth:`DomainDef._views`)."""

    __slots__ = (
        "channels", "consoles", "controllers", "disks", "graphics", "inputs", "interfaces",
        "memballoon", "rngs", "serials", "videos",
    )  # fmt: skip

    def __init__(self) -> None:
        self.disks: list[DiskDef] = []
        self.interfaces: list[InterfaceDef] = []
        self.serials: list[ChrDef] = []
        self.consoles: list[ChrDef] = []
        self.channels: list[ChrDef] = []
        self.controllers: list[ControllerDef] = []
        self.graphics: list[GraphicsDef] = []
        self.videos: list[VideoDef] = []
        self.inputs: list[InputDef] = []
        self.rngs: list[RngDef] = []
        self.memballoon: MemballoonDef | None = None


# The scalar fields read from the tree once and kept (also by a compact
# definition); :meth:`DomainDef._scan` forgets them when the tree changes.
_MEMO_FIELDS = ("memory_kib", "current_memory_kib", "vcpus", "os_type")

# What compact_state() keeps: the memoised fields a compact definition always has, and the types
# of all its values.
_STATE_FIELDS = ("name", "uuid", *_MEMO_FIELDS)
_STATE_TYPES: dict[str, type] = {
    "xml": str, "plain": bool, "round_trip": bool, "name": str, "uuid": str,
    "memory_kib": int, "current_memory_kib": int, "vcpus": int, "os_type": str,
}  # fmt: skip
_STATE_KEYS = _STATE_TYPES.keys()

# A formatted definition that may not read back as the same tree: a CR (XML
# parsers turn it into LF; checked apart), or a tab / newline inside an
# attribute value (attribute-value normalisation turns them into spaces).
_NOT_ROUND_TRIP = re.compile(r"='[^'<]*[\t\n]")


class DomainDef:
    """A parsed, defaults-filled domain definition backed by its lxml tree.

    Build one with :func:`parse_domain`.  Accessors mirror what the QEMU
    driver needs; mutators (:meth:`set_title`, :meth:`set_description`)
    edit the tree and refresh the typed views.

    The typed views (:attr:`disks`, :attr:`interfaces`, ...) are built from
    the tree on first use.  Code that edits :attr:`root` in place calls
    :meth:`_scan` afterwards (or wraps the tree in a new DomainDef).

    :meth:`compact` keeps only the formatted (inactive) XML and the few
    fields listings need: an inactive domain's definition then costs its
    text, not an lxml tree.  The tree is parsed back from that text when
    something needs it.
    """

    def __init__(self, root: Element) -> None:
        self._root: Element | None = root
        # format_xml(tree), once computed and while the tree is unchanged.
        self._xml: str | None = None
        self._view_cache: _Views | None = None
        # True when the tree is known to hold no namespace (faster formatting).
        self._plain = False
        # True when the formatted text is known to parse back into this tree.
        self._round_trip = False

    @property
    def root(self) -> Element:
        """The tree (parsed back from the XML text of a compact definition, and kept)."""
        if self._root is None:
            self._root = self._tree()
        return self._root

    def _tree(self) -> Element:
        """The tree, or for a compact definition a fresh one parsed from its text (not kept)."""
        if self._root is not None:
            return self._root
        assert self._xml is not None
        return _parse_formatted(self._xml)

    def compact(self) -> None:
        """Drop the tree and the views, keeping the XML text and the memoised fields.

        Nothing changes for the caller: every accessor gives what it gave,
        :meth:`format` the same text.  A definition whose text would not parse
        back into the same tree (see ``_NOT_ROUND_TRIP``) keeps its tree.
        Raises nothing.
        """
        if self._root is None:
            return
        text = self.format(inactive=True)
        if not self._round_trip:
            if "\r" in text or _NOT_ROUND_TRIP.search(text):
                return
            if "xmlns" in text and format_xml(_parse_formatted(text)) != text:
                return  # namespace declarations that would not print the same
        memo = self.__dict__
        for name in _STATE_FIELDS:
            if name not in memo:
                memo[name] = getattr(DomainDef, name).func(self)
        self._root = None
        self._view_cache = None

    @property
    def compacted(self) -> bool:
        """True when only the text is kept (see :meth:`compact`)."""
        return self._root is None

    def compact_state(self) -> dict[str, str | int | bool] | None:
        """What :meth:`from_compact_state` needs to rebuild this compact definition.

        Only str, int and bool values, so that it can be kept on disk between
        daemon runs.  None when the definition is not compact (it still has
        its tree; :meth:`compact` may have kept it).  Raises nothing.
        """
        if self._root is not None:
            return None
        assert self._xml is not None
        memo = self.__dict__
        state: dict[str, str | int | bool] = {
            "xml": self._xml,
            "plain": self._plain,
            "round_trip": self._round_trip,
        }
        for name in _STATE_FIELDS:
            state[name] = memo[name]
        return state

    @classmethod
    def from_compact_state(cls, state: dict[str, str | int | bool]) -> DomainDef:
        """The compact definition :meth:`compact_state` described.

        The state is trusted to come from :meth:`compact_state` of this same
        code (nothing is parsed or validated again); only its shape is checked.

        Raises:
            ValueError: ``state`` does not have the keys and types
                :meth:`compact_state` gives.
        """
        if state.keys() != _STATE_KEYS:
            raise ValueError(f"compact definition state with keys {sorted(state)}")
        for name, kind in _STATE_TYPES.items():
            if type(state[name]) is not kind:
                raise ValueError(f"compact definition state: {name} is not {kind.__name__}")
        new = cls.__new__(cls)
        new._root = None
        new._view_cache = None
        new._xml = state["xml"]  # type: ignore[assignment]
        new._plain = state["plain"]  # type: ignore[assignment]
        new._round_trip = state["round_trip"]  # type: ignore[assignment]
        memo = new.__dict__
        for name in _STATE_FIELDS:
            memo[name] = state[name]
        return new

    # ------------------------------------------------------------ simple fields

    # Name and uuid never change once parsed; the drivers read them on every
    # lookup, so they are read from the tree once.
    @functools.cached_property
    def name(self) -> str:
        return _text(self._tree(), "name") or ""

    @functools.cached_property
    def uuid(self) -> str:
        return _text(self._tree(), "uuid") or ""

    @property
    def virt_type(self) -> str:
        return str(self._tree().get("type"))

    @property
    def title(self) -> str | None:
        return _text(self._tree(), "title")

    @property
    def description(self) -> str | None:
        return _text(self._tree(), "description")

    @functools.cached_property
    def memory_kib(self) -> int:
        return int(_text(self._tree(), "memory") or 0)

    @functools.cached_property
    def current_memory_kib(self) -> int:
        return int(_text(self._tree(), "currentMemory") or self.memory_kib)

    @functools.cached_property
    def vcpus(self) -> int:
        return int(_text(self._tree(), "vcpu") or 1)

    @property
    def current_vcpus(self) -> int:
        v = _child(self._tree(), "vcpu")
        cur = v.get("current") if v is not None else None
        return int(cur) if cur else self.vcpus

    def _os(self) -> Element:
        os_el = _child(self._tree(), "os")
        assert os_el is not None
        return os_el

    @functools.cached_property
    def os_type(self) -> str:
        return _text(self._os(), "type") or "hvm"

    @property
    def arch(self) -> str:
        t = _child(self._os(), "type")
        return str(t.get("arch")) if t is not None else ""

    @property
    def machine(self) -> str:
        return _machine(self._tree())

    @property
    def kernel(self) -> str | None:
        return _text(self._os(), "kernel")

    @property
    def initrd(self) -> str | None:
        return _text(self._os(), "initrd")

    @property
    def cmdline(self) -> str | None:
        return _text(self._os(), "cmdline")

    @property
    def boot_devs(self) -> list[str]:
        return [str(b.get("dev")) for b in self._os().findall("boot") if b.get("dev")]

    def _feature(self, name: str) -> bool:
        f = _child(self._tree(), "features")
        if f is None:
            return False
        e = _child(f, name)
        return e is not None and e.get("state", "on") == "on"

    @property
    def acpi(self) -> bool:
        return self._feature("acpi")

    @property
    def apic(self) -> bool:
        return self._feature("apic")

    @property
    def features(self) -> list[str]:
        f = _child(self._tree(), "features")
        return [str(c.tag) for c in f if isinstance(c.tag, str)] if f is not None else []

    @property
    def cpu_mode(self) -> str | None:
        c = _child(self._tree(), "cpu")
        return str(c.get("mode")) if c is not None and c.get("mode") else None

    @property
    def cpu_model(self) -> str | None:
        c = _child(self._tree(), "cpu")
        return _text(c, "model") if c is not None else None

    @property
    def clock_offset(self) -> str:
        c = _child(self._tree(), "clock")
        return str(c.get("offset", "utc")) if c is not None else "utc"

    @property
    def on_poweroff(self) -> str:
        return _text(self._tree(), "on_poweroff") or "destroy"

    @property
    def on_reboot(self) -> str:
        return _text(self._tree(), "on_reboot") or "restart"

    @property
    def on_crash(self) -> str:
        return _text(self._tree(), "on_crash") or "destroy"

    @property
    def emulator(self) -> str:
        d = _child(self._tree(), "devices")
        return (_text(d, "emulator") if d is not None else None) or ""

    def _devices(self) -> Element:
        d = _child(self._tree(), "devices")
        assert d is not None
        return d

    # ---------------------------------------------------------------- typed views

    @property
    def disks(self) -> list[DiskDef]:
        return self._views().disks

    @property
    def interfaces(self) -> list[InterfaceDef]:
        return self._views().interfaces

    @property
    def serials(self) -> list[ChrDef]:
        return self._views().serials

    @property
    def consoles(self) -> list[ChrDef]:
        return self._views().consoles

    @property
    def channels(self) -> list[ChrDef]:
        return self._views().channels

    @property
    def controllers(self) -> list[ControllerDef]:
        return self._views().controllers

    @property
    def graphics(self) -> list[GraphicsDef]:
        return self._views().graphics

    @property
    def videos(self) -> list[VideoDef]:
        return self._views().videos

    @property
    def inputs(self) -> list[InputDef]:
        return self._views().inputs

    @property
    def rngs(self) -> list[RngDef]:
        return self._views().rngs

    @property
    def memballoon(self) -> MemballoonDef | None:
        return self._views().memballoon

    # ---------------------------------------------------------------- scanning

    def _scan(self) -> None:
        """The tree was edited in place: forget the views, the text and the memoised fields."""
        self._view_cache = None
        self._xml = None
        self._plain = self._round_trip = False
        for name in _MEMO_FIELDS:
            self.__dict__.pop(name, None)

    def _views(self) -> _Views:
        views = self._view_cache
        if views is None:
            views = self._view_cache = _build_views(self._tree())
        return views

    # ---------------------------------------------------------------- mutators

    def set_title(self, text: str | None) -> None:
        """Set (or with None/"" remove) ``<title>``.

        Raises:
            VirtError: INVALID_ARG when the title contains a newline.
        """
        if text and "\n" in text:
            raise VirtError(
                ErrorNumber.INVALID_ARG, ErrorDomain.DOMAIN, "Domain title can't contain newlines"
            )
        self._set_text_elem("title", text)

    def set_description(self, text: str | None) -> None:
        """Set (or with None/"" remove) ``<description>``.  Raises nothing."""
        self._set_text_elem("description", text)

    def _set_text_elem(self, tag: str, text: str | None) -> None:
        root = self.root
        old = _child(root, tag)
        if old is not None:
            root.remove(old)
        if text:
            _insert_ordered(root, _new(tag, text=text), _TOP_ORDER)
        self._scan()

    def clone(self) -> DomainDef:
        """An independent deep copy."""
        new = DomainDef(self._tree() if self._root is None else copy.deepcopy(self._root))
        new._plain, new._round_trip = self._plain, self._round_trip
        return new

    # ---------------------------------------------------------------- format

    def format(self, inactive: bool = True, live: LiveInfo | None = None) -> str:
        """The domain XML exactly as libvirt prints it.

        With ``live`` (and ``inactive`` False) the running-domain additions
        are merged in.  Raises nothing.
        """
        if inactive or live is None:
            text = self._xml
            if text is None:
                assert self._root is not None
                text = self._xml = format_xml(self._root, namespaces=not self._plain)
            return text
        # A compact definition's tree is a fresh parse: no copy needed.
        root = self._tree() if self._root is None else copy.deepcopy(self._root)
        _apply_live(root, live)
        return format_xml(root, namespaces=not self._plain)

    def __repr__(self) -> str:
        return f"DomainDef(name={self.name!r}, uuid={self.uuid!r})"


def _parse_formatted(text: str) -> Element:
    """The tree of a definition's own formatted XML (known to be well formed)."""
    return etree.fromstring(text.encode("utf-8"), _formatted_parser())


def _formatted_parser() -> etree.XMLParser:
    parser = _HELPERS.parser
    if parser is None:
        parser = _HELPERS.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, remove_comments=True, remove_pis=True
        )
    return parser


def _machine(root: Element) -> str:
    os_el = _child(root, "os")
    assert os_el is not None
    t = _child(os_el, "type")
    return str(t.get("machine") or "") if t is not None else ""


def _build_views(root: Element) -> _Views:
    v = _Views()
    devs = _child(root, "devices")
    if devs is None:
        return v
    for d in devs.findall("disk"):
        v.disks.append(_disk_view(d))
    controllers = devs.findall("controller")
    machine = _machine(root) if controllers else ""
    for c in controllers:
        v.controllers.append(_controller_view(c, machine))
    for i, n in enumerate(devs.findall("interface")):
        v.interfaces.append(_iface_view(n, i))
    serial_els = devs.findall("serial")
    for i, s in enumerate(serial_els):
        v.serials.append(_chr_view(s, "serial", f"serial{i}"))
    for i, c in enumerate(devs.findall("console")):
        tgt = _child(c, "target")
        ttype = tgt.get("type") if tgt is not None else None
        alias = f"serial{i}" if ttype == "serial" and i < len(serial_els) else f"console{i}"
        v.consoles.append(_chr_view(c, "console", alias))
    for i, c in enumerate(devs.findall("channel")):
        v.channels.append(_chr_view(c, "channel", f"channel{i}"))
    for g in devs.findall("graphics"):
        port = _parse_int(g.get("port"))
        v.graphics.append(
            GraphicsDef(
                type=str(g.get("type")),
                port=port,
                autoport=g.get("autoport") == "yes",
                listen=g.get("listen"),
                passwd=g.get("passwd"),
            )
        )
    for i, vid in enumerate(devs.findall("video")):
        m = _child(vid, "model")
        v.videos.append(
            VideoDef(
                model=str(m.get("type")) if m is not None else "cirrus",
                vram=_parse_int(m.get("vram")) if m is not None else None,
                heads=_parse_int(m.get("heads")) if m is not None else None,
                primary=m is not None and m.get("primary") == "yes",
                alias=f"video{i}",
                address=_pci_from_elem(_child(vid, "address")),
            )
        )
    for i, inp in enumerate(devs.findall("input")):
        v.inputs.append(InputDef(str(inp.get("type")), str(inp.get("bus")), f"input{i}"))
    mb = _child(devs, "memballoon")
    if mb is not None:
        v.memballoon = MemballoonDef(
            model=str(mb.get("model")), alias="balloon0", address=_pci_from_elem(_child(mb, "address"))
        )
    for i, r in enumerate(devs.findall("rng")):
        be = _child(r, "backend")
        v.rngs.append(
            RngDef(
                model=str(r.get("model", "virtio")),
                backend_model=str(be.get("model")) if be is not None else "random",
                backend=(be.text.strip() if be is not None and be.text else None),
                alias=f"rng{i}",
                address=_pci_from_elem(_child(r, "address")),
            )
        )
    return v


# --------------------------------------------------------------------------- view builders


def _boot_order(dev: Element) -> int | None:
    b = _child(dev, "boot")
    return _parse_int(b.get("order")) if b is not None else None


def _disk_view(d: Element) -> DiskDef:
    drv = _child(d, "driver")
    src = _child(d, "source")
    source = None
    if src is not None:
        source = src.get("file") or src.get("dev") or src.get("dir") or src.get("name")
    tgt = _child(d, "target")
    target = str(tgt.get("dev")) if tgt is not None else ""
    bus = str(tgt.get("bus")) if tgt is not None and tgt.get("bus") else ""
    addr = _child(d, "address")
    drive = None
    if addr is not None and addr.get("type") == "drive":
        drive = tuple(int(addr.get(k, "0")) for k in ("controller", "bus", "target", "unit"))
    return DiskDef(
        type=str(d.get("type", "file")),
        device=str(d.get("device", "disk")),
        driver_name=drv.get("name") if drv is not None else None,
        driver_type=drv.get("type") if drv is not None else None,
        source=source,
        target=target,
        bus=bus,
        readonly=_child(d, "readonly") is not None,
        address=_pci_from_elem(addr),
        drive_address=drive,  # type: ignore[arg-type]
        alias=_disk_alias(bus, target, drive),  # type: ignore[arg-type]
        boot_order=_boot_order(d),
    )


def _disk_alias(bus: str, target: str, drive: tuple[int, int, int, int] | None) -> str:
    if bus == "virtio":
        try:
            return f"virtio-disk{disk_name_to_index(target)}"
        except ValueError:
            return "virtio-disk0"
    if drive is not None:
        c, b, t, u = drive
        if bus == "scsi":
            return f"scsi{c}-{b}-{t}-{u}"
        return f"{bus}{c}-{b}-{u}"
    return f"{bus}-disk0"


def _controller_alias(ctype: str, idx: int, model: str | None, machine: str) -> str:
    if ctype == "pci":
        if model == "pcie-root":
            return "pcie.0"
        return f"pci.{idx}"
    if ctype == "ide" and idx == 0:
        return "ide"
    if ctype == "sata" and idx == 0 and "q35" in machine:
        return "ide"
    if ctype == "usb" and idx == 0:
        return "usb"
    return f"{ctype}{idx}"


def _controller_view(c: Element, machine: str) -> ControllerDef:
    ctype = str(c.get("type"))
    idx = int(c.get("index", "0"))
    model = c.get("model")
    return ControllerDef(
        type=ctype,
        index=idx,
        model=model,
        alias=_controller_alias(ctype, idx, model, machine),
        address=_pci_from_elem(_child(c, "address")),
    )


def _iface_view(n: Element, i: int) -> InterfaceDef:
    mac = _child(n, "mac")
    src = _child(n, "source")
    model = _child(n, "model")
    tgt = _child(n, "target")
    alias_el = _child(n, "alias")
    return InterfaceDef(
        type=str(n.get("type")),
        mac=str(mac.get("address")) if mac is not None else "",
        source_network=src.get("network") if src is not None else None,
        source_bridge=src.get("bridge") if src is not None else None,
        source_dev=src.get("dev") if src is not None else None,
        model=model.get("type") if model is not None else None,
        target_dev=tgt.get("dev") if tgt is not None else None,
        alias=(alias_el.get("name") if alias_el is not None else None) or f"net{i}",
        address=_pci_from_elem(_child(n, "address")),
        boot_order=_boot_order(n),
    )


def _chr_view(c: Element, kind: str, alias: str) -> ChrDef:
    src = _child(c, "source")
    log = _child(c, "log")
    tgt = _child(c, "target")
    append = log.get("append") if log is not None else None
    return ChrDef(
        kind=kind,
        type=str(c.get("type", "pty")),
        source_path=src.get("path") if src is not None else None,
        log_file=log.get("file") if log is not None else None,
        log_append=None if append is None else append == "on",
        target_type=tgt.get("type") if tgt is not None else None,
        port=_parse_int(tgt.get("port")) if tgt is not None else None,
        alias=alias,
    )


# --------------------------------------------------------------------------- parse


def parse_domain(xml: str, caps: Capabilities | None = None, *, keep_aliases: bool = False) -> DomainDef:
    """Parse a domain document, validate it and fill libvirt's defaults.

    With ``caps`` the host is checked (emulator present, arch, machine and
    virt type supported); without it a built-in QEMU 7.2 x86_64 profile
    supplies machine names and defaults but nothing is refused for the host.

    Raises:
        VirtError: XML_DETAIL for malformed XML; XML_ERROR / NO_NAME /
            XML_DETAIL for bad names, units, values, duplicate targets, a
            multicast MAC; INTERNAL_ERROR for an unparsable MAC or no
            emulator for the arch; CONFIG_UNSUPPORTED for an unknown arch,
            machine, virt type; SYSTEM_ERROR when the emulator binary is
            missing; INVALID_ARG for an unknown unit suffix.
    """
    root = parse_xml(xml, what="domain_definition", root="domain")
    # Neither "xmlns" nor the implicit "xml:" prefix in the text: no namespace
    # anywhere in the tree (see _fast_tree).
    plain = isinstance(xml, str) and "xmlns" not in xml and "xml:" not in xml
    with _fast_tree(plain, root):
        filled = _fill(root, caps, keep_aliases)
    _check_views(filled)
    d = DomainDef(filled)
    d._plain = plain
    # Only a character reference puts a CR in text or a tab / newline in an
    # attribute value (the parser normalises literal ones), and the values
    # _fill sets never hold them: without "&#" the formatted text reads back
    # as this tree (see DomainDef.compact).
    d._round_trip = plain and "&#" not in xml
    return d


def _check_views(root: Element) -> None:
    """Raise what building the typed views of ``root`` would raise (they are built on first use).

    That is a bad PCI address of a device, a drive address or controller index
    that is not a number, in the order :func:`_build_views` meets them.
    """
    devs = _child(root, "devices")
    if devs is None:
        return
    # _fill_devices groups the devices in _DEVICE_ORDER, which has these kinds
    # in the order _build_views looks at them: one pass meets them the same way.
    memballoon = False
    for e in devs.iterchildren("disk", "controller", "interface", "video", "memballoon", "rng"):
        tag = e.tag
        addr = _child(e, "address")
        if tag == "disk":
            if addr is not None and addr.get("type") == "drive":
                for k in ("controller", "bus", "target", "unit"):
                    int(addr.get(k, "0"))
        elif tag == "controller":
            int(e.get("index", "0"))
        elif tag == "memballoon":
            if memballoon:
                continue  # the views look at the first one only
            memballoon = True
        _pci_from_elem(addr)


def _fill(root: Element, caps: Capabilities | None, keep_aliases: bool = False) -> Element:
    prop_enum(root, "type", VIRT_TYPES, required=True)
    virt_type = str(root.get("type"))
    if "id" in root.attrib:
        del root.attrib["id"]
    _order_attrs(root, ("type",))
    _sort_children(root, _TOP_ORDER)
    for tag in ("seclabel",):
        for e in root.findall(tag):
            if e.get("type", "dynamic") == "dynamic":
                root.remove(e)
    with _deferred_sort(root, _TOP_ORDER):
        _fill_top(root, virt_type, caps, keep_aliases)
    return root


def _fill_top(root: Element, virt_type: str, caps: Capabilities | None, keep_aliases: bool) -> None:
    _check_name(root)
    _fill_uuid(root)
    title = _text(root, "title")
    if title and "\n" in title:
        raise _xml_err("Domain title can't contain newlines")
    _fill_memory(root)
    _fill_vcpu(root)

    os_el = _child(root, "os")
    if os_el is None:
        raise _xml_err("an os <type> must be specified")
    guest, emulator, arch, machine = _fill_os(root, os_el, virt_type, caps)

    _fill_cpu(root, virt_type, arch)
    clock = _child(root, "clock")
    if clock is None:
        _insert_ordered(root, _new("clock", {"offset": "utc"}), _TOP_ORDER)
    for tag, default, choices in (
        ("on_poweroff", "destroy", LIFECYCLE_ACTIONS),
        ("on_reboot", "restart", LIFECYCLE_ACTIONS),
        ("on_crash", "destroy", CRASH_ACTIONS),
    ):
        val = _text(root, tag)
        if val is None:
            _insert_ordered(root, _new(tag, text=default), _TOP_ORDER)
        elif val.strip() not in choices:
            raise _xml_err(f"Invalid {tag.removeprefix('on_')} action: {val}")

    devices = _child(root, "devices")
    if devices is None:
        devices = _insert_ordered(root, _new("devices"), _TOP_ORDER)
    _fill_devices(root, devices, arch, machine, emulator, virt_type, guest, keep_aliases)
    _check_boot(root, os_el)


def _fill_uuid(root: Element) -> None:
    el = _child(root, "uuid")
    if el is None:
        _insert_ordered(root, _new("uuid", text=generate_uuid()), _TOP_ORDER)
        return
    try:
        el.text = parse_uuid(el.text or "")
    except ValueError as err:
        raise VirtError(ErrorNumber.INTERNAL_ERROR, ErrorDomain.DOMAIN, "malformed uuid element") from err


def _fill_memory(root: Element) -> None:
    mem = _child(root, "memory")
    if mem is None:
        raise _xml_err("Memory size must be specified via <memory> or in the <numa> configuration")
    total = _memory_kib(mem, "memory")
    if total == 0:
        raise _xml_err("Memory size must be specified via <memory> or in the <numa> configuration")
    mem.text = str(total)
    mem.set("unit", "KiB")
    _order_attrs(mem, ("unit",))
    cur = _child(root, "currentMemory")
    cur_kib = _memory_kib(cur, "currentMemory") if cur is not None else 0
    if cur_kib == 0 or cur_kib > total:
        cur_kib = total
    if cur is None:
        cur = _insert_ordered(root, _new("currentMemory"), _TOP_ORDER)
    cur.text = str(cur_kib)
    cur.attrib.clear()
    cur.set("unit", "KiB")
    mx = _child(root, "maxMemory")
    if mx is not None:
        mx.text = str(_memory_kib(mx, "maxMemory"))
        mx.set("unit", "KiB")
        _order_attrs(mx, ("slots", "unit"))


def _fill_vcpu(root: Element) -> None:
    v = _child(root, "vcpu")
    if v is None:
        v = _insert_ordered(root, _new("vcpu", text="1"), _TOP_ORDER)
    raw = (v.text or "1").strip()
    n = _parse_int(raw) if raw.isdigit() else None
    if n is None or n <= 0:
        raise _xml_err(f"Invalid value '{raw}' for element or attribute './vcpu[1]'")
    v.text = str(n)
    if not v.get("placement"):
        v.set("placement", "static")
    cur = v.get("current")
    if cur is not None:
        c = _parse_int(cur)
        if c is None or c <= 0:
            raise _xml_err("maximum vcpus count must be an integer")
        if c >= n:
            del v.attrib["current"]
    _order_attrs(v, ("placement", "cpuset", "current"))


def _fill_os(
    root: Element, os_el: Element, virt_type: str, caps: Capabilities | None
) -> tuple[GuestArch | None, str, str, str]:
    type_el = _child(os_el, "type")
    if type_el is None or not (type_el.text or "").strip():
        raise _xml_err("an os <type> must be specified")
    os_type = str(type_el.text).strip()
    if os_type not in OS_TYPES:
        raise VirtError(ErrorNumber.OS_TYPE, ErrorDomain.DOMAIN, os_type)
    type_el.text = os_type
    eff = caps or _fallback_caps()
    arch = type_el.get("arch")
    if arch is None:
        arch = (
            eff.host_arch
            if eff.guest_for_arch(eff.host_arch)
            else (eff.guests[0].arch if eff.guests else "x86_64")
        )
    elif arch not in KNOWN_ARCHES or arch == "none":
        raise _unsupported(f"Unknown architecture {arch}", ErrorDomain.DOMAIN)
    type_el.set("arch", arch)

    devices = _child(root, "devices")
    emu_el = _child(devices, "emulator") if devices is not None else None
    emulator = (emu_el.text or "").strip() if emu_el is not None else ""
    guest: GuestArch | None = None
    if not emulator:
        guest = eff.guest_for_arch(arch)
        if guest is None and arch == "i686":
            guest = eff.guest_for_arch("x86_64")
        if guest is None:
            raise VirtError(
                ErrorNumber.INTERNAL_ERROR, ErrorDomain.QEMU, f"No emulator found for arch '{arch}'"
            )
        emulator = guest.emulator
    else:
        if caps is not None:
            try:
                os.stat(emulator)
            except OSError as err:
                raise VirtError(
                    ErrorNumber.SYSTEM_ERROR,
                    ErrorDomain.QEMU,
                    f"Cannot check QEMU binary {emulator}: {err.strerror}",
                ) from err
            if not os.access(emulator, os.X_OK):
                raise VirtError(
                    ErrorNumber.SYSTEM_ERROR,
                    ErrorDomain.QEMU,
                    f"QEMU binary {emulator} is not executable",
                )
        guest = eff.guest_for_emulator(emulator) or eff.guest_for_arch(arch)
        if guest is None and caps is not None:
            raise _unsupported(f"Emulator '{emulator}' does not support arch '{arch}'")
    if caps is not None and guest is not None:
        supported = {guest.arch} | ({"i686"} if guest.arch == "x86_64" else set())
        if arch not in supported:
            raise _unsupported(f"Emulator '{emulator}' does not support arch '{arch}'")
        if os_type != guest.os_type:
            raise VirtError(
                ErrorNumber.INVALID_ARG,
                ErrorDomain.CAPABILITIES,
                f"could not find capabilities for ostype={os_type} arch={arch} domaintype={virt_type} ",
            )
        if virt_type not in guest.domain_types:
            raise _unsupported(f"Emulator '{emulator}' does not support virt type '{virt_type}'")

    machine = type_el.get("machine")
    if guest is not None:
        if not machine:
            machine = guest.default_machine or "pc"
        else:
            canon = guest.canonical_machine(machine)
            if canon is None:
                if caps is not None:
                    raise _unsupported(f"Emulator '{emulator}' does not support machine type '{machine}'")
            else:
                machine = canon
    machine = machine or "pc"
    type_el.set("machine", machine)
    _order_attrs(type_el, ("arch", "machine"))
    _sort_children(os_el, _OS_ORDER)
    return guest, emulator, arch, machine


def _check_boot(root: Element, os_el: Element) -> None:
    devices = _child(root, "devices")
    per_device = devices is not None and any(
        _child(d, "boot") is not None and d.tag in ("disk", "interface", "hostdev", "redirdev", "filesystem")
        for d in devices
    )
    os_boot = os_el.findall("boot")
    if per_device and os_boot:
        raise _xml_err("per-device boot elements cannot be used together with os/boot elements")
    if _text(os_el, "type") != "hvm":
        return
    if not per_device and not os_boot:
        _insert_ordered(os_el, _new("boot", {"dev": "hd"}), _OS_ORDER)


def _fill_cpu(root: Element, virt_type: str, arch: str) -> None:
    cpu = _child(root, "cpu")
    if arch not in ("x86_64", "i686"):
        return
    if cpu is None:
        cpu = _insert_ordered(root, _new("cpu"), _TOP_ORDER)
    mode = cpu.get("mode") or "custom"
    model = _child(cpu, "model")
    if mode == "custom" and (model is None or not (model.text or "").strip()):
        if model is None:
            model = _insert_ordered(cpu, _new("model"), _CPU_ORDER)
        model.text = "qemu64"
        if not model.get("fallback"):
            model.set("fallback", "forbid")
    cpu.set("mode", mode)
    if mode == "custom":
        if not cpu.get("match"):
            cpu.set("match", "exact")
        if model is not None and not model.get("fallback"):
            model.set("fallback", "allow")
        if not cpu.get("check"):
            cpu.set("check", "none" if virt_type == "qemu" else "partial")
    elif mode == "host-passthrough" or mode == "maximum":
        if not cpu.get("check"):
            cpu.set("check", "none")
        if mode == "host-passthrough" and not cpu.get("migratable"):
            cpu.set("migratable", "on")
    elif mode == "host-model" and not cpu.get("check"):
        cpu.set("check", "partial")
    _order_attrs(cpu, ("mode", "match", "check", "migratable"))
    if model is not None:
        _order_attrs(model, ("fallback", "vendor_id"))
    _sort_children(cpu, _CPU_ORDER)


# --------------------------------------------------------------------------- devices


def _fill_devices(
    root: Element,
    devices: Element,
    arch: str,
    machine: str,
    emulator: str,
    virt_type: str,
    guest: GuestArch | None,
    keep_aliases: bool = False,
) -> None:
    x86 = arch in ("x86_64", "i686")
    i440fx = x86 and machine.startswith("pc-i440fx")
    q35 = x86 and machine.startswith("pc-q35")
    os_type = _text(_child(root, "os"), "type")  # type: ignore[arg-type]
    hvm = os_type == "hvm"

    fams: dict[str, list[Element]] = {k: [] for k in _DEVICE_ORDER}
    unknown: list[Element] = []
    for d in list(devices):
        if not isinstance(d.tag, str):
            continue
        if d.tag in fams:
            fams[str(d.tag)].append(d)
        else:
            unknown.append(d)
    for d in list(devices):
        devices.remove(d)
    devices.text = None

    # emulator
    fams["emulator"] = [_new("emulator", text=emulator)]

    # disks
    seen_targets: dict[str, Element] = {}
    for d in fams["disk"]:
        _fill_disk(d, seen_targets)

    # controllers: parsed ones in libvirt's insertion order, then implicit ones
    ctrls: list[Element] = []
    for c in fams["controller"]:
        ctype = c.get("type")
        if not ctype:
            raise VirtError(
                ErrorNumber.XML_ERROR,
                ErrorDomain.XML,
                "Missing required attribute 'type' in element 'controller'",
            )
        if c.get("index") is None:
            c.set(
                "index",
                str(max([int(x.get("index", "0")) for x in ctrls if x.get("type") == ctype] + [-1]) + 1),
            )
        _insert_controller(ctrls, c)

    def has_ctrl(ctype: str, idx: int) -> bool:
        return any(c.get("type") == ctype and int(c.get("index", "0")) == idx for c in ctrls)

    if x86 and (i440fx or q35) and not has_ctrl("usb", 0):
        usb_model = "piix3-uhci" if i440fx else "qemu-xhci"
        _insert_controller(ctrls, _new("controller", {"type": "usb", "index": "0", "model": usb_model}))
    if i440fx:
        pci0 = [c for c in ctrls if c.get("type") == "pci" and c.get("index") == "0"]
        if pci0:
            if pci0[0].get("model") not in (None, "pci-root"):
                raise _unsupported(
                    "The PCI controller with index='0' must be model='pci-root' for this machine type"
                )
            pci0[0].set("model", "pci-root")
        else:
            _insert_controller(ctrls, _new("controller", {"type": "pci", "index": "0", "model": "pci-root"}))
    elif q35:
        if not has_ctrl("pci", 0):
            _insert_controller(ctrls, _new("controller", {"type": "pci", "index": "0", "model": "pcie-root"}))
        if not has_ctrl("sata", 0):
            _insert_controller(ctrls, _new("controller", {"type": "sata", "index": "0"}))

    # memballoon
    if not fams["memballoon"]:
        fams["memballoon"] = [_new("memballoon", {"model": "virtio"})]

    # interfaces
    for n in fams["interface"]:
        _fill_interface(n, keep_aliases)

    # serials / consoles
    _fill_chardevs(fams, x86, hvm)

    # inputs
    if x86:
        for typ in ("mouse", "keyboard"):
            if not any(i.get("type") == typ and i.get("bus") == "ps2" for i in fams["input"]):
                fams["input"].append(_new("input", {"type": typ, "bus": "ps2"}))
    for inp in fams["input"]:
        if not inp.get("bus"):
            inp.set("bus", "ps2" if x86 and inp.get("type") in ("mouse", "keyboard") else "usb")
        _order_attrs(inp, ("type", "bus", "model"))

    # graphics, video, audio
    for g in fams["graphics"]:
        _fill_graphics(g)
    if fams["graphics"] and not fams["video"]:
        fams["video"].append(_new("video"))
    for i, v in enumerate(fams["video"]):
        _fill_video(v, i == 0, arch)
    if not fams["audio"]:
        audio_type = "none"
        if any(g.get("type") == "spice" for g in fams["graphics"]):
            audio_type = "spice"
        fams["audio"].append(_new("audio", {"id": "1", "type": audio_type}))

    # rng
    for r in fams["rng"]:
        be = _child(r, "backend")
        if be is not None and be.get("model") == "random" and not (be.text or "").strip():
            be.text = "/dev/urandom"

    # implicit disk controllers (after the driver defaults, as libvirt does)
    for d in fams["disk"]:
        dtgt = _child(d, "target")
        bus = str(dtgt.get("bus")) if dtgt is not None else ""
        addr = _child(d, "address")
        if bus in ("ide", "sata", "scsi", "fdc") and addr is not None and addr.get("type") == "drive":
            idx = int(addr.get("controller", "0"))
            if not has_ctrl(bus, idx):
                attrs = {"type": bus, "index": str(idx)}
                if bus == "scsi":
                    attrs["model"] = "lsilogic"
                _insert_controller(ctrls, _new("controller", attrs))
            if bus == "ide" and q35:
                raise _unsupported("IDE controllers are unsupported for this QEMU binary or machine type")
    # virtio channels / consoles need a virtio-serial controller and port addresses
    vio = [
        c
        for c in fams["channel"] + fams["console"]
        if _child(c, "target") is not None and _child(c, "target").get("type") == "virtio"  # type: ignore[union-attr]
    ]
    if vio and not has_ctrl("virtio-serial", 0):
        _insert_controller(ctrls, _new("controller", {"type": "virtio-serial", "index": "0"}))
    used_ports = {
        a.get("port")
        for c in vio
        if (a := _child(c, "address")) is not None and a.get("type") == "virtio-serial"
    }
    port = 1
    for c in vio:
        if c.tag == "console" or _child(c, "address") is not None:
            continue
        while str(port) in used_ports:
            port += 1
        used_ports.add(str(port))
        _set_address(
            c, _new("address", {"type": "virtio-serial", "controller": "0", "bus": "0", "port": str(port)})
        )
    for c in ctrls:
        if c.get("type") == "scsi" and not c.get("model"):
            c.set("model", "lsilogic")
        _order_attrs(c, ("type", "index", "model", "ports", "vectors"))
    fams["controller"] = ctrls

    if i440fx:
        _assign_pci_i440fx(fams)
    _assign_usb(fams)

    for fam in _DEVICE_ORDER:
        for d in fams[fam]:
            d.tail = None
            devices.append(d)
    for d in unknown:
        d.tail = None
        devices.append(d)


def _insert_controller(ctrls: list[Element], new: Element) -> None:
    """Insert like libvirt's virDomainControllerInsertPreAlloced."""
    insert_at = -1
    ntype = new.get("type")
    nidx = int(new.get("index", "0"))
    for pos in range(len(ctrls) - 1, -1, -1):
        cur = ctrls[pos]
        if cur.get("type") != ntype:
            continue
        if int(cur.get("index", "0")) > nidx:
            insert_at = pos
        elif insert_at == -1:
            insert_at = pos + 1
    if insert_at == -1:
        ctrls.append(new)
    else:
        ctrls.insert(insert_at, new)


def _fill_disk(d: Element, seen: dict[str, Element]) -> None:
    dtype = d.get("type") or "file"
    d.set("type", dtype)
    if not d.get("device"):
        d.set("device", "disk")
    _order_attrs(d, ("type", "device", "model", "snapshot"))
    tgt = _child(d, "target")
    dev = tgt.get("dev") if tgt is not None else None
    src = _child(d, "source")
    srcpath = None
    if src is not None:
        srcpath = src.get("file") or src.get("dev") or src.get("dir") or src.get("name")
    if tgt is None or not dev:
        raise VirtError(
            53,
            ErrorDomain.DOMAIN,
            srcpath,
            raw_message=f"missing target information for device {srcpath}"
            if srcpath
            else "missing target information",
        )
    bus = tgt.get("bus")
    if not bus:
        for prefix, pbus in _DISK_PREFIX_BUS:
            if dev.startswith(prefix):
                bus = pbus
                break
        else:
            raise _xml_err(f"Invalid harddisk device name: {dev}")
        tgt.set("bus", bus)
    _order_attrs(tgt, ("dev", "bus", "tray", "removable", "rotation_rate"))
    if dev in seen:
        other = seen[dev]
        osrc = _child(other, "source")
        opath = None
        if osrc is not None:
            opath = osrc.get("file") or osrc.get("dev") or osrc.get("dir") or osrc.get("name")
        raise _xml_err(
            f"target '{dev}' duplicated for disk sources '{opath or '(null)'}' and '{srcpath or '(null)'}'"
        )
    seen[dev] = d
    drv = _child(d, "driver")
    if drv is None:
        drv = _insert_ordered(d, _new("driver"), _DISK_ORDER)
    if not drv.get("name"):
        drv.set("name", "qemu")
    if not drv.get("type"):
        drv.set("type", "raw")
    _order_attrs(drv, ("name", "type"))
    # drive addresses for controller-attached buses (virDomainDiskDefAssignAddress)
    addr = _child(d, "address")
    if bus in ("ide", "sata", "scsi", "fdc") and addr is None:
        try:
            idx = disk_name_to_index(dev)
        except ValueError as err:
            raise _xml_err(f"Invalid harddisk device name: {dev}") from err
        if bus == "ide":
            c, b, u = idx // 4, (idx % 4) // 2, idx % 2
        elif bus == "sata":
            c, b, u = idx // 6, 0, idx % 6
        elif bus == "scsi":
            c, b, u = idx // 7, 0, idx % 7
        else:
            c, b, u = 0, 0, idx
        _set_address(
            d,
            _new(
                "address",
                {"type": "drive", "controller": str(c), "bus": str(b), "target": "0", "unit": str(u)},
            ),
        )
    _sort_children(d, _DISK_ORDER)


def _fill_interface(n: Element, keep_aliases: bool = False) -> None:
    itype = n.get("type")
    if not itype:
        raise VirtError(
            ErrorNumber.XML_ERROR, ErrorDomain.XML, "Missing required attribute 'type' in element 'interface'"
        )
    mac = _child(n, "mac")
    if mac is None or not mac.get("address"):
        if mac is None:
            mac = _insert_ordered(n, _new("mac"), _IFACE_ORDER)
        mac.set("address", generate_mac())
    else:
        raw = str(mac.get("address"))
        try:
            parsed = parse_mac(raw)
        except ValueError as err:
            raise VirtError(
                ErrorNumber.INTERNAL_ERROR, ErrorDomain.DOMAIN, f"unable to parse mac address '{raw}'"
            ) from err
        if is_multicast_mac(parsed):
            raise _xml_err(f"expected unicast mac address, found multicast '{raw}'")
        mac.set("address", parsed)
    src = _child(n, "source")
    if itype == "network" and (src is None or not src.get("network")):
        raise _xml_err("No <source> 'network' attribute specified with <interface type='network'/>")
    if itype == "bridge" and (src is None or not src.get("bridge")):
        raise _xml_err("No <source> 'bridge' attribute specified with <interface type='bridge'/>")
    if src is not None:
        for live_attr in ("portid",):
            if live_attr in src.attrib:
                del src.attrib[live_attr]
        if itype == "network" and "bridge" in src.attrib:
            del src.attrib["bridge"]
        _order_attrs(src, ("network", "portgroup", "bridge", "dev", "mode"))
    tgt = _child(n, "target")
    if tgt is not None:
        dev = tgt.get("dev", "")
        if not dev or re.match(r"^(vnet|macvtap|macvlan)\d*$", dev):
            n.remove(tgt)
    if _child(n, "model") is None and itype not in ("hostdev", "vdpa"):
        _insert_ordered(n, _new("model", {"type": "rtl8139"}), _IFACE_ORDER)
    for a in n.findall("alias"):
        if not keep_aliases and not (a.get("name") or "").startswith("ua-"):
            n.remove(a)
    _sort_children(n, _IFACE_ORDER)


def _fill_chardevs(fams: dict[str, list[Element]], x86: bool, hvm: bool) -> None:
    serials = fams["serial"]
    consoles = fams["console"]
    for c in serials + consoles + fams["channel"] + fams["parallel"]:
        if not c.get("type"):
            c.set("type", "pty")
        src = _child(c, "source")
        if src is not None and c.get("type") == "pty":
            # a pty path is runtime state
            c.remove(src)
        for a in c.findall("alias"):
            if not (a.get("name") or "").startswith("ua-"):
                c.remove(a)
        if "tty" in c.attrib:
            del c.attrib["tty"]

    def console_is_serial(c: Element) -> bool:
        t = _child(c, "target")
        return t is None or t.get("type") in (None, "serial")

    for c in consoles[1:]:
        if _child(c, "target") is not None and _child(c, "target").get("type") == "serial":  # type: ignore[union-attr]
            raise _unsupported("Only the first console can be a serial port", ErrorDomain.DOMAIN)

    if hvm and consoles and console_is_serial(consoles[0]) and not serials:
        s = copy.deepcopy(consoles[0])
        s.tag = "serial"
        for t in s.findall("target"):
            s.remove(t)
        serials.append(s)

    # serial targets
    used_ports = {
        int(p)
        for s in serials
        if _child(s, "target") is not None and (p := _child(s, "target").get("port")) is not None  # type: ignore[union-attr]
    }
    for s in serials:
        tgt = _child(s, "target")
        if tgt is None:
            tgt = _insert_ordered(s, _new("target"), _CHR_ORDER)
        if tgt.get("port") is None:
            port = 0
            while port in used_ports:
                port += 1
            used_ports.add(port)
            tgt.set("port", str(port))
        if x86:
            ttype = tgt.get("type") or "isa-serial"
            if ttype == "serial":
                ttype = "isa-serial"
            tgt.set("type", ttype)
            model = _child(tgt, "model")
            if model is None:
                _sub(tgt, "model", {"name": ttype})
        _order_attrs(tgt, ("type", "port"))
        _sort_children(s, _CHR_ORDER)

    # console compat (virDomainDefAddConsoleCompat + format-time aliasing)
    if hvm and serials:
        first_is_serial = bool(consoles) and console_is_serial(consoles[0])
        s0_isa = _child(serials[0], "target").get("type") == "isa-serial"  # type: ignore[union-attr]
        if first_is_serial or (s0_isa and x86):
            if not first_is_serial:
                consoles.insert(0, _new("console"))
    for i, c in enumerate(consoles):
        if hvm and console_is_serial(c) and i < len(serials):
            new = copy.deepcopy(serials[i])
            new.tag = "console"
            tgt = _child(new, "target")
            sport = str(tgt.get("port", "0")) if tgt is not None else "0"
            if tgt is not None:
                new.remove(tgt)
            _insert_ordered(new, _new("target", {"type": "serial", "port": sport}), _CHR_ORDER)
            consoles[i] = new
        else:
            tgt = _child(c, "target")
            if tgt is None:
                tgt = _insert_ordered(c, _new("target"), _CHR_ORDER)
            if not tgt.get("type"):
                tgt.set("type", "serial" if hvm else "virtio")
            if tgt.get("port") is None:
                tgt.set("port", str(i))
            _order_attrs(tgt, ("type", "port"))
            _sort_children(c, _CHR_ORDER)


def _fill_graphics(g: Element) -> None:
    gtype = g.get("type")
    if gtype in ("vnc", "spice"):
        port = _parse_int(g.get("port"))
        autoport = g.get("autoport")
        if gtype == "vnc":
            if port is None or port == -1:
                g.set("port", "-1")
                if autoport is None:
                    g.set("autoport", "yes")
            elif autoport is None:
                g.set("autoport", "no")
        elif autoport is None and (port is None or port == -1):
            g.set("autoport", "yes")
        listens = [ln for ln in g.findall("listen")]
        attr = g.get("listen")
        if not listens:
            ln = _new("listen", {"type": "address"})
            if attr:
                ln.set("address", attr)
            g.insert(0, ln)
        else:
            first = listens[0]
            if not first.get("type"):
                first.set("type", "address")
            if first.get("type") == "address":
                if attr and not first.get("address"):
                    first.set("address", attr)
                if first.get("address") and not attr:
                    g.set("listen", str(first.get("address")))
        _order_attrs(g, _GRAPHICS_ATTR_ORDER)


_VIDEO_DEFAULTS: dict[str, dict[str, str]] = {
    "cirrus": {"vram": "16384", "heads": "1"},
    "vga": {"vram": "16384", "heads": "1"},
    "vmvga": {"vram": "16384", "heads": "1"},
    "qxl": {"ram": "65536", "vram": "65536", "vgamem": "16384", "heads": "1"},
    "virtio": {"heads": "1"},
    "bochs": {"vram": "16384", "heads": "1"},
}


def _fill_video(v: Element, primary: bool, arch: str) -> None:
    m = _child(v, "model")
    if m is None:
        m = _new("model")
        v.insert(0, m)
    vtype = m.get("type") or ("cirrus" if arch in ("x86_64", "i686") else "virtio")
    m.set("type", vtype)
    for k, val in _VIDEO_DEFAULTS.get(vtype, {}).items():
        if not m.get(k):
            m.set(k, val)
    if primary and vtype != "none":
        m.set("primary", "yes")
    _order_attrs(m, ("type", "ram", "vram", "vram64", "vgamem", "heads", "primary"))


def _video_model(v: Element) -> str:
    m = _child(v, "model")
    return str(m.get("type", "")) if m is not None else ""


def _wants_pci(dev: Element) -> bool:
    a = _child(dev, "address")
    return a is None or (a.get("type") == "pci" and a.get("slot") is None)


def _assign_pci_i440fx(fams: dict[str, list[Element]]) -> None:
    slots = _PciSlots()
    # collect existing PCI addresses
    for fam in _DEVICE_ORDER:
        for d in fams[fam]:
            elem = _child(d, "address")
            a = _pci_from_elem(elem)
            if a is None or elem is None or elem.get("slot") is None:
                continue
            slots.reserve(a, fam)
            # a stored definition has it written so already: nothing to rewrite
            if elem is not d[-1] or elem.items() != a.attributes() or len(elem) or elem.text:
                _set_address(d, a.to_element())
    # slot 1: PIIX3 (ISA bridge 1.0, IDE 1.1, USB 1.2, ACPI/PM 1.3)
    for c in fams["controller"]:
        if (
            c.get("type") == "usb"
            and c.get("index") == "0"
            and c.get("model") == "piix3-uhci"
            and _wants_pci(c)
        ):
            a = PciAddress(0, 0, 1, 2)
            slots.reserve(a, "usb")
            _set_address(c, a.to_element())
        if c.get("type") == "ide" and c.get("index") == "0" and _wants_pci(c):
            a = PciAddress(0, 0, 1, 1)
            slots.reserve(a, "ide")
            _set_address(c, a.to_element())
    for fn in (0, 3):
        slots.used.add((0, 1, fn))
    slots.used.add((0, 0, 0))
    videos = [v for v in fams["video"] if _video_model(v) not in ("none", "ramfb")]
    if videos and _wants_pci(videos[0]):
        if not slots.slot_in_use(2):
            a = PciAddress(0, 0, 2, 0)
            slots.used.add((0, 2, 0))
            _set_address(videos[0], a.to_element())
        else:
            _set_address(videos[0], slots.next().to_element())

    def give(d: Element) -> None:
        if _wants_pci(d):
            _set_address(d, slots.next().to_element(), None)

    for c in fams["controller"]:
        if c.get("type") == "pci" and c.get("model") not in ("pci-root", "pcie-root"):
            give(c)
    for fs in fams["filesystem"]:
        give(fs)
    for n in fams["interface"]:
        if n.get("type") != "hostdev":
            give(n)
    for s in fams["sound"]:
        if s.get("model") not in ("sb16", "pcspk", "usb"):
            give(s)
    for c in fams["controller"]:
        ctype, model = c.get("type"), c.get("model")
        if ctype in ("pci", "fdc", "ccid") or (ctype == "usb" and model == "none"):
            continue
        if ctype == "ide" and c.get("index") == "0":
            continue
        give(c)
    for d in fams["disk"]:
        if _child(d, "target").get("bus") == "virtio":  # type: ignore[union-attr]
            give(d)
    for h in fams["hostdev"]:
        if h.get("mode", "subsystem") == "subsystem" and h.get("type") == "pci":
            give(h)
    for mb in fams["memballoon"]:
        if mb.get("model") != "none":
            give(mb)
    for r in fams["rng"]:
        give(r)
    for w in fams["watchdog"]:
        if w.get("model") == "i6300esb":
            give(w)
    for v in videos:
        give(v)
    for s in fams["shmem"]:
        give(s)
    for i in fams["input"]:
        if i.get("bus") == "virtio":
            give(i)
    for s in fams["serial"]:
        t = _child(s, "target")
        if t is not None and t.get("type") == "pci-serial":
            give(s)
    for v in fams["vsock"]:
        give(v)
    for c in fams["crypto"]:
        give(c)


def _assign_usb(fams: dict[str, list[Element]]) -> None:
    has_usb = any(c.get("type") == "usb" and c.get("model") != "none" for c in fams["controller"])
    if not has_usb:
        return
    used: set[str] = set()
    usb_devs: list[Element] = [i for i in fams["input"] if i.get("bus") == "usb"]
    usb_devs += [h for h in fams["hub"] if h.get("type") == "usb"]
    usb_devs += [s for s in fams["sound"] if s.get("model") == "usb"]
    for d in usb_devs:
        a = _child(d, "address")
        if a is not None and a.get("type") == "usb" and a.get("port"):
            used.add(str(a.get("port")))
    port = 1
    for d in usb_devs:
        a = _child(d, "address")
        if a is None:
            while str(port) in used:
                port += 1
            used.add(str(port))
            _set_address(d, _new("address", {"type": "usb", "bus": "0", "port": str(port)}))


# --------------------------------------------------------------------------- live format


def _alias_el(name: str) -> Element:
    return _new("alias", {"name": name})


def _add_alias(dev: Element, name: str, order: Sequence[str] | None = None) -> None:
    for a in dev.findall("alias"):
        dev.remove(a)
    al = _alias_el(name)
    addr = _child(dev, "address")
    if order is not None:
        _insert_ordered(dev, al, order)
    elif addr is not None:
        addr.addprevious(al)
    else:
        dev.append(al)


def _apply_live(root: Element, live: LiveInfo) -> None:
    attrs = list(root.attrib.items())
    root.attrib.clear()
    root.set("type", dict(attrs).get("type", "qemu"))
    root.set("id", str(live.domain_id))
    for k, v in attrs:
        if k not in ("type", "id"):
            root.set(k, v)
    machine = ""
    os_el = _child(root, "os")
    if os_el is not None and _child(os_el, "type") is not None:
        machine = str(_child(os_el, "type").get("machine", ""))  # type: ignore[union-attr]
    cpu = _child(root, "cpu")
    if cpu is not None and cpu.get("mode") == "custom":
        cpu.set("check", "full")
        model = _text(cpu, "model")
        feats = live.cpu_features
        if feats is None:
            feats = ["hypervisor", "lahf_lm"] if model == "qemu64" and root.get("type") == "qemu" else []
        have = {f.get("name") for f in cpu.findall("feature")}
        for f in feats:
            if f not in have:
                _insert_ordered(cpu, _new("feature", {"policy": "require", "name": f}), _CPU_ORDER)
    devices = _child(root, "devices")
    if devices is not None:
        _apply_live_devices(devices, live, machine)
    for sl in live.seclabels:
        e = _sub(
            root, "seclabel", {"type": sl.type, "model": sl.model, "relabel": "yes" if sl.relabel else "no"}
        )
        _sub(e, "label", text=sl.label)
        _sub(e, "imagelabel", text=sl.imagelabel or sl.label)
    _sort_children(root, _TOP_ORDER)


def _apply_live_devices(devices: Element, live: LiveInfo, machine: str) -> None:
    aliases = live.aliases
    index = 0
    for d in devices.findall("disk"):
        view = _disk_view(d)
        src = _child(d, "source")
        if src is not None and view.source:
            index += 1
            src.set("index", str(index))
            if _child(d, "backingStore") is None:
                src.addnext(_new("backingStore"))
        if aliases:
            _add_alias(d, view.alias)
    for c in devices.findall("controller"):
        if aliases:
            _add_alias(c, _controller_view(c, machine).alias)
    for i, n in enumerate(devices.findall("interface")):
        li = live.interfaces[i] if i < len(live.interfaces) else None
        if li is not None:
            src = _child(n, "source")
            if src is not None and n.get("type") == "network":
                if li.portid:
                    src.set("portid", li.portid)
                if li.bridge:
                    src.set("bridge", li.bridge)
                _order_attrs(src, ("network", "portgroup", "portid", "bridge"))
            if li.target_dev and _child(n, "target") is None and n.get("type") in _TAP_TYPES:
                _insert_ordered(n, _new("target", {"dev": li.target_dev}), _IFACE_ORDER)
        if aliases:
            _add_alias(n, _iface_view(n, i).alias, _IFACE_ORDER)
    serials = devices.findall("serial")
    for i, s in enumerate(serials):
        pty = live.serial_ptys[i] if i < len(live.serial_ptys) else None
        if pty and s.get("type") == "pty" and _child(s, "source") is None:
            _insert_ordered(s, _new("source", {"path": pty}), _CHR_ORDER)
        if aliases:
            _add_alias(s, f"serial{i}", _CHR_ORDER)
    for i, c in enumerate(devices.findall("console")):
        tgt = _child(c, "target")
        is_serial = tgt is not None and tgt.get("type") == "serial" and i < len(serials)
        if is_serial:
            pty = live.serial_ptys[i] if i < len(live.serial_ptys) else None
        else:
            pty = None
        if pty and c.get("type") == "pty":
            if _child(c, "source") is None:
                _insert_ordered(c, _new("source", {"path": pty}), _CHR_ORDER)
            c.set("tty", pty)
        if aliases:
            _add_alias(c, f"serial{i}" if is_serial else f"console{i}", _CHR_ORDER)
    for i, c in enumerate(devices.findall("channel")):
        if aliases:
            _add_alias(c, f"channel{i}", _CHR_ORDER)
    for i, inp in enumerate(devices.findall("input")):
        if aliases:
            _add_alias(inp, f"input{i}")
    for i, g in enumerate(devices.findall("graphics")):
        if g.get("autoport") == "yes" and i < len(live.graphics_ports):
            g.set("port", str(live.graphics_ports[i]))
        if g.get("type") in ("vnc", "spice") and not g.get("listen"):
            g.set("listen", live.graphics_listen)
            ln = _child(g, "listen")
            if ln is not None and ln.get("type") == "address" and not ln.get("address"):
                ln.set("address", live.graphics_listen)
        _order_attrs(g, _GRAPHICS_ATTR_ORDER)
    for i, s in enumerate(devices.findall("sound")):
        if aliases:
            _add_alias(s, f"sound{i}")
    for i, v in enumerate(devices.findall("video")):
        if aliases:
            _add_alias(v, f"video{i}")
    for i, h in enumerate(devices.findall("hostdev")):
        if aliases:
            _add_alias(h, f"hostdev{i}")
    for i, w in enumerate(devices.findall("watchdog")):
        if aliases:
            _add_alias(w, f"watchdog{i}")
    mb = _child(devices, "memballoon")
    if mb is not None and mb.get("model") != "none" and aliases:
        _add_alias(mb, "balloon0")
    for i, r in enumerate(devices.findall("rng")):
        if aliases:
            _add_alias(r, f"rng{i}")


def parse_domain_file(path: str, caps: Capabilities | None = None) -> DomainDef:
    """Read and parse a domain XML file.

    Raises:
        VirtError: as :func:`parse_domain`; SYSTEM_ERROR when unreadable.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as err:
        raise VirtError(
            ErrorNumber.SYSTEM_ERROR, ErrorDomain.DOMAIN, f"Failed to open file '{path}': {err.strerror}"
        ) from err
    return parse_domain(text, caps)


def iter_device_elements(d: DomainDef, tags: Iterable[str]) -> list[Element]:
    """The raw ``<devices>`` children with one of ``tags`` (for drivers needing more)."""
    devs = _child(d.root, "devices")
    if devs is None:
        return []
    wanted = set(tags)
    return [e for e in devs if isinstance(e.tag, str) and e.tag in wanted]


def pin_interface_aliases(d: DomainDef) -> None:
    """Write each interface's alias into the tree (``<alias name='netN'/>``).

    Aliases are by position until pinned; a running domain pins them before
    its devices change, so that removing one interface does not rename the
    others (libvirt keeps aliases for the domain's life).  Raises nothing.
    """
    devs = _child(d.root, "devices")
    if devs is None:
        return
    for i, n in enumerate(devs.findall("interface")):
        if _child(n, "alias") is None:
            _add_alias(n, _iface_view(n, i).alias, _IFACE_ORDER)
    d._scan()


def with_device(d: DomainDef, dev: Element, *, keep_aliases: bool) -> tuple[DomainDef, Element]:
    """A new definition: ``d`` plus the device ``dev``, defaults filled and an address assigned.

    The device is appended after those of its kind, as libvirt inserts
    hotplugged and attached devices; the returned element is the new device
    inside the new definition.  ``keep_aliases`` keeps ``<alias>`` elements
    (a live definition's).

    Raises:
        VirtError: as :func:`parse_domain` for an invalid device.
    """
    # A compact definition's tree is a fresh parse: no copy needed (and none kept).
    root = d._tree() if d.compacted else copy.deepcopy(d.root)
    devs = _child(root, "devices")
    if devs is None:
        devs = _insert_ordered(root, _new("devices"), _TOP_ORDER)
    new = copy.deepcopy(dev)
    new.set("pyvirt-new-device", "1")
    devs.append(new)
    out = parse_domain(format_xml(root), None, keep_aliases=keep_aliases)
    found = out.root.find("devices/*[@pyvirt-new-device]")
    assert found is not None
    del found.attrib["pyvirt-new-device"]
    return DomainDef(out.root), found
