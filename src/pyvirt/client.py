"""pyvirt's Python API: ``pyvirt.open(uri) -> Connection``, with libvirt-python's names.

The objects are thin: a :class:`Domain` or :class:`Network` is the
``remote_nonnull_domain`` / ``remote_nonnull_network`` struct the daemon
handed out, and every method is one (or a few) remote procedure calls over the
connection's :class:`~pyvirt.rpc.client.RpcClient`.  Errors are
:class:`~pyvirt.errors.VirtError` exactly as the daemon sent them.

URIs are handled like libvirt's remote driver: ``qemu:///system`` (the
default) and ``qemu+unix:///system`` use ``/run/pyvirt/pyvirt-sock`` (or
``pyvirt-sock-ro`` for read-only connections); ``?socket=PATH`` picks the
socket explicitly.  The name sent in CONNECT_OPEN is the URI without the
transport and without the ``socket``/``mode`` parameters.
"""

from __future__ import annotations

import sys

from pyvirt import constants as c
from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows pyvirsh start-up

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    EventCallback = Callable[..., object]

__all__ = [
    "DEFAULT_SOCKET_DIR",
    "DEFAULT_URI",
    "Connection",
    "Domain",
    "Network",
    "ParsedURI",
    "default_uri",
    "open",
    "openReadOnly",
    "parse_uri",
]

DEFAULT_URI = "qemu:///system"
DEFAULT_SOCKET_DIR = "/run/pyvirt"
SOCKET_NAME = "pyvirt-sock"
SOCKET_NAME_RO = "pyvirt-sock-ro"

# URI parameters the client consumes itself (never sent to the daemon).
_CLIENT_PARAMS = frozenset(
    {
        "socket",
        "mode",
        "name",
        "command",
        "auth",
        "sshauth",
        "netcat",
        "keyfile",
        "pkipath",
        "known_hosts",
        "known_hosts_verify",
        "tls_priority",
        "proxy",
        "no_sanity",
        "no_verify",
        "no_tty",
        "authfile",
    }
)

_FEATURE_NETWORK_UPDATE_HAS_CORRECT_ORDER = 16
_REMOTE_AUTH_NONE = 0
_REMOTE_AUTH_POLKIT = 2


# --------------------------------------------------------------------------
# URIs


class ParsedURI:
    """A connection URI taken apart the way libvirt's remote driver does."""

    __slots__ = ("driver", "params", "path", "server", "socket", "transport", "uri")

    def __init__(
        self,
        uri: str,
        driver: str,
        transport: str | None,
        server: str,
        path: str,
        params: tuple[tuple[str, str], ...],
        socket: str | None,
    ) -> None:
        self.uri = uri
        self.driver = driver
        self.transport = transport
        self.server = server
        self.path = path
        self.params = params
        self.socket = socket

    def __repr__(self) -> str:
        return f"ParsedURI({self.uri!r})"

    @property
    def open_name(self) -> str:
        """The name sent in CONNECT_OPEN: no transport, no client-side parameters."""
        name = f"{self.driver}://{self.server}{self.path}"
        rest = [(k, v) for k, v in self.params if k not in _CLIENT_PARAMS]
        if rest:
            from urllib.parse import quote

            name += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='/:')}" for k, v in rest)
        return name

    def socket_path(self, readonly: bool = False) -> str:
        """The UNIX socket to connect to (``?socket=`` always wins)."""
        if self.socket:
            return self.socket
        return f"{DEFAULT_SOCKET_DIR}/{SOCKET_NAME_RO if readonly else SOCKET_NAME}"


def default_uri() -> str:
    """The URI used when none is given: ``$PYVIRT_DEFAULT_URI``, ``$LIBVIRT_DEFAULT_URI``, ``qemu:///system``."""
    for var in ("PYVIRT_DEFAULT_URI", "LIBVIRT_DEFAULT_URI"):
        value = _getenv(var)
        if value:
            return value
    return DEFAULT_URI


def _getenv(name: str) -> str | None:
    """``os.environ.get(name)`` without importing ``os`` when nothing has yet.

    pyvirsh's fast launcher runs without ``site``, which is what imports
    ``os`` (and ``_collections_abc``), ~2 ms of start-up.  Until ``os`` is
    imported nobody can have changed ``os.environ``, so the process
    environment ``posix.environ`` holds the same values.
    """
    os = sys.modules.get("os")
    if os is not None:
        return os.environ.get(name)  # type: ignore[no-any-return]
    import posix

    value = posix.environ.get(name.encode(sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()))
    if value is None:
        return None
    return value.decode(sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())


