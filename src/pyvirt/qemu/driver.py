"""The QEMU domain driver: definitions, states and lifecycle of domains.

Each domain has a lock held for the whole of a state change (libvirt's job
lock).  Persistent definitions live in ``etc/pyvirt/qemu/NAME.xml``; a running
domain's live definition and process record live in
``run/pyvirt/qemu/NAME.xml`` so that a restarted daemon reattaches to it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import enum
import functools
import logging
import os
import re
import signal
import socket
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from pyvirt.defcache import DefinitionCache
from pyvirt.errors import (
    ErrorDomain,
    ErrorNumber,
    VirtError,
    config_unsupported,
    internal_error,
    invalid_arg,
    no_domain,
    no_support,
    operation_invalid,
)
from pyvirt.jobs import job
from pyvirt.layout import Layout
from pyvirt.lazyimport import lazy_module
from pyvirt.objtable import ObjectTable, filter_pair
from pyvirt.qemu import coldload
from pyvirt.store import ObjectStore, read_text, uuid_bytes, uuid_str
from pyvirt.uuids import format_uuid

if TYPE_CHECKING:
    from lxml import etree

    from pyvirt.conf import domain as domconf
    from pyvirt.conf import xmlutil
    from pyvirt.conf.capabilities import Capabilities
    from pyvirt.conf.domain import DomainDef, InterfaceDef
    from pyvirt.network import bridge as netdev
    from pyvirt.network.driver import NetworkDriver
    from pyvirt.qemu import command, dac, process
    from pyvirt.qemu import monitor as qmp
    from pyvirt.qemu import runtime as qruntime
    from pyvirt.qemu.monitor import QemuMonitor
    from pyvirt.qemu.runtime import DomainRuntime, Port
else:
    # the XML modules, loaded with the first definition read (see pyvirt.conf.xmlutil), and the
    # QEMU user's module, loaded with its lookup after the daemon serves
    etree = lazy_module("lxml.etree", home=(globals(), "etree"))
    domconf = lazy_module("pyvirt.conf.domain", home=(globals(), "domconf"))
    xmlutil = lazy_module("pyvirt.conf.xmlutil", home=(globals(), "xmlutil"))
    dac = lazy_module("pyvirt.qemu.dac", home=(globals(), "dac"))
    # what only running guests need: imported when the first one starts or is found running
    netdev = lazy_module("pyvirt.network.bridge")
    command = lazy_module("pyvirt.qemu.command")
    process = lazy_module("pyvirt.qemu.process")
    qmp = lazy_module("pyvirt.qemu.monitor")
    qruntime = lazy_module("pyvirt.qemu.runtime")

log = logging.getLogger(__name__)


class DomainState(enum.IntEnum):
    """virDomainState."""

    NOSTATE = 0
    RUNNING = 1
    BLOCKED = 2
    PAUSED = 3
    SHUTDOWN = 4
    SHUTOFF = 5
    CRASHED = 6
    PMSUSPENDED = 7


class ShutoffReason(enum.IntEnum):
    UNKNOWN = 0
    SHUTDOWN = 1
    DESTROYED = 2
    CRASHED = 3
    MIGRATED = 4
    SAVED = 5
    FAILED = 6
    FROM_SNAPSHOT = 7
    DAEMON = 8


class RunningReason(enum.IntEnum):
    UNKNOWN = 0
    BOOTED = 1
    MIGRATED = 2
    RESTORED = 3
    FROM_SNAPSHOT = 4
    UNPAUSED = 5


class PausedReason(enum.IntEnum):
    UNKNOWN = 0
    USER = 1
    STARTING_UP = 11


class Event(enum.IntEnum):
    """virDomainEventType."""

    DEFINED = 0
    UNDEFINED = 1
    STARTED = 2
    SUSPENDED = 3
    RESUMED = 4
    STOPPED = 5
    SHUTDOWN = 6
    PMSUSPENDED = 7
    CRASHED = 8


# virConnectListAllDomainsFlags
LIST_ACTIVE = 1
LIST_INACTIVE = 2
LIST_PERSISTENT = 4
LIST_TRANSIENT = 8
LIST_RUNNING = 16
LIST_PAUSED = 32
LIST_SHUTOFF = 64
LIST_OTHER = 128
LIST_MANAGEDSAVE = 256
LIST_NO_MANAGEDSAVE = 512
LIST_AUTOSTART = 1024
LIST_NO_AUTOSTART = 2048
LIST_HAS_SNAPSHOT = 4096
LIST_NO_SNAPSHOT = 8192

XML_SECURE = 1
XML_INACTIVE = 2

# virDomainModificationImpact
AFFECT_CURRENT = 0
AFFECT_LIVE = 1
AFFECT_CONFIG = 2

START_PAUSED = 1  # VIR_DOMAIN_START_PAUSED
DESTROY_GRACEFUL = 1  # VIR_DOMAIN_DESTROY_GRACEFUL

# Event details (virDomainEvent*DetailType).
STARTED_BOOTED = 0
SUSPENDED_PAUSED = 0
RESUMED_UNPAUSED = 0
STOPPED_SHUTDOWN = 0
STOPPED_DESTROYED = 1
STOPPED_CRASHED = 2
STOPPED_FAILED = 5
SHUTDOWN_FINISHED = 0
SHUTDOWN_GUEST = 1
SHUTDOWN_HOST = 2

# virDomainInterfaceAddressesSource
IFADDR_SOURCE_LEASE = 0
IFADDR_SOURCE_AGENT = 1
IFADDR_SOURCE_ARP = 2

Emit = Callable[[dict[str, Any], int, int], None]
# (virDomainEventID, remote_nonnull_domain, extra message fields): events other than lifecycle.
EmitEvent = Callable[[int, dict[str, Any], dict[str, Any]], None]

# virDomainEventID values of the non-lifecycle events we raise.
EVENT_ID_REBOOT = 1
EVENT_ID_DEVICE_REMOVED = 15

# How long a detach waits for the guest to release the device (libvirt's qemuDomainGetUnplugTimeout).
UNPLUG_TIMEOUT = 5.0

# The account QEMU runs as unless pyvirtd is told otherwise (--qemu-user).
DEFAULT_QEMU_USER = "pyvirt-qemu"


def resolve_qemu_user(requested: str | None) -> dac.QemuUser | None:
    """The account for QEMU: ``requested`` (None: pyvirt-qemu), None meaning root.

    A missing account is not fatal: QEMU then runs as root and a warning says so.
    """
    name = requested or DEFAULT_QEMU_USER
    if name in ("root", "+0", "0"):
        log.info("QEMU runs as root (--qemu-user root)")
        return None
    user = dac.lookup_user(name)
    if user is None:
        log.warning(
            "QEMU user '%s' does not exist: running QEMU as root (create it with: "
            "useradd --system --no-create-home --shell /usr/sbin/nologin %s)",
            name,
            name,
        )
        return None
    if user.uid == 0:
        return None
    log.info("QEMU runs as %s (uid %d, gid %d)", user.name, user.uid, user.gid)
    return user


def _from_cache_state(state: dict[str, Any] | None) -> DomainDef | None:
    """The compact definition a definition-cache state describes; None for none or a bad one."""
    if state is None:
        return None
    try:
        return domconf.DomainDef.from_compact_state(state)
    except ValueError as err:
        log.debug("definition cache entry not used: %s", err)
        return None


class DomainObject:
    """One domain: persistent definition, live definition, state and lock.

    (A plain class: one is made per stored domain at every start.)
    """

    __slots__ = ("config", "id", "live", "lock", "reason", "runtime", "state")

    def __init__(self, config: DomainDef | None, live: DomainDef | None = None) -> None:
        self.config = config
        self.live = live
        self.id = -1
        self.state = DomainState.SHUTOFF
        self.reason: int = ShutoffReason.UNKNOWN
        self.lock = asyncio.Lock()
        self.runtime: DomainRuntime | None = None

    def __repr__(self) -> str:
        return f"DomainObject(name={self.name!r}, id={self.id}, state={self.state.name})"

    def cache_state(self) -> dict[str, Any] | None:
        """The persistent definition as a definition-cache state (compacted first, which changes
        nothing for its readers); None for a transient domain or one that keeps its tree."""
        if self.config is None:
            return None
        self.config.compact()
        return self.config.compact_state()

    @property
    def definition(self) -> DomainDef:
        d = self.live or self.config
        assert d is not None
        return d

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def uuid(self) -> str:
        return self.definition.uuid

    @property
    def active(self) -> bool:
        return self.id != -1

    @property
    def persistent(self) -> bool:
        return self.config is not None

    def ref(self) -> dict[str, Any]:
        """The ``remote_nonnull_domain`` for this domain."""
        return {"name": self.name, "uuid": uuid_bytes(self.uuid), "id": self.id}


class DomainDriver:
    """All domains of one pyvirtd instance."""

    def __init__(
        self,
        layout: Layout,
        networks: NetworkDriver,
        *,
        emit: Emit,
        emit_event: EmitEvent | None = None,
        qemu_user: str | None = None,
    ) -> None:
        """``qemu_user``: the account QEMU runs as (None: ``pyvirt-qemu`` when it
        exists, else root with a warning; ``root``: root)."""
        self.layout = layout
        self._qemu_user_name = qemu_user
        self._qemu_user_probe: concurrent.futures.Future[dac.QemuUser | None] | None = None
        self.store: ObjectStore = layout.domains
        self._def_cache = DefinitionCache(layout.domain_cache)
        self.networks = networks
        self._emit = emit
        self._emit_event = emit_event
        self._objs: ObjectTable[DomainObject] = ObjectTable()  # by uuid, indexed by name
        self._next_id = 1
        self._caps: Capabilities | None = None
        self._caps_probe: concurrent.futures.Future[Capabilities] | None = None
        self._define_lock = asyncio.Lock()
        # (QEMU pid, tap) pairs already reported as removed behind our back.
        self._taps_gone: set[tuple[int, str]] = set()

    @functools.cached_property
    def qemu_user(self) -> dac.QemuUser | None:
        """The account QEMU runs as (None: root); looked up once (see :func:`resolve_qemu_user`)."""
        probe, self._qemu_user_probe = self._qemu_user_probe, None
        return probe.result() if probe is not None else resolve_qemu_user(self._qemu_user_name)

    @property
    def caps(self) -> Capabilities:
        """What this host's QEMU can do, probed once.

        Raises:
            VirtError: no usable QEMU emulator was found.
        """
        if self._caps is None:
            probe, self._caps_probe = self._caps_probe, None
            self._caps = probe.result() if probe is not None else _probe_caps()
        return self._caps

    def probe_caps_in_background(self) -> None:
        """Look up the QEMU user and probe QEMU in a worker thread, so that neither delays the
        first calls (the account lookup is a few milliseconds, the probe much more)."""
        if self._caps is None and self._caps_probe is None:
            pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="caps")
            if "qemu_user" not in self.__dict__:
                self._qemu_user_probe = pool.submit(resolve_qemu_user, self._qemu_user_name)
            self._caps_probe = pool.submit(_probe_caps)
            pool.shutdown(wait=False)  # its thread ends with the probe

    async def initialize(self) -> None:
        """Load stored definitions, then reattach to QEMUs still running.

        A definition whose file is unchanged since the last run is taken from
        the definition cache instead of being parsed again (see :mod:`pyvirt.defcache`);
        the others are parsed, on two CPUs when there are many (:mod:`pyvirt.qemu.coldload`).
        """
        self.store.prepare()
        self._def_cache.load()
        stored: list[tuple[str, str, str]] = []
        for name, path in self.store.configs():
            try:
                stored.append((name, path, read_text(path)))
            except (OSError, UnicodeDecodeError) as err:
                log.error("skipping domain definition %s: %s", path, err)
        found: list[DomainDef | VirtError | None] = [
            _from_cache_state(self._def_cache.match(name, text)) for name, _path, text in stored
        ]
        misses = [i for i, domdef in enumerate(found) if domdef is None]
        parsed = coldload.parse_stored([stored[i][2] for i in misses])
        for i, result in zip(misses, parsed, strict=True):
            found[i] = result
        for (name, path, _text), domdef in zip(stored, found, strict=True):
            if isinstance(domdef, VirtError):
                log.error("skipping domain definition %s: %s", path, domdef)
                continue
            assert domdef is not None
            if domdef.name != name:
                log.error("skipping %s: it defines domain '%s'", path, domdef.name)
                continue
            domdef.compact()
            self._objs[domdef.uuid] = DomainObject(config=domdef)
        log.info(
            "%d stored domain definitions loaded: %d parsed, %d from the definition cache",
            len(self._objs),
            len(self._objs) - (len(stored) - len(misses)),
            len(stored) - len(misses),
        )
        self._def_cache.save_objects(list(self._objs.values()))
        for name, path in self.store.statuses():
            await self._reattach(name, path)

    async def _reattach(self, name: str, path: Any) -> None:
        try:
            def_xml, rt_data, attrs = self.store.load_live(path, "domain")
            live = domconf.parse_domain(def_xml, None, keep_aliases=True)
            rt = qruntime.DomainRuntime.from_dict(rt_data)
            state = DomainState(int(attrs.get("state", "1")))
            reason = int(attrs.get("reason", "0"))
        except Exception as err:
            log.error("domain %s: unreadable status file %s (%s); marking it shut off", name, path, err)
            self.store.delete_status(name)
            return
        obj = self._objs.get(live.uuid)
        if obj is None:
            obj = DomainObject(config=None)
            self._objs[live.uuid] = obj
        if not process.is_alive(rt.record):
            log.warning("domain %s exited while pyvirtd was down", name)
            obj.live, obj.runtime, obj.id = live, rt, rt.record.dom_id
            await self._release(obj, ShutoffReason.UNKNOWN, log_reason="shutdown")
            return
        obj.live, obj.runtime, obj.id = live, rt, rt.record.dom_id
        obj.state, obj.reason = state, reason
        self._next_id = max(self._next_id, obj.id + 1)
        for port in rt.ports:
            if port.network:
                self.networks.reclaim_port(port.network)
        try:
            monitor = qmp.QemuMonitor(
                str(rt.record.monitor_path),
                name=name,
                on_event=self._event_handler(obj, rt),
                on_eof=lambda: None,
            )
            await monitor.connect(timeout=10, alive=lambda: process.is_alive(rt.record))
            rt.monitor = monitor
            status, running = await monitor.query_status()
            if running:
                obj.state = DomainState.RUNNING
            elif status == "paused" and obj.state == DomainState.RUNNING:
                obj.state, obj.reason = DomainState.PAUSED, PausedReason.UNKNOWN
        except VirtError as err:
            log.error("domain %s: cannot reconnect to its monitor: %s", name, err.message)
        rt.watcher = process.watch_exit(rt.record, self._exit_handler(obj, rt))
        log.info("domain %s is running (reattached to pid %d)", name, rt.pid)

    async def autostart_all(self) -> None:
        """Start domains marked autostart, once per host boot."""
        marker = self.store.state_dir / "autostarted"
        if marker.exists():
            return
        for obj in list(self._objs.values()):
            if obj.persistent and not obj.active and self.store.autostart(obj.name):
                try:
                    await self.create(obj.ref())
                except VirtError as err:
                    log.error("autostart of domain %s failed: %s", obj.name, err.message)
        marker.touch()

    async def close(self) -> None:
        """Leave running domains running (they outlive the daemon); drop monitors; keep the
        definitions for the next start (see :mod:`pyvirt.defcache`)."""
        self._def_cache.save_objects(list(self._objs.values()))
        for obj in self._objs.values():
            rt = obj.runtime
            if rt is None:
                continue
            if rt.watcher is not None:
                rt.watcher.cancel()
            if rt.monitor is not None:
                try:
                    await rt.monitor.close()
                except Exception:
                    log.debug("closing monitor of %s failed", obj.name, exc_info=True)

    # ----- lookups ---------------------------------------------------------

    def _find_name(self, name: str) -> DomainObject | None:
        return self._objs.find_name(name)

    def lookup_by_name(self, name: str) -> DomainObject:
        obj = self._find_name(name)
        if obj is None:
            raise no_domain(f"no domain with matching name '{name}'")
        return obj

    def lookup_by_uuid(self, raw: bytes) -> DomainObject:
        key = uuid_str(bytes(raw))
        obj = self._objs.get(key)
        if obj is None:
            raise no_domain(f"no domain with matching uuid '{key}'")
        return obj

    def lookup_by_id(self, dom_id: int) -> DomainObject:
        for obj in self._objs.values():
            if obj.id == dom_id and obj.active:
                return obj
        raise no_domain(f"no domain with matching id {dom_id}")

    def get(self, ref: dict[str, Any]) -> DomainObject:
        """Find the domain a client's ``remote_nonnull_domain`` names."""
        key = uuid_str(bytes(ref["uuid"]))
        obj = self._objs.get(key)
        if obj is None:
            raise no_domain(f"no domain with matching uuid '{key}' ({ref['name']})")
        return obj

    def _job(self, obj: DomainObject, ref: dict[str, Any] | None = None) -> AbstractAsyncContextManager[None]:
        """The job (state change lock, libvirt's timeout) on ``obj``.

        With ``ref``, once the lock is held the domain must still be the one
        ``ref`` names: one undefined while the job waited gives NO_DOMAIN.
        """

        def still_current() -> None:
            if ref is not None and self.get(ref) is not obj:
                key = format_uuid(bytes(ref["uuid"]))
                raise no_domain(f"no domain with matching uuid '{key}' ({ref['name']})")

        what = f"domain '{obj.name}'"
        return job(obj.lock, what=what, domain=ErrorDomain.QEMU, check=still_current)

    def list_all(self, flags: int) -> list[DomainObject]:
        """The domains matching libvirt's virConnectListAllDomains ``flags``."""
        objs = list(self._objs.values())
        objs = filter_pair(objs, flags, LIST_ACTIVE, LIST_INACTIVE, lambda o: o.active)
        objs = filter_pair(objs, flags, LIST_PERSISTENT, LIST_TRANSIENT, lambda o: o.persistent)
        objs = filter_pair(objs, flags, LIST_AUTOSTART, LIST_NO_AUTOSTART, self.autostart)
        # No managed save images or snapshots exist in pyvirt.
        objs = filter_pair(objs, flags, LIST_MANAGEDSAVE, LIST_NO_MANAGEDSAVE, lambda o: False)
        objs = filter_pair(objs, flags, LIST_HAS_SNAPSHOT, LIST_NO_SNAPSHOT, lambda o: False)
        state_flags = flags & (LIST_RUNNING | LIST_PAUSED | LIST_SHUTOFF | LIST_OTHER)
        if state_flags:
            by_state = {DomainState.RUNNING: LIST_RUNNING, DomainState.PAUSED: LIST_PAUSED}
            by_state[DomainState.SHUTOFF] = LIST_SHUTOFF
            objs = [o for o in objs if state_flags & by_state.get(o.state, LIST_OTHER)]
        return objs

    # ----- definitions -----------------------------------------------------

    def _check_duplicate(self, domdef: DomainDef) -> DomainObject | None:
        obj = self._objs.get(domdef.uuid)
        if obj is not None:
            if obj.name != domdef.name:
                raise VirtError(
                    ErrorNumber.OPERATION_FAILED,
                    ErrorDomain.DOMAIN,
                    f"domain '{obj.name}' is already defined with uuid {obj.uuid}",
                )
            return obj
        other = self._find_name(domdef.name)
        if other is not None:
            raise VirtError(
                ErrorNumber.OPERATION_FAILED,
                ErrorDomain.DOMAIN,
                f"domain '{other.name}' already exists with uuid {other.uuid}",
            )
        return None

    async def define_xml(self, xml: str, flags: int = 0) -> DomainObject:
        """Define or redefine a persistent domain.

        Raises:
            VirtError: malformed/invalid XML, unsupported by this host, duplicates.
        """
        domdef = domconf.parse_domain(xml, self.caps)
        async with self._define_lock:
            existing = self._check_duplicate(domdef)
            self.store.save_config(domdef.name, domdef.format(inactive=True))
            # A persistent definition is kept as its text (the tree is parsed
            # back when something needs it, e.g. a start): see DomainDef.compact.
            domdef.compact()
            if existing is None:
                obj = DomainObject(config=domdef)
                self._objs[domdef.uuid] = obj
                detail = 0  # VIR_DOMAIN_EVENT_DEFINED_ADDED
            else:
                obj = existing
                obj.config = domdef
                detail = 1  # VIR_DOMAIN_EVENT_DEFINED_UPDATED
        log.debug("domain %s defined", domdef.name)  # per call: DEBUG, as libvirt logs none
        self._emit(obj.ref(), Event.DEFINED, detail)
        return obj

    async def undefine(self, ref: dict[str, Any], flags: int = 0) -> None:
        """Remove the persistent definition; a running domain becomes transient.

        Raises:
            VirtError: unknown domain, or a transient one.
        """
        obj = self.get(ref)
        async with self._job(obj, ref):
            if not obj.persistent:
                raise operation_invalid("cannot undefine transient domain", ErrorDomain.QEMU)
            name, ref_out = obj.name, obj.ref()
            self.store.delete_config(name)
            obj.config = None
            if not obj.active:
                del self._objs[_ref_uuid(ref_out)]
        log.debug("domain %s undefined", name)
        self._emit(ref_out, Event.UNDEFINED, 0)

    def autostart(self, obj: DomainObject) -> bool:
        return obj.persistent and self.store.autostart(obj.name)

    async def set_autostart(self, ref: dict[str, Any], enabled: bool) -> None:
        obj = self.get(ref)
        async with self._job(obj, ref):
            if not obj.persistent:
                raise operation_invalid("cannot set autostart for transient domain", ErrorDomain.QEMU)
            self.store.set_autostart(obj.name, enabled, ErrorDomain.QEMU)

    def xml_desc(self, ref: dict[str, Any], flags: int) -> str:
        obj = self.get(ref)
        if flags & XML_INACTIVE and obj.config is not None:
            return obj.config.format(inactive=True)
        if obj.live is not None and obj.runtime is not None:
            return obj.live.format(inactive=False, live=obj.runtime.live_info(obj.live))
        return obj.definition.format(inactive=True)

    def info(self, ref: dict[str, Any]) -> dict[str, Any]:
        """``remote_domain_get_info_ret`` for the domain."""
        obj = self.get(ref)
        d = obj.definition
        cpu_time = obj.runtime.cpu_time_ns() if obj.runtime is not None and obj.active else 0
        return {
            "state": int(obj.state),
            "maxMem": d.memory_kib,
            "memory": d.current_memory_kib,
            "nrVirtCpu": d.vcpus,
            "cpuTime": cpu_time,
        }

    def state(self, ref: dict[str, Any]) -> tuple[int, int]:
        obj = self.get(ref)
        return int(obj.state), int(obj.reason)

    # ----- lifecycle -------------------------------------------------------

    def _save_status(self, obj: DomainObject) -> None:
        assert obj.live is not None and obj.runtime is not None
        self.store.save_live(
            obj.name,
            "domstatus",
            obj.live.format(inactive=False, live=obj.runtime.live_info(obj.live)),
            obj.runtime.to_dict(),
            state=str(int(obj.state)),
            reason=str(int(obj.reason)),
            id=str(obj.id),
        )

    def _save_status_quiet(self, obj: DomainObject) -> None:
        try:
            self._save_status(obj)
        except OSError as err:
            log.error("domain %s: cannot write status file: %s", obj.name, err)

    async def create(self, ref: dict[str, Any], flags: int = 0) -> DomainObject:
        """Start a defined domain (``start``).

        Raises:
            VirtError: already running, a network not active, QEMU failing.
        """
        obj = self.get(ref)
        async with self._job(obj, ref):
            if obj.active:
                raise operation_invalid("domain is already running", ErrorDomain.QEMU)
            assert obj.config is not None
            await self._start_locked(obj, obj.config.clone(), flags)
        return obj

    async def create_xml(self, xml: str, flags: int = 0) -> DomainObject:
        """Create and start a transient domain (``create``).

        Raises:
            VirtError: invalid XML, duplicates, or start failure.
        """
        domdef = domconf.parse_domain(xml, self.caps)
        async with self._define_lock:
            existing = self._check_duplicate(domdef)
            if existing is not None:
                if existing.active:
                    raise operation_invalid(f"domain '{existing.name}' is already active", ErrorDomain.DOMAIN)
                obj = existing
            else:
                obj = DomainObject(config=None, live=domdef)
                self._objs[domdef.uuid] = obj
        try:
            async with self._job(obj):
                await self._start_locked(obj, domdef, flags)
        except BaseException:
            if not obj.persistent and not obj.active:
                self._objs.pop(domdef.uuid, None)
            raise
        return obj

    async def _plug_ports(self, interfaces: Sequence[InterfaceDef]) -> tuple[list[Port], dict[str, int]]:
        """A port and a tap (fd by alias) for each interface on a network or bridge.

        Raises:
            VirtError: a network not active, a missing bridge, a tap that cannot be made
                (nothing is left plugged then).
        """
        ports: list[Port] = []
        fds: dict[str, int] = {}
        try:
            for iface in interfaces:
                if iface.type == "network":
                    assert iface.source_network is not None
                    _net, bridge = self.networks.attach_port(iface.source_network)
                    port = qruntime.Port(
                        alias=iface.alias, mac=iface.mac, network=iface.source_network, bridge=bridge
                    )
                    ports.append(port)
                elif iface.type == "bridge":
                    if not iface.source_bridge or not await netdev.link_exists(iface.source_bridge):
                        raise VirtError(
                            ErrorNumber.SYSTEM_ERROR,
                            ErrorDomain.QEMU,
                            f"Unable to get index for interface {iface.source_bridge}: No such device",
                        )
                    port = qruntime.Port(alias=iface.alias, mac=iface.mac, bridge=iface.source_bridge)
                    ports.append(port)
                else:
                    continue
                port.tap, fds[iface.alias] = await netdev.create_tap(qruntime.tap_mac(iface.mac), port.bridge)
                await _set_noqueue(port.tap)
        except BaseException:
            await self._unplug_ports(ports, fds)
            raise
        return ports, fds

    async def _unplug_ports(self, ports: list[Port], fds: dict[str, int] | None = None) -> None:
        for port in ports:
            if port.tap:
                try:
                    await netdev.delete_tap(port.tap, (fds or {}).get(port.alias))
                except VirtError as err:
                    log.warning("cannot remove tap %s: %s", port.tap, err.message)
            if port.network:
                self.networks.detach_port(port.network)

    async def _start_locked(self, obj: DomainObject, live: DomainDef, flags: int) -> None:
        """Start ``obj`` with definition ``live`` (the caller holds the domain's job).

        As libvirt's qemuProcessStart, the domain id is taken first (a failed
        start uses one up) and a failure leaves the domain "shut off (failed)".

        Raises:
            VirtError: a network is not active, a tap cannot be made, QEMU fails.
        """
        dom_id = self._next_id
        self._next_id += 1
        try:
            await self._launch(obj, live, flags, dom_id)
        except BaseException:
            if not obj.active:
                obj.state, obj.reason = DomainState.SHUTOFF, ShutoffReason.FAILED
            raise

    async def _launch(self, obj: DomainObject, live: DomainDef, flags: int, dom_id: int) -> None:
        ports, fds = await self._plug_ports(live.interfaces)
        user = self.qemu_user
        labels: list[dac.Label] = []
        try:
            if user is not None:
                labels = await asyncio.to_thread(dac.set_labels, dac.domain_files(live), user)
            rt_holder: list[DomainRuntime] = []

            def on_event(name: str, data: dict[str, Any], ts: Any) -> None:
                if rt_holder:
                    self._event_handler(obj, rt_holder[0])(name, data, ts)

            record, monitor = await process.start_qemu(
                live,
                root=self.layout.root,
                dom_id=dom_id,
                tap_fds=fds,
                user=user.name if user is not None else None,
                on_event=on_event,
            )
        except BaseException:
            await self._unplug_ports(ports, fds)
            await self._restore_labels(obj, labels)
            raise
        finally:
            # QEMU has its own copies; the taps vanish when QEMU exits.
            for fd in fds.values():
                try:
                    os.close(fd)
                except OSError:
                    pass
        rt = qruntime.DomainRuntime(record=record, ports=ports, monitor=monitor, labels=labels)
        # Block node names as command.py gives them: the first disk gets the highest number.
        sourced = [d for d in live.disks if d.source]
        for n, disk in zip(range(len(sourced), 0, -1), sourced, strict=True):
            rt.nodes[disk.alias] = [f"libvirt-{n}-format", f"libvirt-{n}-storage"]
        rt.node_index = len(sourced)
        if user is not None:
            rt.user, rt.uid, rt.gid = user.name, user.uid, user.gid
        rt_holder.append(rt)
        obj.live, obj.runtime, obj.id = live, rt, dom_id
        try:
            if live.on_reboot == "destroy":
                # libvirt's qemuProcessSetupLifecycleActions: a guest reboot becomes a shutdown.
                await monitor.execute("set-action", {"reboot": "shutdown"})
            for iface in live.interfaces:  # qemuProcessSetLinkStates
                if _link_state(live, iface.mac) == "down":
                    await monitor.execute("set_link", {"name": iface.alias, "up": False})
            if flags & START_PAUSED:
                obj.state, obj.reason = DomainState.PAUSED, PausedReason.USER
            else:
                await monitor.cont()
                obj.state, obj.reason = DomainState.RUNNING, RunningReason.BOOTED
            self._save_status(obj)
        except (VirtError, OSError) as err:
            log.error("domain %s: start failed after launch: %s", obj.name, err)
            rt.stopping = True
            await process.stop_qemu(record)
            await self._release(obj, ShutoffReason.FAILED, log_reason="failed")
            if isinstance(err, VirtError):
                raise
            raise VirtError(
                ErrorNumber.SYSTEM_ERROR, ErrorDomain.QEMU, f"cannot write status: {err}"
            ) from err
        rt.watcher = process.watch_exit(record, self._exit_handler(obj, rt))
        log.info("domain %s started (id %d, pid %d)", obj.name, dom_id, record.pid)
        self._emit(obj.ref(), Event.STARTED, STARTED_BOOTED)
        if flags & START_PAUSED:
            self._emit(obj.ref(), Event.SUSPENDED, SUSPENDED_PAUSED)

    async def _release(self, obj: DomainObject, reason: int, *, log_reason: str) -> None:
        """Free what a stopped domain held and mark it shut off."""
        rt = obj.runtime
        if rt is not None:
            if rt.watcher is not None:
                rt.watcher.cancel()
            if rt.monitor is not None:
                try:
                    await rt.monitor.close()
                except Exception:
                    log.debug("closing monitor of %s failed", obj.name, exc_info=True)
            await self._unplug_ports(rt.ports)
            self._taps_gone = {k for k in self._taps_gone if k[0] != rt.pid}
            await self._restore_labels(obj, rt.labels)
            process.log_shutdown(rt.record.log_path, log_reason)
            process.cleanup_files(rt.record)
        name, uuid = obj.name, obj.uuid
        self.store.delete_status(name)
        obj.runtime = None
        obj.id = -1
        obj.state, obj.reason = DomainState.SHUTOFF, reason
        if obj.persistent:
            obj.live = None
        else:
            # A transient domain disappears; keep its last definition for stale references.
            self._objs.pop(uuid, None)

    async def _restore_labels(self, obj: DomainObject, labels: list[dac.Label]) -> None:
        """Give ``labels``' files back to their owners, except those other running domains hold."""
        if not labels:
            return
        in_use = {
            lb.path
            for other in self._objs.values()
            if other is not obj and other.runtime is not None
            for lb in other.runtime.labels
        }
        await asyncio.to_thread(dac.restore_labels, labels, in_use)

    def _exit_handler(self, obj: DomainObject, rt: DomainRuntime) -> Any:
        def exited(status: int | None) -> None:
            asyncio.get_running_loop().create_task(self._on_exit(obj, rt))

        return exited

    async def _on_exit(self, obj: DomainObject, rt: DomainRuntime) -> None:
        async with obj.lock:
            if obj.runtime is not rt or rt.stopping:
                return
            if rt.shutdown_seen:
                reason, detail, text = ShutoffReason.SHUTDOWN, STOPPED_SHUTDOWN, "shutdown"
            else:
                # libvirt (processMonitorEOFEvent): state crashed, event detail "failed".
                reason, detail, text = ShutoffReason.CRASHED, STOPPED_FAILED, "crashed"
            log.info("domain %s: QEMU exited (%s)", obj.name, text)
            ref = obj.ref()
            await self._release(obj, reason, log_reason=text)
        self._emit(ref, Event.STOPPED, detail)

    def _event_handler(self, obj: DomainObject, rt: DomainRuntime) -> Any:
        def on_event(name: str, data: dict[str, Any], ts: Any) -> None:
            if name == "SHUTDOWN":
                asyncio.get_running_loop().create_task(self._on_guest_shutdown(obj, rt, data or {}))
            elif name == "DEVICE_DELETED" and obj.runtime is rt:
                alias = str((data or {}).get("device") or "")
                waiter = rt.unplugging.get(alias)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                elif alias in rt.unplugging:
                    # the unplug outlived its request (libvirt's late DEVICE_DELETED): finish it now
                    asyncio.get_running_loop().create_task(self._late_unplug(obj, rt, alias))
            elif name == "RESET" and obj.runtime is rt and self._emit_event is not None:
                # SeaBIOS resets once more after a host reset: libvirt reports each RESET too.
                log.debug("domain %s: RESET %s", obj.name, data)
                self._emit_event(EVENT_ID_REBOOT, obj.ref(), {})

        return on_event

    async def _on_guest_shutdown(self, obj: DomainObject, rt: DomainRuntime, data: dict[str, Any]) -> None:
        """QMP SHUTDOWN, as libvirt's qemuProcessHandleShutdown + qemuProcessShutdownOrReboot.

        A fake reboot (``virsh reboot`` through ACPI) or ``on_poweroff`` restart
        resets and resumes the guest without a state change or event; otherwise
        the domain goes to "in shutdown", the SHUTDOWN event is raised and QEMU
        (kept alive by ``-no-shutdown``) is terminated; its exit finishes the stop.
        """
        if obj.runtime is not rt or rt.stopping or obj.state == DomainState.SHUTDOWN:
            return
        action = obj.definition.on_poweroff
        if rt.fake_reboot or action in ("restart", "restart-and-rename"):
            rt.fake_reboot = False
            try:
                assert rt.monitor is not None
                await rt.monitor.system_reset()
                await rt.monitor.cont()
            except VirtError as err:
                log.error("domain %s: reboot failed: %s; killing it", obj.name, err.message)
                process.kill_nowait(rt.record, signal.SIGKILL)
            return
        guest = data.get("guest")
        detail = SHUTDOWN_FINISHED if guest is None else SHUTDOWN_GUEST if guest else SHUTDOWN_HOST
        rt.shutdown_seen = True
        obj.state, obj.reason = DomainState.SHUTDOWN, 0  # VIR_DOMAIN_SHUTDOWN_UNKNOWN
        self._save_status_quiet(obj)
        self._emit(obj.ref(), Event.SHUTDOWN, detail)
        if action != "preserve":
            process.kill_nowait(rt.record)

    def _running(self, ref: dict[str, Any]) -> DomainObject:
        obj = self.get(ref)
        if not obj.active:
            raise operation_invalid("domain is not running", ErrorDomain.QEMU)
        return obj

    async def destroy(self, ref: dict[str, Any], flags: int = 0) -> None:
        """Stop a domain at once (``destroy``); a transient one disappears.

        Raises:
            VirtError: not running; with GRACEFUL, QEMU did not stop on SIGTERM.
        """
        obj = self._running(ref)
        async with self._job(obj, ref):
            if not obj.active or obj.runtime is None:
                raise operation_invalid("domain is not running", ErrorDomain.QEMU)
            rt = obj.runtime
            self._check_taps(obj, rt)
            rt.stopping = True
            if rt.watcher is not None:
                rt.watcher.cancel()
            stopped = await process.stop_qemu(rt.record, graceful=bool(flags & DESTROY_GRACEFUL))
            if not stopped:
                rt.stopping = False
                rt.watcher = process.watch_exit(rt.record, self._exit_handler(obj, rt))
                raise VirtError(
                    ErrorNumber.OPERATION_FAILED,
                    ErrorDomain.QEMU,
                    f"failed to terminate process {rt.pid} with SIGTERM: Device or resource busy",
                )
            ref_out = obj.ref()
            await self._release(obj, ShutoffReason.DESTROYED, log_reason="destroyed")
        log.info("domain %s destroyed", ref_out["name"])
        self._emit(ref_out, Event.STOPPED, STOPPED_DESTROYED)

    async def _with_monitor(
        self,
        ref: dict[str, Any],
        action: Callable[[DomainObject, DomainRuntime, QemuMonitor], Awaitable[None]],
    ) -> None:
        """Run ``action`` on a running domain's monitor under the domain's job lock.

        Raises:
            VirtError: not running, or the monitor command failed.
        """
        obj = self._running(ref)
        async with self._job(obj, ref):
            rt = obj.runtime
            if rt is None or rt.monitor is None:
                raise operation_invalid("domain is not running", ErrorDomain.QEMU)
            await action(obj, rt, rt.monitor)

    async def shutdown(self, ref: dict[str, Any], flags: int = 0) -> None:
        """Ask the guest to power off (ACPI power button).

        Raises:
            VirtError: not running.
        """

        async def act(obj: DomainObject, rt: DomainRuntime, mon: QemuMonitor) -> None:
            await mon.system_powerdown()

        await self._with_monitor(ref, act)

    async def reboot(self, ref: dict[str, Any], flags: int = 0) -> None:
        """Reboot through the ACPI power button, resetting instead of stopping."""

        async def act(obj: DomainObject, rt: DomainRuntime, mon: QemuMonitor) -> None:
            # on_reboot destroy/preserve: libvirt turns the reboot into a shutdown.
            rt.fake_reboot = obj.definition.on_reboot not in ("destroy", "preserve")
            await mon.system_powerdown()

        await self._with_monitor(ref, act)

    async def reset(self, ref: dict[str, Any], flags: int = 0) -> None:
        async def act(obj: DomainObject, rt: DomainRuntime, mon: QemuMonitor) -> None:
            await mon.system_reset()

        await self._with_monitor(ref, act)

    async def suspend(self, ref: dict[str, Any]) -> None:
        async def act(obj: DomainObject, rt: DomainRuntime, mon: QemuMonitor) -> None:
            if obj.state == DomainState.PAUSED:
                return
            await mon.stop()
            obj.state, obj.reason = DomainState.PAUSED, PausedReason.USER
            self._save_status_quiet(obj)
            self._emit(obj.ref(), Event.SUSPENDED, SUSPENDED_PAUSED)

        await self._with_monitor(ref, act)

    async def resume(self, ref: dict[str, Any]) -> None:
        async def act(obj: DomainObject, rt: DomainRuntime, mon: QemuMonitor) -> None:
            if obj.state != DomainState.PAUSED:
                raise operation_invalid("domain is not paused", ErrorDomain.QEMU)
            await mon.cont()
            obj.state, obj.reason = DomainState.RUNNING, RunningReason.UNPAUSED
            self._save_status_quiet(obj)
            self._emit(obj.ref(), Event.RESUMED, RESUMED_UNPAUSED)

        await self._with_monitor(ref, act)

    def console_path(self, ref: dict[str, Any], dev_name: str | None) -> str:
        """The host pty of the domain's console (or of the serial ``dev_name``).

        Raises:
            VirtError: not running, no such device, or the device is not a pty.
        """
        obj = self._running(ref)
        assert obj.live is not None and obj.runtime is not None
        serials = obj.live.serials
        ptys = obj.runtime.record.pty_paths or {}
        if dev_name is None:
            chosen = serials[0] if serials else None
        else:
            aliases = {s.alias: s for s in serials}
            aliases.update({f"console{i}": s for i, s in enumerate(serials)})
            chosen = aliases.get(dev_name)
        if chosen is None:
            raise internal_error(f"cannot find character device {dev_name or '<null>'}", ErrorDomain.QEMU)
        path = ptys.get(chosen.alias)
        if not path:
            raise VirtError(
                ErrorNumber.OPERATION_FAILED,
                ErrorDomain.QEMU,
                f"character device {chosen.alias} is not using a PTY",
            )
        return path

    async def update_device(self, ref: dict[str, Any], xml: str, flags: int) -> None:
        """``virDomainUpdateDeviceFlags`` for an interface's link state (``domif-setlink``).

        The interface is matched by MAC address; only ``<link state='up|down'/>``
        may change (QMP ``set_link`` on the running guest).

        Raises:
            VirtError: malformed XML, a device or change that is not supported,
                no such interface, or live changes to a domain that is not running.
        """
        dev = xmlutil.parse_xml(xml, what="device_definition", domain=ErrorDomain.DOMAIN)
        if dev.tag != "interface":
            raise no_support(f"live update of device '{dev.tag}' is not supported", ErrorDomain.QEMU)
        mac_el = dev.find("mac")
        mac = (mac_el.get("address") or "").lower() if mac_el is not None else ""
        link_el = dev.find("link")
        state = (link_el.get("state") if link_el is not None else None) or "up"
        if state not in ("up", "down"):
            raise invalid_arg(f"unknown interface link state '{state}'", ErrorDomain.DOMAIN)
        obj = self.get(ref)
        async with self._job(obj, ref):
            if flags & (AFFECT_LIVE | AFFECT_CONFIG) == AFFECT_CURRENT:
                flags |= AFFECT_LIVE if obj.active else AFFECT_CONFIG
            if flags & AFFECT_LIVE and not obj.active:
                raise operation_invalid("domain is not running", ErrorDomain.QEMU)
            if flags & AFFECT_CONFIG and obj.config is None:
                raise operation_invalid("cannot modify device on transient domain", ErrorDomain.QEMU)
            targets = []
            if flags & AFFECT_CONFIG:
                assert obj.config is not None
                targets.append(("config", obj.config))
            if flags & AFFECT_LIVE:
                assert obj.live is not None
                targets.append(("live", obj.live))
            for _kind, domdef in targets:
                if not any(i.mac.lower() == mac for i in domdef.interfaces):
                    raise VirtError(
                        ErrorNumber.OPERATION_FAILED,
                        ErrorDomain.DOMAIN,
                        f"no interface with MAC address '{mac}'",
                    )
            for kind, domdef in targets:
                iface = next(i for i in domdef.interfaces if i.mac.lower() == mac)
                new = _with_link_state(domdef, mac, state)
                if kind == "live":
                    rt = obj.runtime
                    if rt is None or rt.monitor is None:
                        raise operation_invalid("domain is not running", ErrorDomain.QEMU)
                    await rt.monitor.execute("set_link", {"name": iface.alias, "up": state == "up"})
                    obj.live = new
                    self._save_status_quiet(obj)
                else:
                    self.store.save_config(new.name, new.format(inactive=True))
                    new.compact()
                    obj.config = new
        log.info("domain %s: link of %s set %s", obj.name, mac, state)

    # ----- device hotplug (virDomainAttachDeviceFlags / virDomainDetachDeviceFlags) ----------

    def _impact(self, obj: DomainObject, flags: int) -> int:
        """libvirt's virDomainObjUpdateModificationImpact: CURRENT -> LIVE or CONFIG, checked.

        Raises:
            VirtError: LIVE on a domain that is not running, CONFIG on a transient one.
        """
        if flags & (AFFECT_LIVE | AFFECT_CONFIG) == AFFECT_CURRENT:
            flags |= AFFECT_LIVE if obj.active else AFFECT_CONFIG
        if flags & AFFECT_LIVE and not obj.active:
            raise operation_invalid("domain is not running", ErrorDomain.DOMAIN)
        if flags & AFFECT_CONFIG and obj.config is None:
            raise operation_invalid("transient domains do not have any persistent config", ErrorDomain.DOMAIN)
        return flags

    async def attach_device(self, ref: dict[str, Any], xml: str, flags: int) -> None:
        """Add an ``<interface>`` or ``<disk>`` to the running guest and/or the persistent config.

        Live: a NIC gets a port on its network and a tap passed to QEMU
        (``getfd``, ``netdev_add``, ``device_add``); a disk is handed to the
        QEMU user and added with ``blockdev-add`` + ``device_add``.

        Raises:
            VirtError: malformed XML, unsupported device, flags not
                applicable (not running / transient), duplicate target, a
                network not active, or QEMU refusing the device.
        """
        dev = _device_element(xml)
        obj = self.get(ref)
        async with self._job(obj, ref):
            flags = self._impact(obj, flags)
            what = "live" if flags & AFFECT_LIVE else "persistent"
            if dev.tag not in ("interface", "disk"):
                raise VirtError(
                    ErrorNumber.OPERATION_UNSUPPORTED,
                    ErrorDomain.QEMU,
                    f"{what} attach of device '{dev.tag}' is not supported",
                )
            if dev.tag == "interface":
                mac = dev.find("mac")
                if mac is None or not mac.get("address"):
                    # one MAC for the live and the persistent copy, as libvirt parses the device once
                    if mac is None:
                        mac = etree.SubElement(dev, "mac")
                    mac.set("address", xmlutil.generate_mac())
            new_config: DomainDef | None = None
            if flags & AFFECT_CONFIG:
                assert obj.config is not None
                target = _disk_target(dev)
                if target is not None and any(d.target == target for d in obj.config.disks):
                    raise operation_invalid(f"target {target} already exists", ErrorDomain.QEMU)
                new_config, _elem = domconf.with_device(obj.config, dev, keep_aliases=False)
            if flags & AFFECT_LIVE:
                if dev.tag == "interface":
                    await self._attach_nic(obj, dev)
                else:
                    await self._attach_disk(obj, dev)
            if new_config is not None:
                self.store.save_config(new_config.name, new_config.format(inactive=True))
                new_config.compact()
                obj.config = new_config
        where = "live" if flags & AFFECT_LIVE else "config"
        log.info("domain %s: %s attached (%s)", obj.name, dev.tag, where)

    def _live_parts(self, obj: DomainObject) -> tuple[DomainDef, DomainRuntime, QemuMonitor]:
        if obj.live is None or obj.runtime is None or obj.runtime.monitor is None:
            raise operation_invalid("domain is not running", ErrorDomain.QEMU)
        return obj.live, obj.runtime, obj.runtime.monitor

    async def _attach_nic(self, obj: DomainObject, dev: Any) -> None:
        live, rt, monitor = self._live_parts(obj)
        domconf.pin_interface_aliases(live)
        dev = _strip_aliases(dev)
        alias_el = dev.find("alias")
        if alias_el is None:
            # libvirt's qemuAssignDeviceNetAlias: one more than the highest netN in use
            used = [int(i.alias[3:]) for i in live.interfaces if re.fullmatch(r"net\d+", i.alias)]
            alias_el = etree.SubElement(dev, "alias", name=f"net{max(used, default=-1) + 1}")
        alias = str(alias_el.get("name"))
        new_live, _elem = domconf.with_device(live, dev, keep_aliases=True)
        iface = next(i for i in new_live.interfaces if i.alias == alias)
        if iface.type not in ("network", "bridge"):
            raise VirtError(
                ErrorNumber.OPERATION_UNSUPPORTED,
                ErrorDomain.QEMU,
                f"live attach of interface type '{iface.type}' is not supported",
            )
        driver = command.nic_driver(iface.model)
        if iface.address is None:
            raise internal_error("No more available PCI slots", ErrorDomain.QEMU)
        ports, fds = await self._plug_ports([iface])
        port = ports[0]
        fd = fds[iface.alias]
        fdname = f"hostfd-{iface.alias}"
        netdev_id = f"host{iface.alias}"
        step = ""
        try:
            step = "getfd"
            await monitor.getfd(fd, fdname)
            step = "netdev_add"
            await monitor.netdev_add({"type": "tap", "fd": fdname, "id": netdev_id})
            step = "device_add"
            await monitor.device_add(
                {
                    "driver": driver,
                    "netdev": netdev_id,
                    "id": iface.alias,
                    "mac": iface.mac,
                    "bus": "pci.0" if iface.address.bus == 0 else f"pci.{iface.address.bus}",
                    "addr": iface.address.qemu_addr(),
                }
            )
            step = "done"
            if _link_state(new_live, iface.mac) == "down":
                await monitor.execute("set_link", {"name": iface.alias, "up": False})
        except BaseException:
            if step in ("device_add", "done"):
                with contextlib.suppress(VirtError):
                    await monitor.netdev_del(netdev_id)
            if step == "netdev_add":
                with contextlib.suppress(VirtError):
                    await monitor.closefd(fdname)
            await self._unplug_ports(ports, fds)
            raise
        with contextlib.suppress(OSError):
            os.close(fd)  # QEMU has its copy: the tap lives as long as the netdev
        rt.ports.append(port)
        obj.live = new_live
        self._save_status_quiet(obj)

    async def _attach_disk(self, obj: DomainObject, dev: Any) -> None:
        live, rt, monitor = self._live_parts(obj)
        domconf.pin_interface_aliases(live)
        target = _disk_target(dev)
        if target is not None and any(d.target == target for d in live.disks):
            raise VirtError(ErrorNumber.OPERATION_FAILED, ErrorDomain.QEMU, f"target {target} already exists")
        new_live, _elem = domconf.with_device(live, _strip_aliases(dev), keep_aliases=True)
        disk = next(d for d in new_live.disks if d.target == target)
        if disk.bus != "virtio" or disk.device != "disk":
            raise VirtError(
                ErrorNumber.OPERATION_UNSUPPORTED,
                ErrorDomain.QEMU,
                f"disk bus '{disk.bus}' cannot be hotplugged.",
            )
        if not disk.source or disk.type not in ("file", "block"):
            raise VirtError(
                ErrorNumber.OPERATION_UNSUPPORTED,
                ErrorDomain.QEMU,
                "only disks with a local source can be hotplugged",
            )
        fmt = disk.driver_type or "raw"
        if fmt not in ("raw", "qcow2"):
            raise config_unsupported(f"unsupported disk driver type '{fmt}'", ErrorDomain.QEMU)
        if disk.address is None:
            raise internal_error("No more available PCI slots", ErrorDomain.QEMU)
        labels: list[dac.Label] = []
        if self.qemu_user is not None:
            labels = await asyncio.to_thread(dac.set_labels, dac.disk_files(disk), self.qemu_user)
        index = rt.node_index + 1
        storage, fmt_node = f"libvirt-{index}-storage", f"libvirt-{index}-format"
        added: list[str] = []
        try:
            await monitor.blockdev_add(
                {
                    "driver": "file" if disk.type == "file" else "host_device",
                    "filename": disk.source,
                    "node-name": storage,
                    "auto-read-only": True,
                    "discard": "unmap",
                }
            )
            added.append(storage)
            await monitor.blockdev_add(
                {"node-name": fmt_node, "read-only": disk.readonly, "driver": fmt, "file": storage}
            )
            added.append(fmt_node)
            await monitor.device_add(
                {
                    "driver": "virtio-blk-pci",
                    "bus": "pci.0" if disk.address.bus == 0 else f"pci.{disk.address.bus}",
                    "addr": disk.address.qemu_addr(),
                    "drive": fmt_node,
                    "id": disk.alias,
                }
            )
        except BaseException:
            for node in reversed(added):
                with contextlib.suppress(VirtError):
                    await monitor.blockdev_del(node)
            await self._restore_labels(obj, labels)
            raise
        rt.node_index = index
        rt.nodes[disk.alias] = [fmt_node, storage]
        rt.labels.extend(labels)
        obj.live = new_live
        self._save_status_quiet(obj)

    async def detach_device(self, ref: dict[str, Any], xml: str, flags: int) -> None:
        """Remove an ``<interface>`` (matched by MAC) or ``<disk>`` (by target) live and/or from the config.

        Live, QEMU is asked to unplug (``device_del``) and given
        :data:`UNPLUG_TIMEOUT` seconds for the guest to let go; as libvirt,
        a guest that takes longer is not an error: the removal finishes when
        QEMU reports ``DEVICE_DELETED``.

        Raises:
            VirtError: malformed XML, unsupported device, flags not
                applicable, no matching device (DEVICE_MISSING), QEMU errors.
        """
        dev = _device_element(xml)
        obj = self.get(ref)
        async with self._job(obj, ref):
            flags = self._impact(obj, flags)
            what = "live" if flags & AFFECT_LIVE else "persistent"
            if dev.tag not in ("interface", "disk"):
                raise VirtError(
                    ErrorNumber.OPERATION_UNSUPPORTED,
                    ErrorDomain.QEMU,
                    f"{what} detach of device '{dev.tag}' is not supported",
                )
            new_config: DomainDef | None = None
            if flags & AFFECT_CONFIG:
                assert obj.config is not None
                new_config = obj.config.clone()
                found = _match_device(new_config, dev, live=False)
                found.getparent().remove(found)
                new_config = domconf.DomainDef(new_config.root)
            if flags & AFFECT_LIVE:
                await self._detach_live(obj, dev)
            if new_config is not None:
                self.store.save_config(new_config.name, new_config.format(inactive=True))
                new_config.compact()
                obj.config = new_config
        where = "live" if flags & AFFECT_LIVE else "config"
        log.info("domain %s: %s detached (%s)", obj.name, dev.tag, where)

    async def _detach_live(self, obj: DomainObject, dev: Any) -> None:
        live, rt, monitor = self._live_parts(obj)
        domconf.pin_interface_aliases(live)
        elem = _match_device(live, dev, live=True)
        alias = _element_alias(live, elem)
        if elem.tag == "disk":
            disk = next(d for d in live.disks if d.alias == alias)
            if disk.bus != "virtio":
                raise VirtError(
                    ErrorNumber.OPERATION_UNSUPPORTED,
                    ErrorDomain.QEMU,
                    f"disk bus '{disk.bus}' cannot be hotunplugged.",
                )
        if alias in rt.unplugging:
            raise VirtError(
                ErrorNumber.OPERATION_FAILED,
                ErrorDomain.QEMU,
                f"unplug of device '{alias}' is already in progress",
            )
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        rt.unplugging[alias] = waiter
        try:
            await monitor.device_del(alias)
        except BaseException:
            rt.unplugging.pop(alias, None)
            raise
        try:
            await asyncio.wait_for(asyncio.shield(waiter), UNPLUG_TIMEOUT)
        except TimeoutError:
            waiter.cancel()  # a later DEVICE_DELETED finishes the removal
            log.info("domain %s: %s not yet released by the guest; removal continues", obj.name, alias)
            return
        await self._finish_unplug(obj, rt, alias)

    async def _late_unplug(self, obj: DomainObject, rt: DomainRuntime, alias: str) -> None:
        async with obj.lock:
            if obj.runtime is rt and alias in rt.unplugging:
                await self._finish_unplug(obj, rt, alias)

    async def _finish_unplug(self, obj: DomainObject, rt: DomainRuntime, alias: str) -> None:
        """QEMU removed device ``alias``: free its backend and host side, drop it from the live XML."""
        rt.unplugging.pop(alias, None)
        live = obj.live
        monitor = rt.monitor
        if live is None or monitor is None:
            return
        elem = _element_by_alias(live, alias)
        if elem is not None and elem.tag == "interface":
            with contextlib.suppress(VirtError):
                await monitor.netdev_del(f"host{alias}")
            port = next((p for p in rt.ports if p.alias == alias), None)
            if port is not None:
                rt.ports.remove(port)
                await self._unplug_ports([port])
        elif elem is not None and elem.tag == "disk":
            disk = next(d for d in live.disks if d.alias == alias)
            for node in rt.nodes.pop(alias, []):
                with contextlib.suppress(VirtError):
                    await monitor.blockdev_del(node)
            files = {dac.path_of(p) for p, _w in dac.disk_files(disk)}
            still = {dac.path_of(p) for d in live.disks if d.alias != alias for p, _w in dac.disk_files(d)}
            still |= {dac.path_of(p) for p in (live.kernel, live.initrd) if p}
            mine = [lb for lb in rt.labels if lb.path in files and lb.path not in still]
            for lb in mine:
                rt.labels.remove(lb)
            await self._restore_labels(obj, mine)
        if elem is not None:
            parent = elem.getparent()
            assert parent is not None
            parent.remove(elem)
            obj.live = domconf.DomainDef(live.root)
        self._save_status_quiet(obj)
        log.info("domain %s: device %s removed", obj.name, alias)
        if self._emit_event is not None:
            self._emit_event(EVENT_ID_DEVICE_REMOVED, obj.ref(), {"devAlias": alias})

    def _check_taps(self, obj: DomainObject, rt: DomainRuntime) -> list[str]:
        """The taps of a running domain that no longer exist, each logged once.

        A tap deleted behind pyvirtd's back (``ip link del vnet0``) leaves the guest
        running with a dead NIC; as libvirt, the live XML keeps its target name.
        """
        gone = []
        for port in rt.ports:
            if not port.tap:
                continue
            try:
                socket.if_nametoindex(port.tap)
            except OSError:
                gone.append(port.tap)
                key = (rt.pid, port.tap)
                if key not in self._taps_gone:
                    self._taps_gone.add(key)
                    log.warning(
                        "domain %s: tap %s was removed behind pyvirtd's back; its interface %s is cut off",
                        obj.name,
                        port.tap,
                        port.alias,
                    )
        return gone

    def interface_addresses(self, ref: dict[str, Any], source: int) -> list[dict[str, Any]]:
        """``remote_domain_interface`` entries from DHCP leases or the ARP table.

        Raises:
            VirtError: not running, or an unsupported source.
        """
        obj = self._running(ref)
        assert obj.live is not None and obj.runtime is not None
        self._check_taps(obj, obj.runtime)
        taps = {p.alias: p.tap for p in obj.runtime.ports}
        result = []
        if source == IFADDR_SOURCE_LEASE:
            for iface in obj.live.interfaces:
                if iface.type != "network" or not iface.source_network:
                    continue
                try:
                    net = self.networks.lookup_by_name(iface.source_network)
                    leases = self.networks.dhcp_leases(net.ref(), iface.mac)
                except VirtError:
                    continue
                addrs = [
                    {"type": lease["type"], "addr": lease["ipaddr"], "prefix": lease["prefix"]}
                    for lease in leases
                ]
                if addrs:
                    result.append({"name": taps.get(iface.alias) or "-", "hwaddr": iface.mac, "addrs": addrs})
        elif source == IFADDR_SOURCE_ARP:
            table = _read_arp()
            for iface in obj.live.interfaces:
                ips = table.get(iface.mac.lower(), [])
                if ips:
                    result.append(
                        {
                            "name": taps.get(iface.alias) or "-",
                            "hwaddr": iface.mac,
                            "addrs": [{"type": 0, "addr": ip, "prefix": 0} for ip in ips],
                        }
                    )
        else:
            raise VirtError(
                ErrorNumber.ARGUMENT_UNSUPPORTED,
                ErrorDomain.QEMU,
                "QEMU guest agent is not configured",
            )
        return result


