"""pyvirt.client: URI handling, the connection handshake and RPC mapping (fake transport)."""

from __future__ import annotations

from typing import Any

import pytest

from pyvirt import client
from pyvirt import constants as c
from pyvirt.client import Connection, default_uri, parse_uri
from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError
from pyvirt.rpc.remote import Proc

UUID = "361ea41e-a029-4eb3-8b87-7860f5faf70f"
UUID_BYTES = bytes.fromhex(UUID.replace("-", ""))


# -- URIs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "name", "rw", "ro"),
    [
        ("qemu:///system", "qemu:///system", "/run/pyvirt/pyvirt-sock", "/run/pyvirt/pyvirt-sock-ro"),
        ("qemu+unix:///system", "qemu:///system", "/run/pyvirt/pyvirt-sock", "/run/pyvirt/pyvirt-sock-ro"),
        ("qemu+unix:///system?socket=/tmp/x/sock", "qemu:///system", "/tmp/x/sock", "/tmp/x/sock"),
        ("qemu:///system?socket=/tmp/y&mode=legacy", "qemu:///system", "/tmp/y", "/tmp/y"),
        ("qemu:///system?socket=/tmp/a%20b", "qemu:///system", "/tmp/a b", "/tmp/a b"),
        ("qemu:///system?foo=bar&socket=/s", "qemu:///system?foo=bar", "/s", "/s"),
        ("network:///system", "network:///system", "/run/pyvirt/pyvirt-sock", "/run/pyvirt/pyvirt-sock-ro"),
    ],
)
def test_parse_uri(uri: str, name: str, rw: str, ro: str) -> None:
    parsed = parse_uri(uri)
    assert parsed.open_name == name
    assert parsed.socket_path(False) == rw
    assert parsed.socket_path(True) == ro


@pytest.mark.parametrize(
    ("uri", "code"),
    [
        ("qemu+ssh://host/system", ErrorNumber.NO_CONNECT),
        ("qemu+tcp:///system", ErrorNumber.NO_CONNECT),
        ("qemu://host/system", ErrorNumber.NO_CONNECT),
        ("not a uri", ErrorNumber.INVALID_ARG),
        ("://x", ErrorNumber.INVALID_ARG),
    ],
)
def test_parse_uri_rejects(uri: str, code: int) -> None:
    with pytest.raises(VirtError) as info:
        parse_uri(uri)
    assert info.value.code == code


def test_default_uri_env_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYVIRT_DEFAULT_URI", raising=False)
    monkeypatch.delenv("LIBVIRT_DEFAULT_URI", raising=False)
    assert default_uri() == "qemu:///system"
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", "qemu:///system?socket=/l")
    assert default_uri() == "qemu:///system?socket=/l"
    monkeypatch.setenv("PYVIRT_DEFAULT_URI", "qemu:///system?socket=/p")
    assert default_uri() == "qemu:///system?socket=/p"


def test_uuid_helpers() -> None:
    assert client.uuid_str(UUID_BYTES) == UUID
    assert client._uuid_bytes(UUID) == UUID_BYTES
    assert client._uuid_bytes(UUID.replace("-", "")) == UUID_BYTES
    with pytest.raises(VirtError):
        client._uuid_bytes("not-a-uuid")


# -- a fake RpcClient --------------------------------------------------------------


class FakeRpc:
    def __init__(self, replies: dict[int, Any] | None = None) -> None:
        self.calls: list[tuple[int, Any]] = []
        self.replies: dict[int, Any] = replies or {}
        self.closed = False
        self.handler: Any = None

    def call(self, proc: int, args: Any = None) -> Any:
        self.calls.append((proc, args))
        reply = self.replies.get(proc)
        if isinstance(reply, VirtError):
            raise reply
        if callable(reply):
            return reply(args)
        return reply

    def close(self) -> None:
        self.closed = True

    def set_event_handler(self, handler: Any) -> None:
        self.handler = handler

    def poll_events(self, timeout: float | None = None) -> list[Any]:
        return []


