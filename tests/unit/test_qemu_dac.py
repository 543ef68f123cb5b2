"""pyvirt.qemu.dac: which files a domain needs, and handing them over and back with refcounts."""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyvirt.conf.domain import parse_domain, pin_interface_aliases, with_device
from pyvirt.conf.xmlutil import parse_xml
from pyvirt.errors import VirtError
from pyvirt.qemu import dac

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown and trusted.* xattrs need root")

USER = dac.QemuUser("test-qemu", 4711, 4712, frozenset({4712}))


@pytest.fixture
def pub() -> Iterator[Path]:
    """A directory the QEMU user can reach (pytest's own tmp_path is 0700)."""
    d = Path(tempfile.mkdtemp(prefix="pv-dac-", dir="/tmp"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def qcow2(path: Path, backing: str | None) -> None:
    """A qcow2 header naming ``backing`` (enough for the chain reader)."""
    header = bytearray(512)
    header[:4] = b"QFI\xfb"
    struct.pack_into(">I", header, 4, 3)
    if backing:
        struct.pack_into(">QI", header, 8, 256, len(backing))
        header[256 : 256 + len(backing)] = backing.encode()
    path.write_bytes(bytes(header))


def test_backing_chain_relative_and_absolute(tmp_path: Path) -> None:
    base = tmp_path / "base.raw"
    base.write_bytes(b"\0" * 512)
    mid = tmp_path / "sub" / "mid.qcow2"
    mid.parent.mkdir()
    qcow2(mid, str(base))
    top = tmp_path / "top.qcow2"
    qcow2(top, "sub/mid.qcow2")
    assert dac.backing_chain(str(top), "qcow2") == [str(mid), str(base)]
    assert dac.backing_chain(str(top), "raw") == []
    assert dac.backing_chain(str(base), None) == []


def test_domain_files(tmp_path: Path) -> None:
    top = tmp_path / "top.qcow2"
    base = tmp_path / "base.raw"
    base.write_bytes(b"")
    qcow2(top, "base.raw")
    dom = parse_domain(
        f"""<domain type='qemu'><name>f</name><memory>65536</memory>
        <os><type>hvm</type><kernel>/k</kernel><initrd>/i</initrd></os>
        <devices>
          <disk type='file'><driver name='qemu' type='qcow2'/><source file='{top}'/><target dev='vda'/></disk>
          <disk type='file' device='cdrom'><source file='/cd.iso'/><target dev='hdc'/></disk>
        </devices></domain>"""
    )
    assert dac.domain_files(dom) == [
        (str(top), True),
        (str(base), False),
        ("/cd.iso", False),
        ("/k", False),
        ("/i", False),
    ]


@needs_root
def test_labels_refcounted_and_restored(pub: Path) -> None:
    tmp_path = pub
    f = tmp_path / "disk.img"
    f.write_bytes(b"x")
    os.chown(f, 1234, 1235)
    first = dac.set_labels([(str(f), True)], USER)
    second = dac.set_labels([(str(f), True)], USER)
    assert (f.stat().st_uid, f.stat().st_gid) == (4711, 4712)
    assert os.getxattr(f, dac.XATTR_REF) == b"2"
    assert [(lb.uid, lb.gid, lb.remembered) for lb in first + second] == [(1234, 1235, True)] * 2
    dac.restore_labels(first)
    assert f.stat().st_uid == 4711  # the other user still runs
    dac.restore_labels(second)
    assert (f.stat().st_uid, f.stat().st_gid) == (1234, 1235)
    assert [a for a in os.listxattr(f) if a.startswith("trusted.pyvirt")] == []
    # a record survives a round trip through the status file
    assert dac.Label.from_dict(first[0].to_dict()) == first[0]


@needs_root
def test_stale_attributes_of_another_boot_are_dropped(pub: Path) -> None:
    tmp_path = pub
    f = tmp_path / "disk.img"
    f.write_bytes(b"x")
    os.setxattr(f, dac.XATTR_OWNER, b"+7:+7")
    os.setxattr(f, dac.XATTR_REF, b"3")
    os.setxattr(f, dac.XATTR_TIMESTAMP, b"another-boot")
    labels = dac.set_labels([(str(f), True)], USER)
    assert (labels[0].uid, os.getxattr(f, dac.XATTR_REF)) == (0, b"1")
    dac.restore_labels(labels)
    assert f.stat().st_uid == 0


@needs_root
def test_unreachable_file_is_refused_and_nothing_changes(pub: Path) -> None:
    tmp_path = pub
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    f = private / "disk.img"
    f.write_bytes(b"x")
    ok = tmp_path / "ok.img"
    ok.write_bytes(b"x")
    with pytest.raises(VirtError) as err:
        dac.set_labels([(str(ok), True), (str(f), True)], USER)
    assert err.value.message == (
        f"Cannot access storage file '{f}' (as uid:4711, gid:4712): Permission denied"
    )
    assert ok.stat().st_uid == 0 and f.stat().st_uid == 0


def test_with_device_assigns_address_and_pinned_aliases() -> None:
    dom = parse_domain(
        """<domain type='qemu'><name>h</name><memory>65536</memory><os><type>hvm</type></os>
        <devices>
          <interface type='network'><mac address='52:54:00:00:00:01'/><source network='default'/></interface>
          <interface type='network'><mac address='52:54:00:00:00:02'/><source network='default'/></interface>
        </devices></domain>"""
    )
    pin_interface_aliases(dom)
    dev = parse_xml("<disk type='file'><source file='/x.img'/><target dev='vdb'/></disk>", what="device")
    new, elem = with_device(dom, dev, keep_aliases=True)
    target = elem.find("target")
    assert target is not None and target.get("bus") == "virtio"
    disk = new.disks[0]
    used = {i.address.slot for i in new.interfaces if i.address is not None}
    assert disk.address is not None and disk.address.slot not in used
    # removing net0 keeps net1's name
    devices = new.root.find("devices")
    assert devices is not None
    devices.remove(devices.findall("interface")[0])
    again = parse_domain(new.format(inactive=True), None, keep_aliases=True)
    assert [i.alias for i in again.interfaces] == ["net1"]


@needs_root
def test_readable_read_only_files_are_left_alone(pub: Path) -> None:
    shared = pub / "vmlinuz"
    shared.write_bytes(b"k")
    shared.chmod(0o644)
    private = pub / "initrd"
    private.write_bytes(b"i")
    private.chmod(0o600)
    labels = dac.set_labels([(str(shared), False), (str(private), False)], USER)
    assert [lb.path for lb in labels] == [str(private)]
    assert shared.stat().st_uid == 0 and private.stat().st_uid == 4711
    dac.restore_labels(labels)
    assert private.stat().st_uid == 0
