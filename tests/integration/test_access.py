"""Access control: the read-only socket, socket and file permissions, unprivileged users.

* On the read-only socket (and on a read-write connection opened with
  VIR_CONNECT_RO) every state-changing procedure the daemon implements is
  refused with ``operation forbidden: read only access prevents <api>``
  (VIR_ERR_OPERATION_DENIED), with well-formed arguments, and nothing changes;
  every read-only procedure is allowed.
* The read-write socket is root's, mode 0600: ``nobody`` gets libvirt's
  "Failed to connect socket to '…': Permission denied" from the real
  libvirt-python, yet can use the read-only socket.
* Directories and files under ``--root`` get safe modes; object names and
  bridge names cannot write outside the root.

``nobody`` runs Debian's /usr/bin/python3 through ``setpriv``; no user is
created.
"""

from __future__ import annotations

import os
import random
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pyvirt.daemon import dispatch
from pyvirt.errors import ErrorNumber, VirtError
from pyvirt.rpc import remote
from pyvirt.rpc.protocol import MessageStatus
from pyvirt.rpc.remote import Proc
from tests.unit.xdr_strategies import sample_value

from .conftest import Daemon
from .resilience_util import (
    call_frame,
    frame,
    list_domains,
    list_networks,
    net_ref,
    net_xml,
    open_client,
    open_raw,
    read_reply,
)

pytestmark = pytest.mark.netns

IMPLEMENTED = sorted(p for p in dispatch._HANDLERS if p in remote.PROCEDURES)
WRITE_PROCS = [p for p in IMPLEMENTED if not remote.PROCEDURES[p].readonly]
READ_PROCS = [p for p in IMPLEMENTED if remote.PROCEDURES[p].readonly and p != Proc.CONNECT_CLOSE]


def _snapshot(root: Path) -> dict[str, bytes]:
    out = {}
    for sub in ("etc", "run/pyvirt/network", "run/pyvirt/qemu", "var/lib/pyvirt"):
        base = root / sub
        if base.exists():
            for p in sorted(base.rglob("*")):
                if p.suffix in (".status", ".macs"):
                    continue  # written by dnsmasq's lease helper on its own schedule
                if p.is_file() or p.is_symlink():
                    out[str(p.relative_to(root))] = (
                        os.readlink(p).encode() if p.is_symlink() else p.read_bytes()
                    )
    return out


def _setup_objects(daemon: Daemon) -> None:
    c = open_client(daemon.sock)
    try:
        extra = (
            "<ip address='10.91.0.1' prefix='24'><dhcp>"
            "<range start='10.91.0.10' end='10.91.0.20'/></dhcp></ip>"
        )
        c.call(Proc.NETWORK_DEFINE_XML, {"xml": net_xml("acl", bridge="pvtacl0", extra=extra)})
        c.call(Proc.NETWORK_CREATE, {"net": net_ref("acl")})
        c.call(Proc.NETWORK_DEFINE_XML, {"xml": net_xml("acl-off")})
    finally:
        c.close()


def _args_for(proc: int, rng: random.Random) -> Any:
    """Well-formed arguments, pointing at objects that exist where the layout allows."""
    codec = remote.PROCEDURES[proc].args
    args = sample_value(codec, rng)
    if isinstance(args, dict):
        if "net" in args and isinstance(args["net"], dict):
            args["net"] = net_ref("acl")
        if proc == Proc.DOMAIN_GET_XML_DESC:
            args["flags"] &= ~dispatch.VIR_DOMAIN_XML_SECURE
        if proc == Proc.DOMAIN_INTERFACE_ADDRESSES:
            args["source"] = 0
    return args


@pytest.mark.parametrize("how", ["ro-socket", "ro-flag"])
def test_read_only_refuses_every_state_change(daemon: Daemon, how: str) -> None:
    _setup_objects(daemon)
    before = _snapshot(daemon.root)
    s = open_raw(daemon.sock_ro) if how == "ro-socket" else open_raw(daemon.sock, readonly=True)
    rng = random.Random(5)
    refused = allowed = 0
    try:
        serial = 10
        for proc in WRITE_PROCS:
            spec = remote.PROCEDURES[proc]
            serial += 1
            s.sendall(call_frame(proc, _args_for(proc, rng), serial=serial))
            msg = read_reply(s)
            assert msg is not None, f"{spec.name}: connection closed"
            header, body = msg
            assert header.serial == serial and header.status == MessageStatus.ERROR, (
                f"{spec.name} was allowed"
            )
            err = remote.decode_error(body)
            assert err.code == ErrorNumber.OPERATION_DENIED == 29, (spec.name, err.message)
            assert err.message == f"operation forbidden: read only access prevents {spec.api}"
            refused += 1
        for proc in READ_PROCS:
            spec = remote.PROCEDURES[proc]
            serial += 1
            s.sendall(call_frame(proc, _args_for(proc, rng), serial=serial))
            msg = read_reply(s)
            assert msg is not None, f"{spec.name}: connection closed"
            header, body = msg
            if header.status == MessageStatus.ERROR:
                err = remote.decode_error(body)
                assert err.code != ErrorNumber.OPERATION_DENIED, (spec.name, err.message)
                assert "unexpected failure" not in (err.message or ""), (spec.name, err.message)
            allowed += 1
    finally:
        s.close()
    assert _snapshot(daemon.root) == before, "a read-only client changed something"
    print(f"\nread-only ({how}): {refused} state-changing procedures refused, {allowed} read-only allowed")
    assert refused == len(WRITE_PROCS) >= 20