def open_fake(
    monkeypatch: pytest.MonkeyPatch, rpc: FakeRpc, uri: str | None, readonly: bool = False
) -> Connection:
    paths: list[str] = []

    def factory(path: str) -> FakeRpc:
        paths.append(path)
        return rpc

    monkeypatch.setattr("pyvirt.rpc.client.RpcClient", factory)
    conn = client.openReadOnly(uri) if readonly else client.open(uri)
    conn.socket_paths = paths  # type: ignore[attr-defined]
    return conn


def no_support() -> VirtError:
    return VirtError(ErrorNumber.NO_SUPPORT, ErrorDomain.RPC, "unknown procedure")


def test_handshake(monkeypatch: pytest.MonkeyPatch) -> None:
    rpc = FakeRpc({Proc.AUTH_LIST: {"types": [0]}})
    conn = open_fake(monkeypatch, rpc, "qemu+unix:///system?socket=/tmp/s")
    assert rpc.calls == [(Proc.AUTH_LIST, None), (Proc.CONNECT_OPEN, {"name": "qemu:///system", "flags": 0})]
    assert conn.socket_paths == ["/tmp/s"]  # type: ignore[attr-defined]
    assert conn.getURI() == "qemu+unix:///system?socket=/tmp/s"
    conn.close()
    assert rpc.calls[-1] == (Proc.CONNECT_CLOSE, None) and rpc.closed


def test_readonly_handshake_and_default_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYVIRT_DEFAULT_URI", raising=False)
    monkeypatch.delenv("LIBVIRT_DEFAULT_URI", raising=False)
    rpc = FakeRpc({Proc.AUTH_LIST: no_support()})
    conn = open_fake(monkeypatch, rpc, None, readonly=True)
    assert rpc.calls[-1] == (Proc.CONNECT_OPEN, {"name": "qemu:///system", "flags": 1})
    assert conn.socket_paths == ["/run/pyvirt/pyvirt-sock-ro"]  # type: ignore[attr-defined]
    assert conn.getURI() == "qemu:///system"


def test_polkit_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    rpc = FakeRpc({Proc.AUTH_LIST: {"types": [2]}, Proc.AUTH_POLKIT: {"complete": 1}})
    open_fake(monkeypatch, rpc, "qemu:///system")
    assert [p for p, _ in rpc.calls] == [Proc.AUTH_LIST, Proc.AUTH_POLKIT, Proc.CONNECT_OPEN]


def test_open_failure_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    rpc = FakeRpc({Proc.CONNECT_OPEN: VirtError(ErrorNumber.OPERATION_DENIED, ErrorDomain.REMOTE, "no")})
    with pytest.raises(VirtError):
        open_fake(monkeypatch, rpc, "qemu:///system")
    assert rpc.closed


def test_missing_socket_message() -> None:
    with pytest.raises(VirtError) as info:
        client.open("qemu:///system?socket=/nonexistent/sock")
    assert info.value.message == "Failed to connect socket to '/nonexistent/sock': No such file or directory"


# -- objects and procedures ----------------------------------------------------------


def dom_raw(name: str = "pc1", ident: int = -1) -> dict[str, Any]:
    return {"name": name, "uuid": UUID_BYTES, "id": ident}


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> tuple[Connection, FakeRpc]:
    rpc = FakeRpc({Proc.AUTH_LIST: {"types": [0]}})
    conn = open_fake(monkeypatch, rpc, "qemu:///system")
    rpc.calls.clear()
    return conn, rpc