def _parse_query(query: str) -> tuple[tuple[str, str], ...]:
    """``a=b&c=d`` -> pairs, percent-decoding only when needed (keeps imports light)."""
    pairs: list[tuple[str, str]] = []
    for item in query.replace(";", "&").split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        if "%" in item or "+" in item:
            from urllib.parse import unquote_plus

            key, value = unquote_plus(key), unquote_plus(value)
        pairs.append((key, value))
    return tuple(pairs)


def parse_uri(uri: str) -> ParsedURI:
    """Split ``uri`` into its parts.

    Raises :class:`VirtError` (VIR_ERR_NO_CONNECT or VIR_ERR_INVALID_ARG) for a
    URI pyvirt cannot reach: no scheme, a remote server, or a transport other
    than ``unix``.
    """
    scheme, sep, rest = uri.partition("://")
    if not sep or not scheme:
        raise VirtError(ErrorNumber.INVALID_ARG, ErrorDomain.URI, f"Unable to parse URI {uri}")
    driver, plus, transport = scheme.partition("+")
    if not driver:
        raise VirtError(ErrorNumber.INVALID_ARG, ErrorDomain.URI, f"Unable to parse URI {uri}")
    authority_path, _, query = rest.partition("?")
    query = query.partition("#")[0]
    slash = authority_path.find("/")
    if slash < 0:
        server, path = authority_path, ""
    else:
        server, path = authority_path[:slash], authority_path[slash:]
    params = _parse_query(query) if query else ()
    if plus and transport != "unix":
        raise VirtError(
            ErrorNumber.NO_CONNECT,
            ErrorDomain.REMOTE,
            f"{uri}: transport '{transport}' is not supported by pyvirt (only unix)",
        )
    if server:
        raise VirtError(
            ErrorNumber.NO_CONNECT,
            ErrorDomain.REMOTE,
            f"{uri}: remote servers are not supported by pyvirt",
        )
    sock = None
    for key, value in params:
        if key == "socket":
            sock = value
    return ParsedURI(uri, driver, transport or None, server, path, params, sock)


# --------------------------------------------------------------------------
# helpers


