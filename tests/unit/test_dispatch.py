"""The dispatcher's gatekeeping, with a fake daemon: open state, read-only access, unknown procedures.

Every procedure of the table the daemon implements is checked: on a read-only
connection a state-changing one is refused with libvirt's ``operation
forbidden: read only access prevents <api>`` (VIR_ERR_OPERATION_DENIED) before
its arguments are even decoded, and a read-only one is let through (it may
then fail for other reasons, never with that error).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any

import pytest

from pyvirt.daemon import dispatch
from pyvirt.daemon.dispatch import Dispatcher
from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError, no_domain
from pyvirt.rpc import remote
from pyvirt.rpc.remote import Proc
from pyvirt.uuids import format_uuid
from tests.unit.xdr_strategies import sample_value

IMPLEMENTED = sorted(p for p in dispatch._HANDLERS if p in remote.PROCEDURES)
WRITE_PROCS = [p for p in IMPLEMENTED if not remote.PROCEDURES[p].readonly]
READ_PROCS = [p for p in IMPLEMENTED if remote.PROCEDURES[p].readonly]


class _NoSuchObject:
    """A driver stand-in: every method says the object does not exist."""

    def __getattr__(self, name: str) -> Any:
        def fail(*_a: Any, **_k: Any) -> Any:
            raise no_domain("fake driver")

        return fail


@dataclass
class FakeDaemon:
    networks: Any
    domains: Any
    events: Any


@dataclass
class FakeClient:
    id: int = 1
    opened: bool = True
    socket_readonly: bool = False
    readonly: bool = False
    close_callback: bool = False
    keepalive_started: bool = False

    def start_keepalive(self) -> None:
        self.keepalive_started = True


def _dispatcher() -> Dispatcher:
    return Dispatcher(FakeDaemon(_NoSuchObject(), _NoSuchObject(), _NoSuchObject()))  # type: ignore[arg-type]


def _run(d: Dispatcher, client: FakeClient, proc: int, payload: bytes) -> Any:
    return asyncio.run(d.dispatch(client, proc, payload))  # type: ignore[arg-type]


def test_tables_are_non_trivial() -> None:
    assert len(WRITE_PROCS) >= 20 and len(READ_PROCS) >= 30
    for proc in (Proc.DOMAIN_DEFINE_XML, Proc.NETWORK_CREATE, Proc.DOMAIN_DESTROY, Proc.NETWORK_UPDATE):
        assert proc in WRITE_PROCS
    for proc in (Proc.CONNECT_LIST_ALL_NETWORKS, Proc.NETWORK_GET_XML_DESC, Proc.DOMAIN_GET_STATE):
        assert proc in READ_PROCS


@pytest.mark.parametrize("proc", WRITE_PROCS, ids=lambda p: remote.PROCEDURES[p].name)
def test_readonly_client_refused_every_state_change(proc: int) -> None:
    spec = remote.PROCEDURES[proc]
    client = FakeClient(readonly=True, socket_readonly=True)
    with pytest.raises(VirtError) as info:
        _run(_dispatcher(), client, proc, b"")  # refused before the payload is looked at
    err = info.value
    assert err.code == ErrorNumber.OPERATION_DENIED
    assert err.message == f"operation forbidden: read only access prevents {spec.api}"


@pytest.mark.parametrize("proc", READ_PROCS, ids=lambda p: remote.PROCEDURES[p].name)
def test_readonly_client_may_call_every_read_only_procedure(proc: int) -> None:
    codec = remote.PROCEDURES[proc].args
    rng = random.Random(proc)
    for _ in range(3):
        args = sample_value(codec, rng)
        if proc == Proc.DOMAIN_GET_XML_DESC:
            args["flags"] &= ~dispatch.VIR_DOMAIN_XML_SECURE
        if proc == Proc.DOMAIN_INTERFACE_ADDRESSES:
            args["source"] = 0
        if proc == Proc.CONNECT_OPEN:
            continue  # needs a closed connection; covered below
        client = FakeClient(readonly=True, socket_readonly=True)
        try:
            _run(_dispatcher(), client, proc, remote.encode(codec, args))
        except VirtError as err:
            assert err.code != ErrorNumber.OPERATION_DENIED, err.message
        except Exception:
            pass  # the fake drivers are not real ones; only the access check matters here


def test_readonly_secure_xml_and_agent_addresses_refused() -> None:
    d = _dispatcher()
    client = FakeClient(readonly=True)
    dom = {"name": "x", "uuid": b"\0" * 16, "id": -1}
    payload = remote.encode(remote.PROCEDURES[Proc.DOMAIN_GET_XML_DESC].args, {"dom": dom, "flags": 1})
    with pytest.raises(VirtError, match="virDomainGetXMLDesc with secure flag") as info:
        _run(d, client, Proc.DOMAIN_GET_XML_DESC, payload)
    assert info.value.code == ErrorNumber.OPERATION_DENIED
    payload = remote.encode(
        remote.PROCEDURES[Proc.DOMAIN_INTERFACE_ADDRESSES].args, {"dom": dom, "source": 1, "flags": 0}
    )
    with pytest.raises(VirtError, match="read only access prevents virDomainInterfaceAddresses"):
        _run(d, client, Proc.DOMAIN_INTERFACE_ADDRESSES, payload)


def test_calls_before_open_refused() -> None:
    d = _dispatcher()
    client = FakeClient(opened=False)
    with pytest.raises(VirtError) as info:
        _run(d, client, Proc.CONNECT_LIST_ALL_NETWORKS, b"\0\0\0\1\0\0\0\0")
    assert info.value.code == ErrorNumber.INTERNAL_ERROR
    assert info.value.domain == ErrorDomain.RPC
    assert info.value.message == "internal error: connection not open"
    # The handshake procedures work before open.
    _run(d, client, Proc.AUTH_LIST, b"")
    _run(d, client, Proc.CONNECT_SUPPORTS_FEATURE, b"\0\0\0\x0a")


def test_open_with_ro_flag_makes_the_connection_read_only() -> None:
    d = _dispatcher()
    client = FakeClient(opened=False)
    args = remote.encode(remote.PROCEDURES[Proc.CONNECT_OPEN].args, {"name": "qemu:///system", "flags": 1})
    _run(d, client, Proc.CONNECT_OPEN, args)
    assert client.opened and client.readonly
    with pytest.raises(VirtError, match="read only access prevents virNetworkDefineXML"):
        _run(d, client, Proc.NETWORK_DEFINE_XML, b"")
    with pytest.raises(VirtError, match="connection already open"):
        _run(d, client, Proc.CONNECT_OPEN, args)


def test_readonly_socket_cannot_open_read_write() -> None:
    d = _dispatcher()
    client = FakeClient(opened=False, socket_readonly=True, readonly=True)
    args = remote.encode(remote.PROCEDURES[Proc.CONNECT_OPEN].args, {"name": "qemu:///system", "flags": 0})
    _run(d, client, Proc.CONNECT_OPEN, args)
    assert client.readonly


def test_unknown_procedure() -> None:
    d = _dispatcher()
    for proc in (0, -1, 99999, max(remote.PROCEDURES) + 1):
        with pytest.raises(VirtError) as info:
            _run(d, FakeClient(), proc, b"")
        assert info.value.code == ErrorNumber.NO_SUPPORT
        assert info.value.message.endswith(f"unknown procedure: {proc}")


@dataclass
class _Ref:
    """A domain or network object as the listings see it: name, uuid text, id."""

    name: str
    uuid: str
    id: int | None = None

    def ref(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "uuid": bytes.fromhex(self.uuid.replace("-", ""))}
        if self.id is not None:
            out["id"] = self.id
        return out


@pytest.mark.parametrize("need_results", [1, 0])
def test_list_all_replies_packed_by_hand_match_the_codec(need_results: int) -> None:
    rng = random.Random(7)
    names = ["a", "ab", "abc", "abcd", "pc1", "dömäin-ü", "x" * 255]
    doms = [_Ref(n, format_uuid(rng.randbytes(16)), rng.choice([-1, 1, 2**31 - 1])) for n in names]
    nets = [_Ref(n, format_uuid(rng.randbytes(16))) for n in names]
    for proc, objs, key, limit, with_id in (
        (Proc.CONNECT_LIST_ALL_DOMAINS, doms, "domains", remote.DOMAIN_LIST_MAX, True),
        (Proc.CONNECT_LIST_ALL_NETWORKS, nets, "nets", remote.NETWORK_LIST_MAX, False),
    ):
        for n in range(len(objs) + 1):
            fast = dispatch._encoded_list(objs[:n], bool(need_results), limit, with_id)
            value = {key: [o.ref() for o in objs[:n]] if need_results else [], "ret": n}
            assert fast == remote.encode(remote.PROCEDURES[proc].ret, value)
    # Over the protocol's limit the generic codec answers (with its error).
    assert dispatch._encoded_list(doms * 3, True, 20, True) is None
