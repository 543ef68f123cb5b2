"""store.py: atomic durable writes, listings, autostart links, crash leftovers, permissions."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from pyvirt import store
from pyvirt.errors import ErrorNumber, VirtError
from pyvirt.layout import Layout
from pyvirt.store import TEMP_PREFIX, ObjectStore, write_atomic


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def objs(tmp_path: Path) -> ObjectStore:
    s = Layout(tmp_path).networks
    s.prepare()
    return s


def test_write_atomic_replaces_and_sets_mode(tmp_path: Path) -> None:
    path = tmp_path / "d" / "x.xml"
    write_atomic(path, "one")
    write_atomic(path, "two")
    assert path.read_text() == "two"
    assert _mode(path) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["x.xml"]


def test_write_atomic_other_mode(tmp_path: Path) -> None:
    write_atomic(tmp_path / "x.xml", "one", mode=0o644)
    assert _mode(tmp_path / "x.xml") == 0o644


def test_write_atomic_skips_a_leftover_temp_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A temp file of a dead process with our pid is neither reused nor an error."""
    monkeypatch.setattr(store, "_temp_serial", iter(range(5)))
    stale = tmp_path / f"{TEMP_PREFIX}x.xml.{os.getpid()}.0"
    stale.write_text("someone else's partial write")
    write_atomic(tmp_path / "x.xml", "new")
    assert (tmp_path / "x.xml").read_text() == "new"
    assert stale.read_text() == "someone else's partial write"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["x.xml", stale.name])


@pytest.mark.parametrize("step", ["write", "fsync", "replace"])
def test_write_atomic_failure_keeps_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    path = tmp_path / "x.xml"
    write_atomic(path, "old")

    def enospc(*_a: object, **_k: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if step == "fsync":
        monkeypatch.setattr(store.os, "fsync", enospc)
    elif step == "replace":
        monkeypatch.setattr(store.os, "replace", enospc)
    else:
        monkeypatch.setattr(store.os, "write", enospc)
    with pytest.raises(OSError) as info:
        write_atomic(path, "new")
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.xml"]


def test_save_config_failure_is_a_libvirt_system_error(
    objs: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    objs.save_config("n1", "<network/>")

    def enospc(*_a: object, **_k: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(store.os, "fsync", enospc)
    with pytest.raises(VirtError) as info:
        objs.save_config("n1", "<network>new</network>")
    monkeypatch.undo()
    assert info.value.code == ErrorNumber.SYSTEM_ERROR
    assert info.value.message == (
        f"cannot write data to file '{objs.config_path('n1')}': No space left on device"
    )
    assert objs.config_path("n1").read_text() == "<network/>"


def test_configs_lists_dot_names_but_not_temp_files(objs: ObjectStore) -> None:
    for name in ("b", ".hidden", ".", "a"):
        objs.save_config(name, f"<network><name>{name}</name></network>")
    (objs.config_dir / f"{TEMP_PREFIX}abc").write_text("partial")
    (objs.config_dir / "notes.txt").write_text("x")
    names = [name for name, _ in objs.configs()]
    assert sorted(names) == [".", ".hidden", "a", "b"]


def test_prepare_removes_temp_files_and_dangling_autostart_links(tmp_path: Path) -> None:
    s = Layout(tmp_path).domains
    s.prepare()
    s.save_config("keep", "<domain/>")
    s.save_config("gone", "<domain/>")
    s.set_autostart("keep", True)
    s.set_autostart("gone", True)
    (s.config_dir / "gone.xml").unlink()  # a crash after the definition went, before the link did
    (s.config_dir / f"{TEMP_PREFIX}x").write_text("partial")
    (s.state_dir / f"{TEMP_PREFIX}y").write_text("partial")
    s.prepare()
    assert s.autostart("keep")
    assert not s.autostart("gone")
    assert not list(s.config_dir.glob(f"{TEMP_PREFIX}*"))
    assert not list(s.state_dir.glob(f"{TEMP_PREFIX}*"))


def test_autostart_links_and_delete(objs: ObjectStore) -> None:
    objs.save_config("n1", "<network/>")
    assert not objs.autostart("n1")
    objs.set_autostart("n1", True)
    objs.set_autostart("n1", True)  # idempotent
    assert objs.autostart("n1")
    assert os.readlink(objs.autostart_path("n1")) == str(objs.config_path("n1"))
    objs.delete_config("n1")
    assert not objs.autostart("n1")
    assert not objs.config_path("n1").exists()
    objs.delete_config("n1")  # already gone: fine


def test_status_files(objs: ObjectStore) -> None:
    objs.save_status("n1", "<status/>")
    assert [n for n, _ in objs.statuses()] == ["n1"]
    assert _mode(objs.status_path("n1")) == 0o600
    objs.delete_status("n1")
    assert list(objs.statuses()) == []


def test_directory_permissions(tmp_path: Path) -> None:
    old = os.umask(0o077)  # a hostile umask must not change what prepare() makes
    try:
        layout = Layout(tmp_path)
        layout.domains.prepare()
        layout.networks.prepare()
    finally:
        os.umask(old)
    assert _mode(layout.domains.config_dir) == 0o755
    assert _mode(layout.networks.config_dir) == 0o755
    assert _mode(layout.domains.state_dir) == 0o700
    assert _mode(layout.networks.state_dir) == 0o700


def test_layout_paths(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    assert layout.socket_rw == tmp_path / "run/pyvirt/pyvirt-sock"
    assert layout.socket_ro == tmp_path / "run/pyvirt/pyvirt-sock-ro"
    assert layout.networks.config_path("default") == tmp_path / "etc/pyvirt/qemu/networks/default.xml"
    assert layout.domains.autostart_path("pc1") == tmp_path / "etc/pyvirt/qemu/autostart/pc1.xml"
    assert layout.networks.status_path("default") == tmp_path / "run/pyvirt/network/default.xml"


def test_write_atomic_fsyncs_the_data_not_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # libvirt's virFileRewrite: the new file's data is on disk before the rename.
    synced: list[bool] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(stat.S_ISREG(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(store.os, "fsync", fsync)
    write_atomic(tmp_path / "new" / "x.xml", "one")  # the directory is made when missing
    write_atomic(tmp_path / "new" / "x.xml", "two")
    assert synced == [True, True]
    assert (tmp_path / "new" / "x.xml").read_text() == "two"
    write_atomic(tmp_path / "new" / "cache", b"\x00three", durable=False)  # a cache: no fsync
    assert synced == [True, True]
    assert (tmp_path / "new" / "cache").read_bytes() == b"\x00three"


def test_uuid_wire_forms() -> None:
    text = "361ea41e-a029-4eb3-8b87-7860f5faf70f"
    raw = store.uuid_bytes(text)
    assert len(raw) == 16 and store.uuid_str(raw) == text
    with pytest.raises(ValueError):
        store.uuid_str(b"short")
