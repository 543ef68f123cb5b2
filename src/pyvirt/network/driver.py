"""The network driver: definitions, lifecycle and state of virtual networks.

Every state change takes the network's lock, validates, then mutates, and
undoes its own steps on failure (the runtime rolls back a half-started
network).  Persistent definitions live in ``etc/pyvirt/qemu/networks``; an
active network's live definition and runtime record live in
``run/pyvirt/network/NAME.xml`` so a restarted daemon reattaches to it.

dnsmasq is supervised: the driver watches each active network's dnsmasq
through a pidfd (``os.pidfd_open`` + ``loop.add_reader``; a periodic check
where pidfds are unavailable) and restarts it, under the network's lock, when
it dies while the network is active.  The lease status file is left alone,
so the restarted dnsmasq gets its leases back from the helper's ``init``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import socket
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from pyvirt.defcache import DefinitionCache, State
from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError, internal_error, no_network, operation_invalid
from pyvirt.jobs import job
from pyvirt.layout import Layout
from pyvirt.lazyimport import lazy_module
from pyvirt.network.paths import NetworkPaths
from pyvirt.objtable import ObjectTable, filter_pair
from pyvirt.store import ObjectStore, read_text, uuid_bytes
from pyvirt.uuids import format_uuid

if TYPE_CHECKING:
    from pyvirt.conf import network as netconf
    from pyvirt.conf.network import NetworkDef
    from pyvirt.network import firewall
    from pyvirt.network import runtime as netruntime
else:
    # the XML module: loaded with the first definition read (not for those the cache holds)
    netconf = lazy_module("pyvirt.conf.network", home=(globals(), "netconf"))
    # what only running networks need: imported when the first one starts or is found running
    firewall = lazy_module("pyvirt.network.firewall")
    netruntime = lazy_module("pyvirt.network.runtime")

log = logging.getLogger(__name__)

# virConnectListAllNetworksFlags
LIST_INACTIVE = 1
LIST_ACTIVE = 2
LIST_PERSISTENT = 4
LIST_TRANSIENT = 8
LIST_AUTOSTART = 16
LIST_NO_AUTOSTART = 32

# virNetworkEventLifecycleType
EVENT_DEFINED = 0
EVENT_UNDEFINED = 1
EVENT_STARTED = 2
EVENT_STOPPED = 3

# virNetworkUpdateFlags
UPDATE_AFFECT_LIVE = 1
UPDATE_AFFECT_CONFIG = 2

XML_INACTIVE = 1  # VIR_NETWORK_XML_INACTIVE

# Forward modes that get a bridge of ours (and so a generated virbrN name).
_VIRTUAL_MODES = ("none", "nat", "route", "open")
MAX_BRIDGE_ID = 256

# dnsmasq supervision: fallback poll interval, and the longest pause between restart attempts
SUPERVISE_POLL_SECONDS = 5.0
RESTART_BACKOFF_MAX = 30.0

DEFAULT_NETWORK_XML = """<network>
  <name>default</name>
  <bridge name='virbr0'/>
  <forward/>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.122.2' end='192.168.122.254'/>
    </dhcp>
  </ip>