def _uuid_bytes(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        if len(value) != 16:
            raise VirtError(ErrorNumber.INVALID_ARG, ErrorDomain.NONE, "uuid must be 16 bytes")
        return value
    # libvirt's virUUIDParse: 32 hex digits, dashes allowed anywhere, surrounding blanks ignored
    digits = value.strip().replace("-", "")
    try:
        if len(digits) != 32:
            raise ValueError(value)
        return bytes.fromhex(digits)
    except ValueError as err:
        raise VirtError(ErrorNumber.INVALID_ARG, ErrorDomain.NONE, f"invalid UUID '{value}'") from err


def uuid_str(value: bytes) -> str:
    """Format 16 raw bytes as ``xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx``."""
    h = bytes(value).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_uuid_str = uuid_str


def _chars(value: Any) -> str:
    """Decode a ``char x<>`` / ``char x[N]`` field (str, bytes or list of ints) up to its NUL."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.split("\0", 1)[0]
    if isinstance(value, bytes | bytearray):
        raw = bytes(value)
    else:
        raw = bytes(int(ch) & 0xFF for ch in value)
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def typed_param_value(param: Any) -> tuple[str, Any]:
    """Return ``(field, value)`` of a ``remote_typed_param`` as decoded by the codec.

    Accepts ``{"field": ..., "value": {"type": T, <member>: v}}``, a value given as a
    ``(type, v)`` pair, or a value that is already plain.
    """
    field = param["field"]
    value = param["value"]
    if isinstance(value, dict):
        for key in ("i", "ui", "l", "ul", "d", "b", "s", "value"):
            if key in value:
                return field, value[key]
        rest = [v for k, v in value.items() if k != "type"]
        return field, rest[0] if rest else None
    if isinstance(value, tuple | list) and len(value) == 2:
        return field, value[1]
    return field, value


# --------------------------------------------------------------------------
# public entry points


def open(uri: str | None = None) -> Connection:
    """Open a read-write connection to pyvirtd (libvirt's ``virConnectOpen``).

    Raises :class:`VirtError`: the URI is unusable, the socket cannot be
    reached (VIR_ERR_SYSTEM_ERROR "Failed to connect socket to ..."), or the
    daemon refuses the connection.
    """
    return Connection._open(uri, readonly=False)


def openReadOnly(uri: str | None = None) -> Connection:
    """Open a read-only connection (CONNECT_OPEN flags=1, the ``-sock-ro`` socket).

    Raises :class:`VirtError` like :func:`open`.
    """
    return Connection._open(uri, readonly=True)


class Connection:
    """A connection to pyvirtd; method names and return values follow libvirt-python."""

    def __init__(self, uri: str, rpc: Any, procs: Any, readonly: bool = False) -> None:
        self._uri = uri
        self._rpc = rpc
        self._procs = procs
        self.readonly = readonly
        self._callbacks: dict[int, tuple[str, EventCallback, Any]] = {}
        self._event_handler_set = False
        self._stats_supported = True

    # -- opening / closing ---------------------------------------------------

    @classmethod
    def _open(cls, uri: str | None, readonly: bool) -> Connection:
        name = uri if uri else default_uri()
        parsed = parse_uri(name)
        path = parsed.socket_path(readonly)
        from pyvirt.rpc import remote
        from pyvirt.rpc.client import RpcClient

        try:
            rpc = RpcClient(path)
        except VirtError:
            raise
        except OSError as err:
            raise VirtError(
                ErrorNumber.SYSTEM_ERROR,
                ErrorDomain.RPC,
                f"Failed to connect socket to '{path}': {err.strerror or err}",
            ) from err
        conn = cls(name, rpc, vars(remote.Proc), readonly)  # name -> number, without building a dict
        try:
            conn._handshake(parsed.open_name, readonly)
        except BaseException:
            rpc.close()
            raise
        return conn

    def _handshake(self, open_name: str, readonly: bool) -> None:
        try:
            ret = self._call("AUTH_LIST", None)
            types = list((ret or {}).get("types", []))
        except VirtError as err:
            if err.code != ErrorNumber.NO_SUPPORT:
                raise
            types = []
        if types and _REMOTE_AUTH_NONE not in types:
            if _REMOTE_AUTH_POLKIT in types:
                self._call("AUTH_POLKIT", None)
            else:
                raise VirtError(
                    ErrorNumber.AUTH_FAILED,
                    ErrorDomain.REMOTE,
                    f"unsupported authentication type {types[0]}",
                )
        self._call("CONNECT_OPEN", {"name": open_name, "flags": c.VIR_CONNECT_RO if readonly else 0})

    def _call(self, proc: str, args: dict[str, Any] | None) -> dict[str, Any] | None:
        if self._rpc is None:
            raise VirtError(ErrorNumber.INVALID_CONN, ErrorDomain.NONE, "connection is closed")
        result: dict[str, Any] | None = self._rpc.call(self._procs[proc], args)
        return result

    def _get(self, proc: str, args: dict[str, Any] | None, key: str) -> Any:
        ret = self._call(proc, args)
        if ret is None:
            raise VirtError(ErrorNumber.RPC, ErrorDomain.RPC, f"empty reply to {proc}")
        return ret[key]

    def close(self) -> int:
        """Close the connection (CONNECT_CLOSE, errors ignored); returns 0 like libvirt."""
        rpc, self._rpc = self._rpc, None
        if rpc is None:
            return 0
        try:
            rpc.call(self._procs["CONNECT_CLOSE"], None)
        except (VirtError, OSError):
            pass
        finally:
            rpc.close()
        return 0

    def isAlive(self) -> bool:
        return self._rpc is not None

    def isReadOnly(self) -> bool:
        return self.readonly

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- host ------------------------------------------------------------------

    def getURI(self) -> str:
        """The URI this connection was opened with (no RPC, like the remote driver)."""
        return self._uri

    def getType(self) -> str:
        return str(self._get("CONNECT_GET_TYPE", None, "type"))

    def getVersion(self) -> int:
        return int(self._get("CONNECT_GET_VERSION", None, "hv_ver"))

    def getLibVersion(self) -> int:
        return int(self._get("CONNECT_GET_LIB_VERSION", None, "lib_ver"))

    def getHostname(self) -> str:
        return str(self._get("CONNECT_GET_HOSTNAME", None, "hostname"))

    def getCapabilities(self) -> str:
        return str(self._get("CONNECT_GET_CAPABILITIES", None, "capabilities"))

    def nodeInfo(self) -> dict[str, Any]:
        """pyvirt extra: NODE_GET_INFO as a dict (``memory`` in KiB, ``model`` a str)."""
        ret = self._call("NODE_GET_INFO", None) or {}
        info = dict(ret)
        info["model"] = _chars(ret.get("model"))
        return info

    def getInfo(self) -> list[Any]:
        """libvirt-python's nodeinfo list: model, memory MiB, cpus, mhz, nodes, sockets, cores, threads."""
        i = self.nodeInfo()
        return [
            i["model"],
            int(i["memory"]) >> 10,
            i["cpus"],
            i["mhz"],
            i["nodes"],
            i["sockets"],
            i["cores"],
            i["threads"],
        ]

    def getSecurityModel(self) -> list[str]:
        """``[model, doi]`` of the host's security driver (empty strings when none)."""
        ret = self._call("NODE_GET_SECURITY_MODEL", None) or {}
        return [_chars(ret.get("model")), _chars(ret.get("doi"))]

    # -- domains -------------------------------------------------------------

    def _dom(self, raw: dict[str, Any]) -> Domain:
        return Domain(self, raw)

    def _net(self, raw: dict[str, Any]) -> Network:
        return Network(self, raw)

    def listAllDomains(self, flags: int = 0) -> list[Domain]:
        ret = self._get("CONNECT_LIST_ALL_DOMAINS", {"need_results": 1, "flags": flags}, "domains")
        wire = Domain._from_wire
        return [wire(self, d) for d in ret]

    def listAllDomainsWithState(self, flags: int = 0) -> list[tuple[Domain, int, int]]:
        """pyvirt extra: ``[(domain, state, reason)]`` in one round trip.

        Uses CONNECT_GET_ALL_DOMAIN_STATS with the state group; falls back to
        listAllDomains + one DOMAIN_GET_STATE per domain when the daemon answers
        VIR_ERR_NO_SUPPORT or the flags need filters the stats call lacks.
        Raises :class:`VirtError`.
        """
        if self._stats_supported and not flags & ~0xFF:
            try:
                ret = self._get(
                    "CONNECT_GET_ALL_DOMAIN_STATS",
                    {"doms": [], "stats": c.VIR_DOMAIN_STATS_STATE, "flags": flags},
                    "retStats",
                )
            except (VirtError, KeyError) as err:
                if isinstance(err, VirtError) and err.code not in (
                    ErrorNumber.NO_SUPPORT,
                    ErrorNumber.ARGUMENT_UNSUPPORTED,
                    ErrorNumber.INVALID_ARG,
                ):
                    raise
                self._stats_supported = False
            else:
                out: list[tuple[Domain, int, int]] = []
                for rec in ret:
                    values = dict(typed_param_value(p) for p in rec.get("params", []))
                    out.append(
                        (
                            self._dom(rec["dom"]),
                            int(values.get("state.state", c.VIR_DOMAIN_NOSTATE)),
                            int(values.get("state.reason", 0)),
                        )
                    )
                return out
        result: list[tuple[Domain, int, int]] = []
        for dom in self.listAllDomains(flags):
            try:
                state, reason = dom.state()
            except VirtError as err:
                if err.code == ErrorNumber.NO_DOMAIN:
                    continue  # vanished between the two calls
                raise
            result.append((dom, state, reason))
        return result

    def lookupByName(self, name: str) -> Domain:
        return self._dom(self._get("DOMAIN_LOOKUP_BY_NAME", {"name": name}, "dom"))

    def lookupByUUID(self, uuid: bytes) -> Domain:
        return self._dom(self._get("DOMAIN_LOOKUP_BY_UUID", {"uuid": _uuid_bytes(uuid)}, "dom"))

    def lookupByUUIDString(self, uuidstr: str) -> Domain:
        return self._dom(self._get("DOMAIN_LOOKUP_BY_UUID", {"uuid": _uuid_bytes(uuidstr)}, "dom"))

    def lookupByID(self, id: int) -> Domain:
        return self._dom(self._get("DOMAIN_LOOKUP_BY_ID", {"id": int(id)}, "dom"))

    def defineXML(self, xml: str) -> Domain:
        return self._dom(self._get("DOMAIN_DEFINE_XML", {"xml": xml}, "dom"))

    def defineXMLFlags(self, xml: str, flags: int = 0) -> Domain:
        return self._dom(self._get("DOMAIN_DEFINE_XML_FLAGS", {"xml": xml, "flags": flags}, "dom"))

    def createXML(self, xmlDesc: str, flags: int = 0) -> Domain:
        return self._dom(self._get("DOMAIN_CREATE_XML", {"xml_desc": xmlDesc, "flags": flags}, "dom"))

    # -- networks ------------------------------------------------------------

    def listAllNetworks(self, flags: int = 0) -> list[Network]:
        ret = self._get("CONNECT_LIST_ALL_NETWORKS", {"need_results": 1, "flags": flags}, "nets")
        return [self._net(n) for n in ret]

    def networkLookupByName(self, name: str) -> Network:
        return self._net(self._get("NETWORK_LOOKUP_BY_NAME", {"name": name}, "net"))

    def networkLookupByUUID(self, uuid: bytes) -> Network:
        return self._net(self._get("NETWORK_LOOKUP_BY_UUID", {"uuid": _uuid_bytes(uuid)}, "net"))

    def networkLookupByUUIDString(self, uuidstr: str) -> Network:
        return self._net(self._get("NETWORK_LOOKUP_BY_UUID", {"uuid": _uuid_bytes(uuidstr)}, "net"))

    def networkDefineXML(self, xml: str) -> Network:
        return self._net(self._get("NETWORK_DEFINE_XML", {"xml": xml}, "net"))

    def networkDefineXMLFlags(self, xml: str, flags: int = 0) -> Network:
        if not flags:
            return self.networkDefineXML(xml)
        return self._net(self._get("NETWORK_DEFINE_XML_FLAGS", {"xml": xml, "flags": flags}, "net"))

    def networkCreateXML(self, xmlDesc: str) -> Network:
        return self._net(self._get("NETWORK_CREATE_XML", {"xml": xmlDesc}, "net"))

    def networkCreateXMLFlags(self, xmlDesc: str, flags: int = 0) -> Network:
        if not flags:
            return self.networkCreateXML(xmlDesc)
        return self._net(self._get("NETWORK_CREATE_XML_FLAGS", {"xml": xmlDesc, "flags": flags}, "net"))

    # -- events --------------------------------------------------------------

    def _ensure_event_handler(self) -> None:
        if not self._event_handler_set:
            self._rpc.set_event_handler(self._on_event)
            self._event_handler_set = True

    def domainEventRegisterAny(
        self, dom: Domain | None, eventID: int, cb: EventCallback, opaque: Any = None
    ) -> int:
        """Register ``cb(conn, dom, event, detail, opaque)`` for lifecycle events; returns the id.

        Raises :class:`VirtError` (VIR_ERR_NO_SUPPORT for event ids other than lifecycle).
        """
        if eventID != c.VIR_DOMAIN_EVENT_ID_LIFECYCLE:
            raise VirtError(ErrorNumber.NO_SUPPORT, ErrorDomain.NONE, f"domain event id {eventID}")
        self._ensure_event_handler()
        cb_id = int(
            self._get(
                "CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY",
                {"eventID": eventID, "dom": dom._raw if dom is not None else None},
                "callbackID",
            )
        )
        self._callbacks[cb_id] = ("domain", cb, opaque)
        return cb_id

    def domainEventDeregisterAny(self, callbackID: int) -> None:
        self._callbacks.pop(callbackID, None)
        self._call("CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY", {"callbackID": callbackID})

    def networkEventRegisterAny(
        self, net: Network | None, eventID: int, cb: EventCallback, opaque: Any = None
    ) -> int:
        """Register ``cb(conn, net, event, detail, opaque)`` for network lifecycle events.

        Raises :class:`VirtError`.
        """
        if eventID != c.VIR_NETWORK_EVENT_ID_LIFECYCLE:
            raise VirtError(ErrorNumber.NO_SUPPORT, ErrorDomain.NONE, f"network event id {eventID}")
        self._ensure_event_handler()
        cb_id = int(
            self._get(
                "CONNECT_NETWORK_EVENT_REGISTER_ANY",
                {"eventID": eventID, "net": net._raw if net is not None else None},
                "callbackID",
            )
        )
        self._callbacks[cb_id] = ("network", cb, opaque)
        return cb_id

    def networkEventDeregisterAny(self, callbackID: int) -> None:
        self._callbacks.pop(callbackID, None)
        self._call("CONNECT_NETWORK_EVENT_DEREGISTER_ANY", {"callbackID": callbackID})

    def dispatchEvents(self, timeout: float | None) -> None:
        """pyvirt extra: wait up to ``timeout`` seconds for events and run their callbacks."""
        if self._rpc is None:
            raise VirtError(ErrorNumber.INVALID_CONN, ErrorDomain.NONE, "connection is closed")
        self._ensure_event_handler()
        self._rpc.poll_events(timeout)

    def _on_event(self, event: Any) -> None:
        """Run the callback registered for an :class:`~pyvirt.rpc.client.Event`."""
        body = event.msg
        if not isinstance(body, dict):
            return
        proc = int(event.proc)
        if proc == int(self._procs["DOMAIN_EVENT_CALLBACK_LIFECYCLE"]):
            entry = self._callbacks.get(int(body["callbackID"]))
            if entry is None or entry[0] != "domain":
                return
            msg = body["msg"]
            entry[1](self, self._dom(msg["dom"]), int(msg["event"]), int(msg["detail"]), entry[2])
        elif proc == int(self._procs["NETWORK_EVENT_LIFECYCLE"]):
            entry = self._callbacks.get(int(body["callbackID"]))
            if entry is None or entry[0] != "network":
                return
            entry[1](self, self._net(body["net"]), int(body["event"]), int(body["detail"]), entry[2])

    def supportsFeature(self, feature: int) -> int:
        """CONNECT_SUPPORTS_FEATURE; 0 when the daemon does not know the call."""
        try:
            return int(self._get("CONNECT_SUPPORTS_FEATURE", {"feature": feature}, "supported"))
        except VirtError as err:
            if err.code == ErrorNumber.NO_SUPPORT:
                return 0
            raise


class Domain:
    """A domain handle: name, uuid and the id the daemon reported when it was looked up."""

    def __init__(self, conn: Connection, raw: dict[str, Any]) -> None:
        self._conn = conn
        self._raw = {"name": raw["name"], "uuid": bytes(raw["uuid"]), "id": int(raw["id"])}

    @classmethod
    def _from_wire(cls, conn: Connection, raw: dict[str, Any]) -> Domain:
        """A handle adopting ``raw``, a freshly decoded ``remote_nonnull_domain`` (no copy)."""
        dom = cls.__new__(cls)
        dom._conn = conn
        dom._raw = raw
        return dom

    def __repr__(self) -> str:
        return f"<pyvirt.Domain {self.name()!r} id={self.ID()}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Domain) and other._raw["uuid"] == self._raw["uuid"]

    def __hash__(self) -> int:
        return hash(self._raw["uuid"])

    def connect(self) -> Connection:
        return self._conn

    def _call(self, proc: str, **args: Any) -> dict[str, Any] | None:
        return self._conn._call(proc, {"dom": dict(self._raw), **args})

    def _get(self, proc: str, key: str, **args: Any) -> Any:
        return self._conn._get(proc, {"dom": self._raw, **args}, key)

    def _refresh(self) -> None:
        """Re-read the id after a start (the remote driver does the same)."""
        fresh = self._conn._get("DOMAIN_LOOKUP_BY_UUID", {"uuid": self._raw["uuid"]}, "dom")
        self._raw["id"] = int(fresh["id"])

    # identity
    def name(self) -> str:
        return str(self._raw["name"])

    def UUID(self) -> bytes:
        return bytes(self._raw["uuid"])

    def UUIDString(self) -> str:
        return _uuid_str(self._raw["uuid"])

    def ID(self) -> int:
        """The id (-1 when inactive), as cached from the last lookup."""
        return int(self._raw["id"])

    # state
    def info(self) -> list[int]:
        """``[state, maxMem KiB, memory KiB, nrVirtCpu, cpuTime ns]``."""
        r = self._call("DOMAIN_GET_INFO") or {}
        return [int(r["state"]), int(r["maxMem"]), int(r["memory"]), int(r["nrVirtCpu"]), int(r["cpuTime"])]

    def state(self, flags: int = 0) -> list[int]:
        """``[state, reason]``."""
        r = self._call("DOMAIN_GET_STATE", flags=flags) or {}
        return [int(r["state"]), int(r["reason"])]

    def XMLDesc(self, flags: int = 0) -> str:
        return str(self._get("DOMAIN_GET_XML_DESC", "xml", flags=flags))

    def isActive(self) -> int:
        return int(self._get("DOMAIN_IS_ACTIVE", "active"))

    def isPersistent(self) -> int:
        return int(self._get("DOMAIN_IS_PERSISTENT", "persistent"))

    def autostart(self) -> int:
        return int(self._get("DOMAIN_GET_AUTOSTART", "autostart"))

    def setAutostart(self, autostart: int) -> int:
        self._call("DOMAIN_SET_AUTOSTART", autostart=1 if autostart else 0)
        return 0

    def OSType(self) -> str:
        return str(self._get("DOMAIN_GET_OS_TYPE", "type"))

    def hasManagedSaveImage(self, flags: int = 0) -> int:
        return int(self._get("DOMAIN_HAS_MANAGED_SAVE_IMAGE", "result", flags=flags))

    def securityLabel(self) -> list[Any]:
        """``[label, enforcing]``."""
        r = self._call("DOMAIN_GET_SECURITY_LABEL") or {}
        return [_chars(r.get("label")), int(r.get("enforcing", 0))]

    def getMessages(self, flags: int = 0) -> list[str]:
        return [str(m) for m in self._get("DOMAIN_GET_MESSAGES", "msgs", flags=flags)]

    # devices
    def attachDevice(self, xml: str) -> int:
        """Hotplug the device ``xml`` into the running domain.  Raises VirtError."""
        self._call("DOMAIN_ATTACH_DEVICE", xml=xml)
        return 0

    def attachDeviceFlags(self, xml: str, flags: int = 0) -> int:
        """Add the device ``xml`` live and/or to the config (VIR_DOMAIN_AFFECT_*).  Raises VirtError."""
        self._call("DOMAIN_ATTACH_DEVICE_FLAGS", xml=xml, flags=flags)
        return 0

    def detachDevice(self, xml: str) -> int:
        """Unplug the device ``xml`` from the running domain.  Raises VirtError."""
        self._call("DOMAIN_DETACH_DEVICE", xml=xml)
        return 0

    def detachDeviceFlags(self, xml: str, flags: int = 0) -> int:
        """Remove the device ``xml`` live and/or from the config (VIR_DOMAIN_AFFECT_*).  Raises VirtError."""
        self._call("DOMAIN_DETACH_DEVICE_FLAGS", xml=xml, flags=flags)
        return 0

    def updateDeviceFlags(self, xml: str, flags: int = 0) -> int:
        """Change a device (an interface's link state).  Raises VirtError."""
        self._call("DOMAIN_UPDATE_DEVICE_FLAGS", xml=xml, flags=flags)
        return 0

    # lifecycle
    def create(self) -> int:
        self._call("DOMAIN_CREATE")
        self._refresh()
        return 0

    def createWithFlags(self, flags: int = 0) -> int:
        if not flags:
            return self.create()
        r = self._get("DOMAIN_CREATE_WITH_FLAGS", "dom", flags=flags)
        self._raw["id"] = int(r["id"])
        return 0

    def destroy(self) -> int:
        self._call("DOMAIN_DESTROY")
        self._raw["id"] = -1
        return 0

    def destroyFlags(self, flags: int = 0) -> int:
        if not flags:
            return self.destroy()
        self._call("DOMAIN_DESTROY_FLAGS", flags=flags)
        self._raw["id"] = -1
        return 0

    def shutdown(self) -> int:
        self._call("DOMAIN_SHUTDOWN")
        return 0

    def shutdownFlags(self, flags: int = 0) -> int:
        if not flags:
            return self.shutdown()
        self._call("DOMAIN_SHUTDOWN_FLAGS", flags=flags)
        return 0

    def reboot(self, flags: int = 0) -> int:
        self._call("DOMAIN_REBOOT", flags=flags)
        return 0

    def reset(self, flags: int = 0) -> int:
        self._call("DOMAIN_RESET", flags=flags)
        return 0

    def suspend(self) -> int:
        self._call("DOMAIN_SUSPEND")
        return 0

    def resume(self) -> int:
        self._call("DOMAIN_RESUME")
        return 0

    def undefine(self) -> int:
        self._call("DOMAIN_UNDEFINE")
        return 0

    def undefineFlags(self, flags: int = 0) -> int:
        """DOMAIN_UNDEFINE_FLAGS; falls back to DOMAIN_UNDEFINE on NO_SUPPORT when flags == 0."""
        try:
            self._call("DOMAIN_UNDEFINE_FLAGS", flags=flags)
        except VirtError as err:
            if flags or err.code not in (ErrorNumber.NO_SUPPORT, ErrorNumber.INVALID_ARG):
                raise
            self._call("DOMAIN_UNDEFINE")
        return 0

    # interfaces / metadata
    def openConsole(self, dev_name: str | None = None, flags: int = 0) -> Console:
        """Open the guest's serial console (``flags`` 1 = force out another session).

        Raises:
            VirtError: not running, no pty console, or another session (without force).
        """
        rpc = self._conn._rpc
        if rpc is None:
            raise VirtError(ErrorNumber.INVALID_CONN, ErrorDomain.RPC, "connection is closed")
        proc = self._conn._procs["DOMAIN_OPEN_CONSOLE"]
        serial = rpc.call_stream(proc, {"dom": dict(self._raw), "dev_name": dev_name, "flags": flags})
        return Console(rpc, proc, serial)

    def interfaceAddresses(self, source: int, flags: int = 0) -> dict[str, dict[str, Any]]:
        """libvirt-python's shape: ``{ifname: {"hwaddr", "addrs": [{"type", "addr", "prefix"}]}}``."""
        ifaces = self._get("DOMAIN_INTERFACE_ADDRESSES", "ifaces", source=source, flags=flags)
        out: dict[str, dict[str, Any]] = {}
        for iface in ifaces:
            out[iface["name"]] = {
                "hwaddr": iface.get("hwaddr"),
                "addrs": [
                    {"type": int(a["type"]), "addr": a["addr"], "prefix": int(a["prefix"])}
                    for a in iface.get("addrs", [])
                ],
            }
        return out

    def interfaceAddressList(self, source: int, flags: int = 0) -> list[dict[str, Any]]:
        """pyvirt extra: like :meth:`interfaceAddresses` but keeps the daemon's order."""
        ifaces = self._get("DOMAIN_INTERFACE_ADDRESSES", "ifaces", source=source, flags=flags)
        return [
            {
                "name": i["name"],
                "hwaddr": i.get("hwaddr"),
                "addrs": [
                    {"type": int(a["type"]), "addr": a["addr"], "prefix": int(a["prefix"])}
                    for a in i.get("addrs", [])
                ],
            }
            for i in ifaces
        ]

    def setMetadata(
        self, type: int, metadata: str | None, key: str | None, uri: str | None, flags: int = 0
    ) -> int:
        self._call("DOMAIN_SET_METADATA", type=type, metadata=metadata, key=key, uri=uri, flags=flags)
        return 0

    def metadata(self, type: int, uri: str | None, flags: int = 0) -> str:
        return str(self._get("DOMAIN_GET_METADATA", "metadata", type=type, uri=uri, flags=flags))


class Network:
    """A network handle (``remote_nonnull_network``)."""

    def __init__(self, conn: Connection, raw: dict[str, Any]) -> None:
        self._conn = conn
        self._raw = {"name": raw["name"], "uuid": bytes(raw["uuid"])}

    def __repr__(self) -> str:
        return f"<pyvirt.Network {self.name()!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Network) and other._raw["uuid"] == self._raw["uuid"]

    def __hash__(self) -> int:
        return hash(self._raw["uuid"])

    def connect(self) -> Connection:
        return self._conn

    def _call(self, proc: str, **args: Any) -> dict[str, Any] | None:
        return self._conn._call(proc, {"net": self._raw, **args})

    def _get(self, proc: str, key: str, **args: Any) -> Any:
        return self._conn._get(proc, {"net": self._raw, **args}, key)

    def name(self) -> str:
        return str(self._raw["name"])

    def UUID(self) -> bytes:
        return bytes(self._raw["uuid"])

    def UUIDString(self) -> str:
        return _uuid_str(self._raw["uuid"])

    def XMLDesc(self, flags: int = 0) -> str:
        return str(self._get("NETWORK_GET_XML_DESC", "xml", flags=flags))

    def isActive(self) -> int:
        return int(self._get("NETWORK_IS_ACTIVE", "active"))

    def isPersistent(self) -> int:
        return int(self._get("NETWORK_IS_PERSISTENT", "persistent"))

    def autostart(self) -> int:
        return int(self._get("NETWORK_GET_AUTOSTART", "autostart"))

    def setAutostart(self, autostart: int) -> int:
        self._call("NETWORK_SET_AUTOSTART", autostart=1 if autostart else 0)
        return 0

    def bridgeName(self) -> str:
        return str(self._get("NETWORK_GET_BRIDGE_NAME", "name"))

    def create(self) -> int:
        self._call("NETWORK_CREATE")
        return 0

    def destroy(self) -> int:
        self._call("NETWORK_DESTROY")
        return 0

    def undefine(self) -> int:
        self._call("NETWORK_UNDEFINE")
        return 0

    def update(self, command: int, section: int, parentIndex: int, xml: str, flags: int = 0) -> int:
        """NETWORK_UPDATE, with libvirt's argument-order handshake.

        libvirt clients swap ``command`` and ``section`` on the wire unless the
        daemon reports VIR_DRV_FEATURE_NETWORK_UPDATE_HAS_CORRECT_ORDER (16);
        we do the same so pyvirtd sees what the real libvirt client sends.
        Raises :class:`VirtError`.
        """
        if not self._conn.supportsFeature(_FEATURE_NETWORK_UPDATE_HAS_CORRECT_ORDER):
            command, section = section, command
        self._call(
            "NETWORK_UPDATE",
            command=command,
            section=section,
            parentIndex=parentIndex,
            xml=xml,
            flags=flags,
        )
        return 0

    def DHCPLeases(self, mac: str | None = None, flags: int = 0) -> list[dict[str, Any]]:
        """Leases as libvirt-python dicts (iface, expirytime, type, mac, ipaddr, prefix, hostname, ...)."""
        leases = self._get("NETWORK_GET_DHCP_LEASES", "leases", mac=mac, need_results=1, flags=flags)
        keys = ("iface", "expirytime", "type", "mac", "iaid", "ipaddr", "prefix", "hostname", "clientid")
        return [{k: lease.get(k) for k in keys} for lease in leases]


class Console:
    """An open console stream (libvirt-python would hand a ``virStream``)."""

    def __init__(self, rpc: Any, proc: int, serial: int) -> None:
        self._rpc = rpc
        self._proc = proc
        self._serial = serial
        self.eof = False

    def fileno(self) -> int:
        return int(self._rpc.fileno())

    def send(self, data: bytes) -> None:
        """Send keystrokes to the guest."""
        self._rpc.stream_send(self._proc, self._serial, data)

    def recv(self, timeout: float | None = None) -> bytes | None:
        """Guest output; ``b""`` at end of stream, None if nothing came in ``timeout``."""
        got = self._rpc.stream_recv(self._serial, timeout)
        if got is None:
            return None
        _status, data = got
        if not data:  # an empty CONTINUE is end of data; OK ends the stream
            self.eof = True
        return data

    def finish(self) -> None:
        """End the session with libvirt's finish handshake (the daemon confirms)."""
        if self._rpc.closed:
            return
        self._rpc.stream_send(self._proc, self._serial, b"", status=0)
        self.eof = True
        while self._rpc.stream_recv(self._serial, 2.0) not in (None, (0, b"")):
            pass