def _probe_caps() -> Capabilities:
    from pyvirt.conf.capabilities import Capabilities

    # /dev/kvm may open here yet hang the host kernel (DESIGN.md): KVM only on request.
    return Capabilities.probe(kvm=None if os.environ.get("PYVIRT_ENABLE_KVM") == "1" else False)


async def _set_noqueue(ifname: str) -> None:
    """Give a tap the ``noqueue`` root qdisc, as libvirt does (``tc qdisc add dev X root handle 0: noqueue``).

    A failure is only logged: the tap works with the kernel's default qdisc too.
    """
    try:
        await netdev.set_noqueue(ifname)
    except (VirtError, OSError) as err:
        log.warning("cannot set the noqueue qdisc on %s: %s", ifname, err)


def _iface_element(domdef: DomainDef, mac: str) -> Any:
    for elem in domdef.root.findall("devices/interface"):
        mac_el = elem.find("mac")
        if mac_el is not None and (mac_el.get("address") or "").lower() == mac.lower():
            return elem
    return None


def _link_state(domdef: DomainDef, mac: str) -> str:
    """``up`` or ``down``: the ``<link state>`` of the interface with ``mac``."""
    elem = _iface_element(domdef, mac)
    link = elem.find("link") if elem is not None else None
    return (link.get("state") if link is not None else None) or "up"