def test_read_only_connection_cannot_read_secrets(daemon: Daemon) -> None:
    s = open_raw(daemon.sock_ro)
    try:
        dom = {"name": "x", "uuid": b"\0" * 16, "id": -1}
        s.sendall(call_frame(Proc.DOMAIN_GET_XML_DESC, {"dom": dom, "flags": 1}, serial=5))
        msg = read_reply(s)
        assert msg is not None
        err = remote.decode_error(msg[1])
        assert err.message == "operation forbidden: virDomainGetXMLDesc with secure flag"
        # CONNECT_OPEN cannot lift read-only on the read-only socket.
        s.sendall(frame(Proc.CONNECT_OPEN, b"\0\0\0\0\0\0\0\0", serial=6))
        msg = read_reply(s)
        assert msg is not None and msg[0].status == MessageStatus.ERROR
    finally:
        s.close()


def test_socket_modes_and_tree_permissions(daemon: Daemon) -> None:
    _setup_objects(daemon)
    c = open_client(daemon.sock)
    c.call(Proc.NETWORK_SET_AUTOSTART, {"net": net_ref("acl-off"), "autostart": 1})
    c.close()
    root = daemon.root

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.lstat().st_mode)

    rw, ro = daemon.sock.lstat(), daemon.sock_ro.lstat()
    assert stat.S_ISSOCK(rw.st_mode) and stat.S_ISSOCK(ro.st_mode)
    assert (rw.st_uid, stat.S_IMODE(rw.st_mode)) == (0, 0o600)
    assert stat.S_IMODE(ro.st_mode) == 0o666
    assert mode(root / "etc/pyvirt") == 0o755
    assert mode(root / "etc/pyvirt/qemu") == 0o755
    assert mode(root / "etc/pyvirt/qemu/networks") == 0o755
    assert mode(root / "run/pyvirt") == 0o755
    assert mode(root / "run/pyvirt/network") == 0o700
    assert mode(root / "run/pyvirt/qemu") == 0o700
    for p in (root / "etc/pyvirt/qemu/networks").glob("*.xml"):
        assert mode(p) == 0o600, p
    for p in (root / "run/pyvirt/network").glob("*.xml"):
        assert mode(p) == 0o600, p
    assert (root / "run/pyvirt/network/acl.xml").exists()
    # Nothing under the root is writable by others.
    for p in root.rglob("*"):
        if p.is_symlink() or stat.S_ISSOCK(p.lstat().st_mode):
            continue
        assert not p.lstat().st_mode & stat.S_IWOTH, f"{p} is world-writable"


NOBODY_SCRIPT = r"""
import sys, libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
rw, ro = sys.argv[1], sys.argv[2]
try:
    libvirt.open(rw)
    print("RW-OPENED")
except libvirt.libvirtError as e:
    print("RW-ERR", e.get_error_code(), e.get_error_message())
c = libvirt.openReadOnly(ro)
print("RO-NETS", " ".join(sorted(n.name() for n in c.listAllNetworks())))
try:
    c.networkDefineXML("<network><name>evil</name></network>")
    print("DEFINED")
except libvirt.libvirtError as e:
    print("DEFINE-ERR", e.get_error_code(), e.get_error_message())
c.close()
"""


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) missing")
def test_nobody_gets_read_only_access_only(daemon: Daemon) -> None:
    if subprocess.run(["/usr/bin/python3", "-c", "import libvirt"], capture_output=True).returncode:
        pytest.skip("python3-libvirt is not installed")
    _setup_objects(daemon)
    as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
    proc = subprocess.run(
        [*as_nobody, "/usr/bin/python3", "-c", NOBODY_SCRIPT, daemon.uri, daemon.uri_ro],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LIBVIRT_AUTOSTART": "0"},
        cwd="/",
    )
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stderr
    assert lines[0] == f"RW-ERR 38 Failed to connect socket to '{daemon.sock}': Permission denied", lines
    assert lines[1] == "RO-NETS acl acl-off default", lines
    denied = "operation forbidden: read only access prevents virNetworkDefineXML"
    assert lines[2] == f"DEFINE-ERR 29 {denied}", lines
    c = open_client(daemon.sock)
    try:
        assert "evil" not in list_networks(c)
    finally:
        c.close()


def test_names_cannot_escape_the_root(daemon: Daemon) -> None:
    c = open_client(daemon.sock)
    cases = {
        "network name with ../": "<network><name>../../x</name></network>",
        "bridge with /": "<network><name>b1</name><bridge name='../../tmp'/></network>",
        "bridge with space": "<network><name>b2</name><bridge name='a b'/></network>",
        "domain name with /": (
            "<domain type='qemu'><name>../../x</name><memory>65536</memory><os><type>hvm</type></os></domain>"
        ),
    }
    try:
        for what, xml in cases.items():
            proc = Proc.DOMAIN_DEFINE_XML if xml.startswith("<domain") else Proc.NETWORK_DEFINE_XML
            with pytest.raises(VirtError) as info:
                c.call(proc, {"xml": xml})
            assert info.value.code in (ErrorNumber.XML_ERROR, ErrorNumber.XML_DETAIL), (
                what,
                info.value.message,
            )
        assert set(list_networks(c)) == {"default"}
        assert list_domains(c) == {}
    finally:
        c.close()
    assert not (daemon.root / "etc/x.xml").exists() and not (daemon.root / "etc/pyvirt/x.xml").exists()
