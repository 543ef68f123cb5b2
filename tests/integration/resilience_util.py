"""Helpers for the resilience, fuzz and access tests against a live pyvirtd.

Clients here use pyvirt's own low-level ``RpcClient`` (stable while the
high-level API changes), speaking to the daemon's unix sockets directly: unix
sockets are files, so the test process reaches a daemon that runs in another
network namespace without entering it.
"""

from __future__ import annotations

import re
import socket
import struct
import uuid as uuidlib
from pathlib import Path
from typing import Any

from pyvirt.conf.domain import parse_domain
from pyvirt.conf.network import parse_network
from pyvirt.errors import VirtError
from pyvirt.rpc import protocol, remote
from pyvirt.rpc.client import RpcClient
from pyvirt.rpc.protocol import Header, MessageStatus, MessageType
from pyvirt.rpc.remote import Proc
from pyvirt.store import TEMP_PREFIX

GEN = re.compile(r"gen-(\d+)")


def open_client(sock: Path, *, readonly: bool = False, timeout: float = 60) -> RpcClient:
    """Connect and open the connection as virsh does (AUTH_LIST, CONNECT_OPEN).

    Raises:
        VirtError: the socket cannot be reached or the daemon refuses.
    """
    client = RpcClient(str(sock), timeout=timeout)
    try:
        client.call(Proc.AUTH_LIST)
        client.call(Proc.CONNECT_OPEN, {"name": "qemu:///system", "flags": 1 if readonly else 0})
    except BaseException:
        client.close()
        raise
    return client


def fixed_uuid(name: str) -> str:
    return str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"pyvirt-test/{name}"))


def net_xml(name: str, gen: int = 0, *, bridge: str | None = None, extra: str = "") -> str:
    br = f"<bridge name='{bridge}'/>" if bridge else ""
    return (
        f"<network><name>{name}</name><uuid>{fixed_uuid(name)}</uuid>"
        f"<description>gen-{gen}</description>{br}{extra}</network>"
    )


def dom_xml(name: str, gen: int = 0) -> str:
    return (
        f"<domain type='qemu'><name>{name}</name><uuid>{fixed_uuid(name)}</uuid>"
        f"<description>gen-{gen}</description><memory unit='MiB'>64</memory>"
        "<os><type arch='x86_64'>hvm</type></os></domain>"
    )


def net_ref(name: str) -> dict[str, Any]:
    return {"name": name, "uuid": uuidlib.UUID(fixed_uuid(name)).bytes}


def dom_ref(name: str) -> dict[str, Any]:
    return {"name": name, "uuid": uuidlib.UUID(fixed_uuid(name)).bytes, "id": -1}


def list_networks(client: RpcClient) -> dict[str, bool]:
    """``{name: autostart}`` of every network the daemon has."""
    nets = client.call(Proc.CONNECT_LIST_ALL_NETWORKS, {"need_results": 1, "flags": 0})["nets"]
    return {n["name"]: bool(client.call(Proc.NETWORK_GET_AUTOSTART, {"net": n})["autostart"]) for n in nets}


def list_domains(client: RpcClient) -> dict[str, bool]:
    """``{name: autostart}`` of every domain the daemon has."""
    doms = client.call(Proc.CONNECT_LIST_ALL_DOMAINS, {"need_results": 1, "flags": 0})["domains"]
    return {d["name"]: bool(client.call(Proc.DOMAIN_GET_AUTOSTART, {"dom": d})["autostart"]) for d in doms}


def disk_state(root: Path) -> dict[str, dict[str, tuple[int | None, bool]]]:
    """What is stored under ``root``: ``{"networks"|"domains": {name: (gen, autostart)}}``.

    Every definition file must parse, hold the name it is named after, and no
    temp file may be left over.

    Raises:
        AssertionError: a file does not parse, or a temp file remains.
    """
    etc = root / "etc/pyvirt/qemu"
    leftovers = [p for p in root.rglob(f"{TEMP_PREFIX}*")]
    assert not leftovers, f"temp files left: {leftovers}"
    out: dict[str, dict[str, tuple[int | None, bool]]] = {"networks": {}, "domains": {}}
    for kind, directory in (("domains", etc), ("networks", etc / "networks")):
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.xml")):
            text = path.read_text()
            try:
                obj: Any = parse_network(text) if kind == "networks" else parse_domain(text, None)
            except VirtError as err:
                raise AssertionError(f"{path} does not parse: {err.message}\n{text}") from err
            assert obj.name == path.stem, f"{path} holds {obj.name}"
            m = GEN.search(text)
            auto = (directory / "autostart" / path.name).is_symlink()
            out[kind][obj.name] = (int(m.group(1)) if m else None, auto)
        for link in (directory / "autostart").glob("*.xml") if (directory / "autostart").is_dir() else []:
            assert (directory / link.name).exists(), f"dangling autostart link {link}"
    return out


def vmrss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def raw_socket(path: Path, timeout: float = 10) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(path))
    return s


def frame(
    proc: int,
    payload: bytes = b"",
    *,
    serial: int = 1,
    prog: int = protocol.REMOTE_PROGRAM,
    vers: int = protocol.REMOTE_PROTOCOL_VERSION,
    mtype: int = MessageType.CALL,
    status: int = MessageStatus.OK,
) -> bytes:
    return protocol.pack_message(Header(prog, vers, proc, mtype, serial, status), payload)


def call_frame(proc: int, args: Any, serial: int = 1) -> bytes:
    return frame(proc, remote.encode(remote.PROCEDURES[proc].args, args), serial=serial)


def read_reply(s: socket.socket) -> tuple[Header, bytes] | None:
    """Read one message; None when the daemon closed the connection."""
    head = _recv_exactly(s, 4)
    if head is None:
        return None
    (length,) = struct.unpack(">I", head)
    body = _recv_exactly(s, length - 4)
    if body is None:
        return None
    return protocol.unpack_header(body), body[24:]


def _recv_exactly(s: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        try:
            chunk = s.recv(n - len(buf))
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


def open_raw(path: Path, readonly: bool = False) -> socket.socket:
    """A raw socket with the connection opened (serials 0 and 1 used)."""
    s = raw_socket(path)
    s.sendall(frame(Proc.AUTH_LIST, serial=0))
    assert read_reply(s) is not None
    s.sendall(call_frame(Proc.CONNECT_OPEN, {"name": "qemu:///system", "flags": int(readonly)}, serial=1))
    reply = read_reply(s)
    assert reply is not None and reply[0].status == MessageStatus.OK
    return s