def _with_link_state(domdef: DomainDef, mac: str, state: str) -> DomainDef:
    """A copy of ``domdef`` whose interface ``mac`` has ``<link state=STATE/>`` (omitted when up)."""
    new = domdef.clone()
    elem = _iface_element(new, mac)
    assert elem is not None
    for link in elem.findall("link"):
        elem.remove(link)
    if state == "down":
        link = etree.SubElement(elem, "link", state="down")
        # libvirt's order: after model/driver/..., before mtu/alias/address.
        for name in ("mtu", "coalesce", "bandwidth", "vlan", "port", "boot", "alias", "rom", "address"):
            follower = elem.find(name)
            if follower is not None:
                follower.addprevious(link)
                break
    return domconf.DomainDef(new.root)  # views rebuilt from the changed tree


def _ref_uuid(ref: dict[str, Any]) -> str:
    """The uuid string of a ``remote_nonnull_domain``."""
    return uuid_str(bytes(ref["uuid"]))


def _read_arp(path: str = "/proc/net/arp") -> dict[str, list[str]]:
    """MAC -> IPv4 addresses from the kernel's neighbour table (complete entries)."""
    table: dict[str, list[str]] = {}
    try:
        with open(path) as f:
            next(f, None)
            for line in f:
                fields = line.split()
                if len(fields) >= 4 and int(fields[2], 16) & 0x2:
                    table.setdefault(fields[3].lower(), []).append(fields[0])
    except OSError:
        pass
    return table


