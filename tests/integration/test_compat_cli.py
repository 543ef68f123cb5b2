"""The walkthrough's definition-level commands, through the real virsh and pyvirsh.

Each command's stdout, stderr and exit code are compared byte for byte with
what the real libvirt 9.0 printed (tests/data/reference), after masking the
values that change from run to run (UUIDs, generated MACs).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from .conftest import PYVIRTD, VIRSH, Daemon, Result

REF = Path(__file__).resolve().parents[1] / "data/reference"
OUT = REF / "libvirt-9.0-outputs"
XML = REF / "xml"

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MAC_RE = re.compile(r"52:54:00(:[0-9a-f]{2}){3}")

pytestmark = pytest.mark.netns


def mask(text: str) -> str:
    return MAC_RE.sub("52:54:00:XX:XX:XX", UUID_RE.sub("UUID", text))


def expected(name: str) -> Result:
    stdout = (OUT / f"{name}.txt").read_text()
    err_file = OUT / f"{name}.stderr"
    stderr = err_file.read_text() if err_file.exists() else ""
    return Result(0 if not stderr else 1, stdout, stderr)


def assert_same(got: Result, name: str) -> None:
    want = expected(name)
    assert (got.rc, mask(got.out), mask(got.err)) == (want.rc, mask(want.out), mask(want.err))


CLIENTS = ["pyvirsh", pytest.param("virsh", marks=pytest.mark.skipif(VIRSH is None, reason="no virsh"))]


def run(daemon: Daemon, client: str, *args: str, ro: bool = False) -> Result:
    return daemon.virsh(*args, ro=ro) if client == "virsh" else daemon.pyvirsh(*args, ro=ro)


@pytest.mark.parametrize("client", CLIENTS)
def test_walkthrough_definitions(daemon: Daemon, client: str) -> None:
    for name in ("pc1.xml", "pc1-dup-name-other-uuid.xml", "malformed.xml", "net-dupbr.xml", "net-clash.xml"):
        shutil.copy(XML / name, daemon.root / name)

    assert_same(run(daemon, client, "net-list"), "003-virsh-net-list")
    assert_same(run(daemon, client, "net-list", "--all"), "004-virsh-net-list--all")
    assert_same(run(daemon, client, "net-info", "default"), "005-virsh-net-info-default-inactive")
    assert_same(run(daemon, client, "net-autostart", "default"), "022-virsh-net-autostart")
    assert "default   inactive   yes" in run(daemon, client, "net-list", "--all").out
    assert_same(
        run(daemon, client, "net-autostart", "--disable", "default"), "024-virsh-net-autostart--disable"
    )
    assert_same(run(daemon, client, "list"), "025-virsh-list")
    assert_same(run(daemon, client, "list", "--all"), "026-virsh-list--all")
    assert_same(run(daemon, client, "define", "pc1.xml"), "027-virsh-define-pc1")
    assert_same(run(daemon, client, "list", "--all"), "028-virsh-list--all-defined")
    assert_same(run(daemon, client, "domstate", "pc1", "--reason"), "029-virsh-domstate-reason-defined")
    assert_same(run(daemon, client, "dominfo", "pc1"), "030-virsh-dominfo-pc1-shutoff")
    assert_same(run(daemon, client, "dumpxml", "pc1"), "031-virsh-dumpxml-pc1-defined")
    got = run(daemon, client, "dumpxml", "pc1")
    grep = "".join(line + "\n" for line in got.out.splitlines() if "network=" in line.lower())
    assert grep == (OUT / "032-virsh-dumpxml-pc1-grep-network.txt").read_text()

    # Error paths: libvirt's messages, exit code 1, nothing changed.
    assert_same(
        run(daemon, client, "define", "pc1-dup-name-other-uuid.xml"), "061-err-define-dup-name-other-uuid"
    )
    assert_same(run(daemon, client, "net-define", "net-dupbr.xml"), "063-err-net-define-bridge-in-use")
    assert_same(run(daemon, client, "start", "nosuch"), "067-err-start-nonexistent")
    assert_same(run(daemon, client, "define", "malformed.xml"), "068-err-define-malformed")
    assert_same(run(daemon, client, "define", "/nonexistent/file.xml"), "069-err-define-missing-file")
    assert_same(run(daemon, client, "dominfo", "nosuch"), "070-err-dominfo-nonexistent")
    assert_same(run(daemon, client, "undefine", "nosuch"), "071-err-undefine-nonexistent")
    assert_same(run(daemon, client, "net-start", "nosuch"), "072-err-net-start-nonexistent")
    assert_same(run(daemon, client, "frobnicate"), "073-err-unknown-command")
    assert_same(run(daemon, client, "list", "--all"), "028-virsh-list--all-defined")

    assert_same(run(daemon, client, "net-define", "net-clash.xml"), "064-net-define-clash")
    assert_same(run(daemon, client, "net-undefine", "clash"), "066-net-undefine-clash")

    assert_same(run(daemon, client, "undefine", "pc1"), "082-virsh-undefine-pc1")
    assert_same(run(daemon, client, "list", "--all"), "083-virsh-list--all-after-undefine")
    assert_same(run(daemon, client, "dominfo", "pc1"), "084-err-dominfo-pc1-undefined")
    assert not (daemon.root / "etc/pyvirt/qemu/pc1.xml").exists()


@pytest.mark.parametrize("client", CLIENTS)
def test_read_only_socket_refuses_changes(daemon: Daemon, client: str) -> None:
    shutil.copy(XML / "pc1.xml", daemon.root / "pc1.xml")
    got = run(daemon, client, "define", "pc1.xml", ro=True)
    assert got.rc == 1
    assert got.err == (
        "error: Failed to define domain from pc1.xml\n"
        "error: operation forbidden: read only access prevents virDomainDefineXML\n"
    )
    assert not (daemon.root / "etc/pyvirt/qemu/pc1.xml").exists()
    # Reading is allowed.
    assert_same(run(daemon, client, "net-list", "--all", ro=True), "004-virsh-net-list--all")


def test_sockets_permissions(daemon: Daemon) -> None:
    assert daemon.sock.stat().st_mode & 0o777 == 0o600
    assert daemon.sock_ro.stat().st_mode & 0o777 == 0o666


def test_definitions_survive_restart(daemon: Daemon) -> None:
    shutil.copy(XML / "pc1.xml", daemon.root / "pc1.xml")
    assert daemon.pyvirsh("define", "pc1.xml").rc == 0
    uuid = daemon.pyvirsh("domuuid", "pc1").out
    daemon.stop()
    daemon.start()
    assert daemon.pyvirsh("domuuid", "pc1").out == uuid
    assert_same(daemon.pyvirsh("net-list", "--all"), "004-virsh-net-list--all")


def test_second_daemon_on_same_root_refused(daemon: Daemon) -> None:
    got = daemon.ns.run(str(PYVIRTD), "--root", str(daemon.root), check=False, timeout=20)
    assert got.returncode == 1
    assert "already running" in got.stderr


def test_libvirt_python(daemon: Daemon) -> None:
    if not Path("/usr/bin/python3").exists():
        pytest.skip("no /usr/bin/python3")
    xml = (XML / "pc1.xml").read_text()
    script = f"""
import libvirt, sys
conn = libvirt.open({daemon.uri!r})
dom = conn.defineXML({xml!r})
assert dom.name() == 'pc1', dom.name()
assert conn.lookupByName('pc1').UUIDString() == dom.UUIDString()
assert "<source network='default'/>" in dom.XMLDesc(0)
assert [d.name() for d in conn.listAllDomains()] == ['pc1']
assert dom.info()[0] == libvirt.VIR_DOMAIN_SHUTOFF
try:
    conn.lookupByName('nosuch')
except libvirt.libvirtError as e:
    assert e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN, e.get_error_code()
    msg = e.get_error_message()
    assert msg == "Domain not found: no domain with matching name 'nosuch'", msg
else:
    sys.exit('lookup of nosuch succeeded')
net = conn.networkLookupByName('default')
assert net.bridgeName() == 'virbr0'
assert not net.isActive() and net.isPersistent()
dom.undefine()
assert conn.listAllDomains() == []
conn.close()
print('OK')
"""
    got = daemon.python_libvirt(script)
    assert got.out.strip() == "OK", got.err
