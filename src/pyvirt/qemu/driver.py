"""The QEMU domain driver: definitions, states and lifecycle of domains.

Each domain has a lock held for the whole of a state change (libvirt's job
lock).  Persistent definitions live in ``etc/pyvirt/qemu/NAME.xml``; a running
domain's live definition and process record live in
``run/pyvirt/qemu/NAME.xml`` so that a restarted daemon reattaches to it.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyvirt.conf.capabilities import Capabilities
from pyvirt.conf.domain import DomainDef, parse_domain
from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError, no_domain, operation_invalid
from pyvirt.store import Layout, ObjectStore

if TYPE_CHECKING:
    from pyvirt.network.driver import NetworkDriver

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

Emit = Callable[[dict[str, Any], int, int], None]


@dataclass
class DomainObject:
    """One domain: persistent definition, live definition, state and lock."""

    config: DomainDef | None
    live: DomainDef | None = None
    id: int = -1
    state: DomainState = DomainState.SHUTOFF
    reason: int = ShutoffReason.UNKNOWN
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    runtime: Any = None

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
        return {"name": self.name, "uuid": uuidlib.UUID(self.uuid).bytes, "id": self.id}


class DomainDriver:
    """All domains of one pyvirtd instance."""

    def __init__(self, layout: Layout, networks: NetworkDriver, *, emit: Emit) -> None:
        self.layout = layout
        self.store: ObjectStore = layout.domains
        self.networks = networks
        self._emit = emit
        self._objs: dict[str, DomainObject] = {}  # by uuid
        self._next_id = 1
        self._caps: Capabilities | None = None
        self._define_lock = asyncio.Lock()

    @property
    def caps(self) -> Capabilities:
        if self._caps is None:
            # /dev/kvm may open here yet hang the host kernel (DESIGN.md): KVM only on request.
            self._caps = Capabilities.probe(kvm=None if os.environ.get("PYVIRT_ENABLE_KVM") == "1" else False)
        return self._caps

    async def initialize(self) -> None:
        """Load the stored definitions (and, later, reattach to running QEMUs)."""
        self.store.prepare()
        for name, path in self.store.configs():
            try:
                domdef = parse_domain(path.read_text(), None)
            except (VirtError, OSError) as err:
                log.error("skipping domain definition %s: %s", path, err)
                continue
            if domdef.name != name:
                log.error("skipping %s: it defines domain '%s'", path, domdef.name)
                continue
            self._objs[domdef.uuid] = DomainObject(config=domdef)

    async def autostart_all(self) -> None:
        """Start domains marked autostart (once per host boot)."""

    async def close(self) -> None:
        """Leave running domains running: they outlive the daemon."""

    # ----- lookups ---------------------------------------------------------

    def _find_name(self, name: str) -> DomainObject | None:
        for obj in self._objs.values():
            if obj.name == name:
                return obj
        return None

    def lookup_by_name(self, name: str) -> DomainObject:
        obj = self._find_name(name)
        if obj is None:
            raise no_domain(f"no domain with matching name '{name}'")
        return obj

    def lookup_by_uuid(self, raw: bytes) -> DomainObject:
        key = str(uuidlib.UUID(bytes=bytes(raw)))
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
        key = str(uuidlib.UUID(bytes=bytes(ref["uuid"])))
        obj = self._objs.get(key)
        if obj is None:
            raise no_domain(f"no domain with matching uuid '{key}' ({ref['name']})")
        return obj

    def list_all(self, flags: int) -> list[DomainObject]:
        def pair(a: int, b: int, va: bool, vb: bool) -> bool:
            both = flags & (a | b)
            if both in (0, a | b):
                return True
            return (bool(flags & a) and va) or (bool(flags & b) and vb)

        result = []
        for obj in self._objs.values():
            auto = self.autostart(obj)
            if not pair(LIST_ACTIVE, LIST_INACTIVE, obj.active, not obj.active):
                continue
            if not pair(LIST_PERSISTENT, LIST_TRANSIENT, obj.persistent, not obj.persistent):
                continue
            if not pair(LIST_AUTOSTART, LIST_NO_AUTOSTART, auto, not auto):
                continue
            if not pair(LIST_MANAGEDSAVE, LIST_NO_MANAGEDSAVE, False, True):
                continue
            if not pair(LIST_HAS_SNAPSHOT, LIST_NO_SNAPSHOT, False, True):
                continue
            state_flags = flags & (LIST_RUNNING | LIST_PAUSED | LIST_SHUTOFF | LIST_OTHER)
            if state_flags:
                st = obj.state
                ok = (
                    (flags & LIST_RUNNING and st == DomainState.RUNNING)
                    or (flags & LIST_PAUSED and st == DomainState.PAUSED)
                    or (flags & LIST_SHUTOFF and st == DomainState.SHUTOFF)
                    or (
                        flags & LIST_OTHER
                        and st not in (DomainState.RUNNING, DomainState.PAUSED, DomainState.SHUTOFF)
                    )
                )
                if not ok:
                    continue
            result.append(obj)
        return result

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
        domdef = parse_domain(xml, self.caps)
        async with self._define_lock:
            existing = self._check_duplicate(domdef)
            self.store.save_config(domdef.name, domdef.format(inactive=True))
            if existing is None:
                obj = DomainObject(config=domdef)
                self._objs[domdef.uuid] = obj
                detail = 0  # VIR_DOMAIN_EVENT_DEFINED_ADDED
            else:
                obj = existing
                obj.config = domdef
                detail = 1  # VIR_DOMAIN_EVENT_DEFINED_UPDATED
        log.info("domain %s defined", domdef.name)
        self._emit(obj.ref(), Event.DEFINED, detail)
        return obj

    async def undefine(self, ref: dict[str, Any], flags: int = 0) -> None:
        """Remove the persistent definition; a running domain becomes transient.

        Raises:
            VirtError: unknown domain, or a transient one.
        """
        obj = self.get(ref)
        async with obj.lock:
            if not obj.persistent:
                raise operation_invalid("cannot undefine transient domain", ErrorDomain.QEMU)
            name = obj.name
            self.store.delete_config(name)
            obj.config = None
            if not obj.active:
                del self._objs[obj.uuid]
        log.info("domain %s undefined", name)
        self._emit(obj.ref(), Event.UNDEFINED, 0)

    def autostart(self, obj: DomainObject) -> bool:
        return obj.persistent and self.store.autostart(obj.name)

    async def set_autostart(self, ref: dict[str, Any], enabled: bool) -> None:
        obj = self.get(ref)
        async with obj.lock:
            if not obj.persistent:
                raise operation_invalid("cannot set autostart for transient domain", ErrorDomain.QEMU)
            try:
                self.store.set_autostart(obj.name, enabled)
            except OSError as err:
                raise VirtError(
                    ErrorNumber.SYSTEM_ERROR,
                    ErrorDomain.QEMU,
                    f"Failed to create symlink '{self.store.autostart_path(obj.name)}': {err.strerror}",
                ) from err

    def xml_desc(self, ref: dict[str, Any], flags: int) -> str:
        obj = self.get(ref)
        if flags & XML_INACTIVE and obj.config is not None:
            return obj.config.format(inactive=True)
        if obj.live is not None:
            return obj.live.format(inactive=False, live=obj.runtime.live_info() if obj.runtime else None)
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