# ----- device XML helpers ------------------------------------------------------------------


def _device_element(xml: str) -> Any:
    """The root element of a device document.  Raises VirtError for malformed XML."""
    return xmlutil.parse_xml(xml, what="device_definition", domain=ErrorDomain.DOMAIN)


def _disk_target(dev: Any) -> str | None:
    if dev.tag != "disk":
        return None
    tgt = dev.find("target")
    return tgt.get("dev") if tgt is not None else None


def _strip_aliases(dev: Any) -> Any:
    """A copy of ``dev`` without the aliases a user may not choose (only ``ua-*`` stay)."""
    dev = copy.deepcopy(dev)
    for alias in dev.findall("alias"):
        if not (alias.get("name") or "").startswith("ua-"):
            dev.remove(alias)
    return dev


def _match_device(domdef: DomainDef, dev: Any, *, live: bool) -> Any:
    """The element of ``domdef`` that ``dev`` names: a disk by target, an interface by MAC (and alias).

    Raises:
        VirtError: DEVICE_MISSING when nothing matches, OPERATION_FAILED when several do.
    """
    devices = domdef.root.find("devices")
    if dev.tag == "disk":
        target = _disk_target(dev)
        for elem in devices.findall("disk") if devices is not None else []:
            tgt = elem.find("target")
            if tgt is not None and tgt.get("dev") == target:
                return elem
        if live:
            raise VirtError(ErrorNumber.DEVICE_MISSING, ErrorDomain.QEMU, f"disk {target} not found")
        raise VirtError(ErrorNumber.DEVICE_MISSING, ErrorDomain.DOMAIN, f"no target device {target}")
    mac_el = dev.find("mac")
    mac = (mac_el.get("address") or "").lower() if mac_el is not None else ""
    alias_el = dev.find("alias")
    alias = alias_el.get("name") if alias_el is not None else None
    elems = devices.findall("interface") if devices is not None else []
    found = []
    for elem, view in zip(elems, domdef.interfaces, strict=True):
        if mac and view.mac.lower() != mac:
            continue
        if live and alias and view.alias != alias:
            continue
        found.append(elem)
    if not found:
        detail = "no matching network device was found"
        if mac:
            detail = f"no device matching MAC address {mac} found"
        raise VirtError(ErrorNumber.DEVICE_MISSING, ErrorDomain.DOMAIN, detail)
    if len(found) > 1:
        detail = "multiple matching devices found"
        if mac:
            detail = f"multiple devices matching MAC address {mac} found"
        raise VirtError(ErrorNumber.OPERATION_FAILED, ErrorDomain.DOMAIN, detail)
    return found[0]


def _element_alias(domdef: DomainDef, elem: Any) -> str:
    """The alias of device element ``elem`` of ``domdef``."""
    devices = domdef.root.find("devices")
    assert devices is not None
    if elem.tag == "interface":
        return domdef.interfaces[devices.findall("interface").index(elem)].alias
    return domdef.disks[devices.findall("disk").index(elem)].alias


def _element_by_alias(domdef: DomainDef, alias: str) -> Any:
    """The interface or disk element whose alias is ``alias``, or None."""
    devices = domdef.root.find("devices")
    if devices is None:
        return None
    for elem, iface in zip(devices.findall("interface"), domdef.interfaces, strict=True):
        if iface.alias == alias:
            return elem
    for elem, disk in zip(devices.findall("disk"), domdef.disks, strict=True):
        if disk.alias == alias:
            return elem
    return None