def test_domain_calls(opened: tuple[Connection, FakeRpc]) -> None:
    conn, rpc = opened
    rpc.replies[Proc.DOMAIN_LOOKUP_BY_NAME] = {"dom": dom_raw()}
    rpc.replies[Proc.DOMAIN_LOOKUP_BY_UUID] = {"dom": dom_raw(ident=4)}
    rpc.replies[Proc.DOMAIN_GET_STATE] = {"state": 1, "reason": 1}
    rpc.replies[Proc.DOMAIN_GET_INFO] = {"state": 1, "maxMem": 2, "memory": 1, "nrVirtCpu": 1, "cpuTime": 5}
    dom = conn.lookupByName("pc1")
    assert (dom.name(), dom.UUIDString(), dom.ID()) == ("pc1", UUID, -1)
    dom.create()
    assert [p for p, _ in rpc.calls] == [
        Proc.DOMAIN_LOOKUP_BY_NAME,
        Proc.DOMAIN_CREATE,
        Proc.DOMAIN_LOOKUP_BY_UUID,
    ]
    assert dom.ID() == 4
    assert dom.state() == [1, 1]
    assert dom.info() == [1, 2, 1, 1, 5]
    dom.destroy()
    assert rpc.calls[-1] == (Proc.DOMAIN_DESTROY, {"dom": {"name": "pc1", "uuid": UUID_BYTES, "id": 4}})
    assert dom.ID() == -1
    conn.lookupByUUIDString(UUID)
    assert rpc.calls[-1] == (Proc.DOMAIN_LOOKUP_BY_UUID, {"uuid": UUID_BYTES})
    rpc.replies[Proc.DOMAIN_CREATE_XML] = {"dom": dom_raw("pc9", 9)}
    assert conn.createXML("<domain/>").ID() == 9
    assert rpc.calls[-1] == (Proc.DOMAIN_CREATE_XML, {"xml_desc": "<domain/>", "flags": 0})


def test_undefine_flags_falls_back(opened: tuple[Connection, FakeRpc]) -> None:
    conn, rpc = opened
    rpc.replies[Proc.DOMAIN_LOOKUP_BY_NAME] = {"dom": dom_raw()}
    rpc.replies[Proc.DOMAIN_UNDEFINE_FLAGS] = no_support()
    conn.lookupByName("pc1").undefineFlags(0)
    assert [p for p, _ in rpc.calls][-2:] == [Proc.DOMAIN_UNDEFINE_FLAGS, Proc.DOMAIN_UNDEFINE]


def test_list_with_state_uses_stats(opened: tuple[Connection, FakeRpc]) -> None:
    conn, rpc = opened
    rpc.replies[Proc.CONNECT_GET_ALL_DOMAIN_STATS] = {
        "retStats": [
            {
                "dom": dom_raw(ident=1),
                "params": [
                    {"field": "state.state", "value": (1, 1)},
                    {"field": "state.reason", "value": (1, 2)},
                ],
            }
        ]
    }
    rows = conn.listAllDomainsWithState(3)
    assert [(d.name(), s, r) for d, s, r in rows] == [("pc1", 1, 2)]
    assert rpc.calls == [(Proc.CONNECT_GET_ALL_DOMAIN_STATS, {"doms": [], "stats": 1, "flags": 3})]


def test_list_with_state_fallback(opened: tuple[Connection, FakeRpc]) -> None:
    conn, rpc = opened
    rpc.replies[Proc.CONNECT_GET_ALL_DOMAIN_STATS] = no_support()
    rpc.replies[Proc.CONNECT_LIST_ALL_DOMAINS] = {"domains": [dom_raw()], "ret": 1}
    rpc.replies[Proc.DOMAIN_GET_STATE] = {"state": 5, "reason": 2}
    assert [(d.name(), s, r) for d, s, r in conn.listAllDomainsWithState(3)] == [("pc1", 5, 2)]
    assert [p for p, _ in rpc.calls] == [
        Proc.CONNECT_GET_ALL_DOMAIN_STATS,
        Proc.CONNECT_LIST_ALL_DOMAINS,
        Proc.DOMAIN_GET_STATE,
    ]
    rpc.calls.clear()
    conn.listAllDomainsWithState(3)  # remembered: no second stats attempt
    assert rpc.calls[0][0] == Proc.CONNECT_LIST_ALL_DOMAINS
    rpc.calls.clear()
    conn._stats_supported = True
    conn.listAllDomainsWithState(c.VIR_CONNECT_LIST_DOMAINS_AUTOSTART | 3)  # filter stats cannot do
    assert rpc.calls[0][0] == Proc.CONNECT_LIST_ALL_DOMAINS