</network>
"""

Emit = Callable[[dict[str, Any], int, int], None]


class NetworkState(enum.Enum):
    INACTIVE = "inactive"
    ACTIVE = "active"


class NetworkObject:
    """One network: its persistent definition, live definition and runtime.

    A persistent definition taken from the definition cache (``stored``: the
    file's text, name and uuid; see :mod:`pyvirt.defcache`) is parsed the
    first time :attr:`config` is read.  Its text parsed when it was cached, by
    this same code, so it parses again.
    """

    __slots__ = ("_config", "_stored", "connections", "live", "lock", "pending", "runtime")

    def __init__(
        self,
        config: NetworkDef | None = None,
        *,
        pending: NetworkDef | None = None,
        stored: State | None = None,
    ) -> None:
        self._config = config
        self._stored = stored
        self.live: NetworkDef | None = None
        self.runtime: netruntime.NetworkRuntime | None = None
        self.lock = asyncio.Lock()
        self.connections = 0
        # A transient network being created: reserves its name, uuid and bridge.
        self.pending = pending

    @property
    def config(self) -> NetworkDef | None:
        """The persistent definition (None for a transient network)."""
        if self._config is None and self._stored is not None:
            self._config = netconf.parse_network(str(self._stored["xml"]))
            self._stored = None
        return self._config

    @config.setter
    def config(self, netdef: NetworkDef | None) -> None:
        self._config, self._stored = netdef, None

    def cache_state(self) -> State | None:
        """The persistent definition as a definition-cache state (the text a define wrote).

        None for a transient network.  Raises nothing.
        """
        if self._stored is not None:
            return self._stored
        if self._config is None:
            return None
        netdef = self._config
        return {"xml": netdef.format(inactive=True), "name": netdef.name, "uuid": netdef.uuid}

    @property
    def definition(self) -> NetworkDef:
        d = self.live or self.config or self.pending
        assert d is not None
        return d

    @property
    def name(self) -> str:
        if self._stored is not None and self.live is None:
            return str(self._stored["name"])
        return self.definition.name

    @property
    def uuid(self) -> str:
        if self._stored is not None and self.live is None:
            return str(self._stored["uuid"])
        return self.definition.uuid

    @property
    def state(self) -> NetworkState:
        return NetworkState.ACTIVE if self.live is not None else NetworkState.INACTIVE

    @property
    def active(self) -> bool:
        return self.live is not None

    @property
    def persistent(self) -> bool:
        return self._config is not None or self._stored is not None

    def ref(self) -> dict[str, Any]:
        """The ``remote_nonnull_network`` for this network."""
        return {"name": self.name, "uuid": uuid_bytes(self.uuid)}


def _clone(netdef: NetworkDef) -> NetworkDef:
    return netconf.parse_network(netdef.format(inactive=True))


def _is_network_state(state: State) -> bool:
    return state.keys() == {"xml", "name", "uuid"} and all(type(v) is str for v in state.values())


def _netdev_exists(name: str) -> bool:
    try:
        socket.if_nametoindex(name)
    except OSError:
        return False
    return True


class NetworkDriver:
    """All networks of one pyvirtd instance."""

    def __init__(self, layout: Layout, *, emit: Emit) -> None:
        self.layout = layout
        self.store: ObjectStore = layout.networks
        self._def_cache = DefinitionCache(layout.network_cache)
        self.paths = NetworkPaths(layout.root)
        self._emit = emit
        self._objs: ObjectTable[NetworkObject] = ObjectTable()  # by uuid, indexed by name
        self._bridge_lock = asyncio.Lock()  # bridge name generation is global
        self._watches: dict[str, tuple[int, int | None]] = {}  # uuid -> (dnsmasq pid, pidfd or None)
        self._revivals: dict[str, asyncio.Task[None]] = {}
        self._poller: asyncio.Task[None] | None = None

    # ----- start-up --------------------------------------------------------

    async def initialize(self, *, define_default: bool) -> None:
        """Load definitions and live status; reattach to running networks."""
        first_start = not self.store.config_dir.exists()
        self.store.prepare()
        self._def_cache.load()
        for name, path in self.store.configs():
            try:
                text = read_text(path)
                state = self._def_cache.match(name, text)
                if state is not None and _is_network_state(state):
                    self._objs[str(state["uuid"])] = NetworkObject(stored=state)
                    continue
                netdef = netconf.parse_network(text)
            except (VirtError, OSError, UnicodeDecodeError) as err:
                log.error("skipping network definition %s: %s", path, err)
                continue
            if netdef.name != name:
                log.error("skipping %s: it defines network '%s'", path, netdef.name)
                continue
            self._objs[netdef.uuid] = NetworkObject(config=netdef)
        for name, path in self.store.statuses():
            await self._load_status(name, path)
        if first_start and define_default and self._find_name("default") is None:
            log.info("defining the default network")
            netdef = netconf.parse_network(DEFAULT_NETWORK_XML)
            self.store.save_config(netdef.name, netdef.format(inactive=True))
            self._objs[netdef.uuid] = NetworkObject(config=netdef)
        self._def_cache.save_objects(list(self._objs.values()))

    async def _load_status(self, name: str, path: Any) -> None:
        try:
            def_xml, rt_data, _attrs = self.store.load_live(path, "network")
            live = netconf.parse_network(def_xml)
            rt = netruntime.NetworkRuntime.from_dict(rt_data)
        except Exception as err:
            log.error("network %s: unreadable status file %s (%s); treating it as inactive", name, path, err)
            await self._cleanup_unknown_runtime(name)
            self.store.delete_status(name)
            return
        obj = self._objs.get(live.uuid)
        if obj is None:
            obj = NetworkObject(config=None)
            self._objs[live.uuid] = obj
        obj.live = live
        obj.runtime = rt
        try:
            await netruntime.check(live, rt, self.paths)
        except VirtError as err:
            log.error("network %s could not be reattached: %s; marking it inactive", name, err.message)
            try:
                await netruntime.stop(rt, self.paths)
            except Exception:
                log.debug("cleanup of %s failed", name, exc_info=True)
            obj.live = None
            obj.runtime = None
            self.store.delete_status(name)
            if obj.config is None:
                del self._objs[live.uuid]
            return
        log.info("network %s is active (reattached)", name)
        self._save_status_quiet(obj)  # check() may have restarted dnsmasq: record its pid
        self._watch(obj)

    async def _cleanup_unknown_runtime(self, name: str) -> None:
        """Best effort after a lost runtime record: stop what may still run for ``name``.

        dnsmasq is found by its pid file and config, the bridge by the persistent
        definition, the firewall chains by the network's name; so the network can
        be started again.  Never raises.
        """
        obj = self._find_name(name)
        netdef = obj.config if obj is not None else None
        bridge = netdef.bridge if netdef is not None and netdef.bridge else None
        rt = netruntime.NetworkRuntime(
            name=name,
            bridge=bridge or "",
            forward_mode=netdef.forward_mode if netdef is not None else "nat",
            uses_dnsmasq=True,
        )
        try:
            if bridge:
                await netruntime.stop(rt, self.paths)
            else:
                await netruntime._stop_dnsmasq(rt, self.paths)
        except Exception as err:
            log.warning("network %s: cleanup after lost status failed: %s", name, err)
        try:
            await firewall.remove_rules(firewall.chain_prefix(name))
        except Exception as err:
            log.warning("network %s: removing leftover firewall rules failed: %s", name, err)

    async def autostart_all(self) -> None:
        marker = self.layout.run / "network" / "autostarted"
        if marker.exists():
            log.info("network autostart already done since boot (%s exists)", marker)
            return
        for obj in list(self._objs.values()):
            if obj.persistent and not obj.active and self.store.autostart(obj.name):
                try:
                    await self.create(obj.ref())
                except VirtError as err:
                    log.error("autostart of network %s failed: %s", obj.name, err.message)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        log.info("network autostart done")

    async def close(self) -> None:
        """Stop supervising; leave active networks running: they outlive the daemon; keep the
        definitions for the next start (see :mod:`pyvirt.defcache`)."""
        self._def_cache.save_objects(list(self._objs.values()))
        for key in list(self._watches):
            self._unwatch(key)
        tasks = [t for t in (*self._revivals.values(), self._poller) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._revivals.clear()
        self._poller = None

    # ----- dnsmasq supervision ---------------------------------------------

    def _watch(self, obj: NetworkObject) -> None:
        """Watch the dnsmasq of active network ``obj`` (no-op when already watched or none runs)."""
        rt = obj.runtime
        key = obj.uuid
        pid = rt.dnsmasq_pid if rt is not None and obj.active and rt.uses_dnsmasq else None
        current = self._watches.get(key)
        if current is not None and current[0] == pid:
            return
        self._unwatch(key)
        if pid is None:
            return
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            self._dnsmasq_exited(key, pid)
            return
        except (OSError, AttributeError) as err:  # no pidfds (old kernel): poll instead
            log.debug("no pidfd for dnsmasq %d (%s); polling", pid, err)
            self._watches[key] = (pid, None)
            if self._poller is None or self._poller.done():
                self._poller = asyncio.get_running_loop().create_task(self._poll())
            return
        self._watches[key] = (pid, fd)
        asyncio.get_running_loop().add_reader(fd, self._dnsmasq_exited, key, pid)

    def _unwatch(self, key: str) -> None:
        watch = self._watches.pop(key, None)
        if watch is None or watch[1] is None:
            return
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(watch[1])
        os.close(watch[1])

    async def _poll(self) -> None:
        while any(fd is None for _, fd in self._watches.values()):
            await asyncio.sleep(SUPERVISE_POLL_SECONDS)
            for key, (pid, fd) in list(self._watches.items()):
                obj = self._objs.get(key)
                if fd is None and obj is not None and not netruntime.dnsmasq_alive(obj.name, pid, self.paths):
                    self._dnsmasq_exited(key, pid)

    def _dnsmasq_exited(self, key: str, pid: int) -> None:
        current = self._watches.get(key)
        if current is not None and current[0] == pid:
            self._unwatch(key)  # a watch on a newer dnsmasq stays
        task = self._revivals.get(key)
        if task is not None and not task.done():
            return
        task = asyncio.get_running_loop().create_task(self._revive(key, pid))
        self._revivals[key] = task
        task.add_done_callback(
            lambda t: self._revivals.pop(key, None) if self._revivals.get(key) is t else None
        )

    async def _revive(self, key: str, pid: int) -> None:
        """Restart the dnsmasq ``pid`` of network ``key`` if it is still the one the network should have."""
        delay = 1.0
        while True:
            obj = self._objs.get(key)
            if obj is None:
                return
            async with obj.lock:
                rt = obj.runtime
                if not obj.active or rt is None or obj.live is None or rt.dnsmasq_pid != pid:
                    return  # stopped or restarted on purpose meanwhile
                if netruntime.dnsmasq_alive(obj.name, pid, self.paths):
                    self._watch(obj)
                    return
                log.warning("network %s: dnsmasq (pid %d) died; restarting it", obj.name, pid)
                try:
                    await netruntime.restart_dnsmasq(obj.live, rt, self.paths)
                except VirtError as err:
                    log.error("network %s: cannot restart dnsmasq: %s", obj.name, err.message)
                    rt.dnsmasq_pid = pid  # try again later
                else:
                    log.info("network %s: dnsmasq restarted as pid %s", obj.name, rt.dnsmasq_pid)
                    self._save_status_quiet(obj)
                    self._watch(obj)
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_BACKOFF_MAX)

    # ----- lookups ---------------------------------------------------------

    def _find_name(self, name: str) -> NetworkObject | None:
        return self._objs.find_name(name)

    def lookup_by_name(self, name: str) -> NetworkObject:
        """Raises VirtError(NO_NETWORK) when there is no such network."""
        obj = self._find_name(name)
        if obj is None:
            raise no_network(f"no network with matching name '{name}'")
        return obj

    def lookup_by_uuid(self, raw: bytes) -> NetworkObject:
        """Raises VirtError(NO_NETWORK) when there is no such network."""
        key = format_uuid(bytes(raw))
        obj = self._objs.get(key)
        if obj is None:
            raise no_network(f"no network with matching uuid '{key}'")
        return obj

    def get(self, ref: dict[str, Any]) -> NetworkObject:
        """Find the network a client's ``remote_nonnull_network`` names."""
        key = format_uuid(bytes(ref["uuid"]))
        obj = self._objs.get(key)
        if obj is None:
            raise no_network(f"no network with matching uuid '{key}' ({ref['name']})")
        return obj

    def _job(
        self, obj: NetworkObject, ref: dict[str, Any] | None = None
    ) -> AbstractAsyncContextManager[None]:
        """The job (state change lock, libvirt's timeout) on ``obj``.

        With ``ref``, once the lock is held the network must still be the one
        ``ref`` names: one undefined while the job waited gives NO_NETWORK.
        """

        def still_current() -> None:
            if ref is not None and self.get(ref) is not obj:
                key = format_uuid(bytes(ref["uuid"]))
                raise no_network(f"no network with matching uuid '{key}' ({ref['name']})")

        what = f"network '{obj.name}'"
        return job(obj.lock, what=what, domain=ErrorDomain.NETWORK, check=still_current)

    def list_all(self, flags: int) -> list[NetworkObject]:
        """The networks matching libvirt's virConnectListAllNetworks ``flags``."""
        objs = list(self._objs.values())
        objs = filter_pair(objs, flags, LIST_ACTIVE, LIST_INACTIVE, lambda o: o.active)
        objs = filter_pair(objs, flags, LIST_PERSISTENT, LIST_TRANSIENT, lambda o: o.persistent)
        return filter_pair(objs, flags, LIST_AUTOSTART, LIST_NO_AUTOSTART, self.autostart)

    def active_objects(self) -> list[NetworkObject]:
        return [o for o in self._objs.values() if o.active]

    # ----- definitions -----------------------------------------------------

    def _check_duplicate(self, netdef: NetworkDef) -> NetworkObject | None:
        obj = self._objs.get(netdef.uuid)
        if obj is not None:
            if obj.name != netdef.name:
                raise VirtError(
                    ErrorNumber.OPERATION_FAILED,
                    ErrorDomain.NETWORK,
                    f"network '{obj.name}' is already defined with uuid {obj.uuid}",
                )
            return obj
        other = self._find_name(netdef.name)
        if other is not None:
            raise VirtError(
                ErrorNumber.OPERATION_FAILED,
                ErrorDomain.NETWORK,
                f"network '{other.name}' already exists with uuid {other.uuid}",
            )
        return None

    def _assign_bridge(self, netdef: NetworkDef, existing: NetworkObject | None) -> None:
        """Generate or check the bridge name the way libvirt does."""
        if netdef.forward_mode not in _VIRTUAL_MODES:
            return
        others = {
            d.bridge
            for o in self._objs.values()
            if o is not existing
            for d in (o.config, o.live)
            if d is not None and d.bridge
        }
        name = netdef.bridge
        if name and "%d" not in name:
            if name in others:
                raise internal_error(f"bridge name '{name}' already in use.", ErrorDomain.NETWORK)
            return
        # Keep the bridge the existing definition already has, when possible.
        if existing is not None and existing.definition.bridge and not name:
            netdef.set_bridge(existing.definition.bridge)
            return
        template = name or "virbr%d"
        for i in range(MAX_BRIDGE_ID + 1):
            candidate = template.replace("%d", str(i), 1)
            if candidate not in others and not _netdev_exists(candidate):
                netdef.set_bridge(candidate)
                return
        raise internal_error(f"Bridge generation exceeded max id {MAX_BRIDGE_ID}", ErrorDomain.NETWORK)

    async def define_xml(self, xml: str) -> NetworkObject:
        """Define (or redefine) a persistent network.

        Raises:
            VirtError: malformed/invalid XML, duplicate name or uuid, bridge in use.
        """
        netdef = netconf.parse_network(xml)
        async with self._bridge_lock:
            existing = self._check_duplicate(netdef)
            self._assign_bridge(netdef, existing)
            self.store.save_config(netdef.name, netdef.format(inactive=True))
            if existing is None:
                obj = NetworkObject(config=netdef)
                self._objs[netdef.uuid] = obj
            else:
                obj = existing
                obj.config = netdef
        log.debug("network %s defined", netdef.name)
        self._emit(obj.ref(), EVENT_DEFINED, 0)
        return obj

    async def undefine(self, ref: dict[str, Any]) -> None:
        """Remove a persistent definition; an active network becomes transient.

        Raises:
            VirtError: unknown network, or a transient one.
        """
        obj = self.get(ref)
        async with self._job(obj, ref):
            if not obj.persistent:
                raise operation_invalid("can't undefine transient network", ErrorDomain.NETWORK)
            name, ref_out, key = obj.name, obj.ref(), obj.uuid
            bridge = obj.definition.bridge
            self.store.delete_config(name)
            obj.config = None
            if not obj.active:
                # libvirt's networkRemoveInactive: conf, hosts files, leases and macs go too
                del self._objs[key]
                netruntime.remove_files(name, bridge, self.paths)
        log.debug("network %s undefined", name)
        self._emit(ref_out, EVENT_UNDEFINED, 0)

    def autostart(self, obj: NetworkObject) -> bool:
        return obj.persistent and self.store.autostart(obj.name)

    async def set_autostart(self, ref: dict[str, Any], enabled: bool) -> None:
        obj = self.get(ref)
        async with self._job(obj, ref):
            if not obj.persistent:
                raise operation_invalid("cannot set autostart for transient network", ErrorDomain.NETWORK)
            self.store.set_autostart(obj.name, enabled, ErrorDomain.NETWORK)

    def xml_desc(self, ref: dict[str, Any], flags: int) -> str:
        obj = self.get(ref)
        if flags & XML_INACTIVE and obj.config is not None:
            return obj.config.format(inactive=True)
        if obj.live is not None:
            obj.live.set_connections(obj.connections)
            return obj.live.format(inactive=False)
        return obj.definition.format(inactive=True)

    def bridge_name(self, ref: dict[str, Any]) -> str:
        obj = self.get(ref)
        bridge = obj.definition.bridge
        if not bridge:
            raise internal_error(f"network '{obj.name}' does not have a bridge name.", ErrorDomain.NETWORK)
        return bridge

    # ----- lifecycle -------------------------------------------------------

    async def create(self, ref: dict[str, Any]) -> None:
        """Start a defined network (``net-start``).

        Raises:
            VirtError: already active, or any start step failed (rolled back).
        """
        obj = self.get(ref)
        async with self._job(obj, ref):
            if obj.active:
                raise operation_invalid("network is already active", ErrorDomain.NETWORK)
            assert obj.config is not None
            await self._start_locked(obj, _clone(obj.config))

    async def _start_locked(self, obj: NetworkObject, live: NetworkDef) -> None:
        rt = await netruntime.start(live, self.paths)
        obj.live = live
        obj.runtime = rt
        obj.connections = 0
        try:
            self._save_status(obj)
        except OSError as err:
            await netruntime.stop(rt, self.paths)
            obj.live = None
            obj.runtime = None
            raise VirtError(
                ErrorNumber.SYSTEM_ERROR, ErrorDomain.NETWORK, f"cannot write status file: {err.strerror}"
            ) from err
        log.info("Network '%s' started up", obj.name)
        self._watch(obj)
        self._emit(obj.ref(), EVENT_STARTED, 0)

    async def create_xml(self, xml: str) -> NetworkObject:
        """Create and start a transient network (``net-create``).

        Raises:
            VirtError: invalid XML, duplicates, or start failure.
        """
        netdef = netconf.parse_network(xml)
        async with self._bridge_lock:
            existing = self._check_duplicate(netdef)
            if existing is not None:
                if existing.active:
                    raise operation_invalid(
                        f"network is already active as '{existing.name}'", ErrorDomain.NETWORK
                    )
                raise VirtError(
                    ErrorNumber.OPERATION_FAILED,
                    ErrorDomain.NETWORK,
                    f"network '{existing.name}' already exists with uuid {existing.uuid}",
                )
            self._assign_bridge(netdef, None)
            obj = NetworkObject(config=None, pending=netdef)
            self._objs[netdef.uuid] = obj
        try:
            async with self._job(obj):
                await self._start_locked(obj, netdef)
        except BaseException:
            self._objs.pop(netdef.uuid, None)
            raise
        finally:
            obj.pending = None
        return obj

    async def destroy(self, ref: dict[str, Any]) -> None:
        """Stop an active network (``net-destroy``); a transient one vanishes.

        Raises:
            VirtError: the network is not active.
        """
        obj = self.get(ref)
        async with self._job(obj, ref):
            if not obj.active:
                raise operation_invalid(f"network '{obj.name}' is not active", ErrorDomain.NETWORK)
            assert obj.runtime is not None
            name, ref_out, key = obj.name, obj.ref(), obj.uuid
            self._unwatch(key)
            try:
                await netruntime.stop(obj.runtime, self.paths)
            except VirtError as err:
                # Every teardown step was tried; like libvirt, the network is inactive now.
                log.error("network %s: incomplete teardown: %s", name, err.message)
            self.store.delete_status(name)
            obj.live = None
            obj.runtime = None
            obj.connections = 0
            if not obj.persistent:
                del self._objs[key]
        log.info("network %s destroyed", name)
        self._emit(ref_out, EVENT_STOPPED, 0)

    def _save_status(self, obj: NetworkObject) -> None:
        assert obj.live is not None and obj.runtime is not None
        obj.live.set_connections(obj.connections)
        self.store.save_live(
            obj.name, "networkstatus", obj.live.format(inactive=False), obj.runtime.to_dict()
        )

    def dhcp_leases(self, ref: dict[str, Any], mac: str | None) -> list[dict[str, Any]]:
        """The network's DHCP leases in ``remote_network_dhcp_lease`` form."""
        obj = self.get(ref)
        if not obj.active:
            return []
        return netruntime.dhcp_leases(obj.definition, self.paths, mac)

    async def update(
        self, ref: dict[str, Any], command: int, section: int, parent_index: int, xml: str, flags: int
    ) -> None:
        """``net-update``: change a section of the live and/or persistent definition.

        Raises:
            VirtError: invalid command/section/xml, or the network state forbids it.
        """
        obj = self.get(ref)
        async with self._job(obj, ref):
            live = bool(flags & UPDATE_AFFECT_LIVE)
            config = bool(flags & UPDATE_AFFECT_CONFIG)
            if not live and not config:  # AFFECT_CURRENT
                live, config = (True, False) if obj.active else (False, True)
            if live and not obj.active:
                raise operation_invalid("network is not running", ErrorDomain.NETWORK)
            if config and not obj.persistent:
                raise operation_invalid(
                    "cannot change persistent config of a transient network", ErrorDomain.NETWORK
                )
            new_config = _clone(obj.config) if config and obj.config is not None else None
            new_live = _clone(obj.live) if live and obj.live is not None else None
            for d in (new_config, new_live):
                if d is not None:
                    d.update(command, section, parent_index, xml)
            if new_live is not None:
                assert obj.runtime is not None
                await netruntime.apply_update(new_live, obj.runtime, self.paths, section)
                obj.live = new_live
                self._save_status(obj)
                self._watch(obj)
            if new_config is not None:
                self.store.save_config(new_config.name, new_config.format(inactive=True))
                obj.config = new_config

    # ----- for the domain driver -------------------------------------------

    def attach_port(self, name: str) -> tuple[NetworkObject, str]:
        """Reserve a connection on an active network; return it and its bridge.

        Raises:
            VirtError: unknown network, or "network 'x' is not active".
        """
        obj = self.lookup_by_name(name)
        if not obj.active:
            raise operation_invalid(f"network '{name}' is not active", ErrorDomain.NETWORK)
        bridge = obj.definition.bridge
        if not bridge:
            raise internal_error(f"network '{name}' does not have a bridge name.", ErrorDomain.NETWORK)
        obj.connections += 1
        self._save_status_quiet(obj)
        return obj, bridge

    def reclaim_port(self, name: str) -> None:
        """Count a port of a domain found running at daemon start."""
        obj = self._find_name(name)
        if obj is not None and obj.active:
            obj.connections += 1
            self._save_status_quiet(obj)

    def detach_port(self, name: str) -> None:
        obj = self._find_name(name)
        if obj is not None and obj.active and obj.connections > 0:
            obj.connections -= 1
            self._save_status_quiet(obj)

    def _save_status_quiet(self, obj: NetworkObject) -> None:
        try:
            self._save_status(obj)
        except OSError as err:
            log.error("network %s: cannot write status file: %s", obj.name, err)