def test_network_calls_and_update_order(opened: tuple[Connection, FakeRpc]) -> None:
    conn, rpc = opened
    net_raw = {"name": "default", "uuid": UUID_BYTES}
    rpc.replies[Proc.NETWORK_LOOKUP_BY_NAME] = {"net": net_raw}
    rpc.replies[Proc.CONNECT_SUPPORTS_FEATURE] = {"supported": 0}
    net = conn.networkLookupByName("default")
    net.update(c.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, c.VIR_NETWORK_SECTION_IP_DHCP_HOST, -1, "<host/>", 2)
    assert rpc.calls[-2] == (Proc.CONNECT_SUPPORTS_FEATURE, {"feature": 16})
    # like libvirt's client: swapped on the wire when the daemon lacks the fixed order
    assert rpc.calls[-1][1]["command"] == c.VIR_NETWORK_SECTION_IP_DHCP_HOST
    assert rpc.calls[-1][1]["section"] == c.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST
    rpc.replies[Proc.CONNECT_SUPPORTS_FEATURE] = {"supported": 1}
    net.update(c.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, c.VIR_NETWORK_SECTION_IP_DHCP_HOST, -1, "<host/>", 2)
    assert rpc.calls[-1][1]["command"] == c.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST
    rpc.replies[Proc.NETWORK_GET_DHCP_LEASES] = {"leases": [], "ret": 0}
    assert net.DHCPLeases() == []
    assert rpc.calls[-1] == (
        Proc.NETWORK_GET_DHCP_LEASES,
        {"net": net_raw, "mac": None, "need_results": 1, "flags": 0},
    )


def test_node_info_and_security_model(opened: tuple[Connection, FakeRpc]) -> None:
    conn, rpc = opened
    rpc.replies[Proc.NODE_GET_INFO] = {
        "model": "x86_64",
        "memory": 2097152,
        "cpus": 2,
        "mhz": 1000,
        "nodes": 1,
        "sockets": 1,
        "cores": 2,
        "threads": 1,
    }
    assert conn.getInfo() == ["x86_64", 2048, 2, 1000, 1, 1, 2, 1]
    rpc.replies[Proc.NODE_GET_SECURITY_MODEL] = {"model": "none", "doi": "0"}
    assert conn.getSecurityModel() == ["none", "0"]


def test_event_dispatch(opened: tuple[Connection, FakeRpc]) -> None:
    from pyvirt.rpc.client import Event
    from pyvirt.rpc.protocol import REMOTE_PROGRAM

    conn, rpc = opened
    rpc.replies[Proc.CONNECT_NETWORK_EVENT_REGISTER_ANY] = {"callbackID": 7}
    seen: list[tuple[str, int, int]] = []
    cb_id = conn.networkEventRegisterAny(None, 0, lambda _c, n, e, d, _o: seen.append((n.name(), e, d)))
    assert cb_id == 7 and rpc.handler is not None
    body = {"callbackID": 7, "net": {"name": "default", "uuid": UUID_BYTES}, "event": 2, "detail": 0}
    rpc.handler(Event(REMOTE_PROGRAM, Proc.NETWORK_EVENT_LIFECYCLE, body))
    rpc.handler(Event(REMOTE_PROGRAM, Proc.NETWORK_EVENT_LIFECYCLE, {**body, "callbackID": 99}))
    assert seen == [("default", 2, 0)]
    conn.networkEventDeregisterAny(7)
    assert rpc.calls[-1] == (Proc.CONNECT_NETWORK_EVENT_DEREGISTER_ANY, {"callbackID": 7})


def test_lazy_package_exports() -> None:
    import pyvirt

    assert pyvirt.open is client.open
    assert pyvirt.openReadOnly is client.openReadOnly
    assert pyvirt.VirtError is VirtError
