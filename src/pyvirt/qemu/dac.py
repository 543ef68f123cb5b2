"""File ownership for QEMU running as an unprivileged user (libvirt's DAC security driver).

Before QEMU starts, every file it opens by path -- disk images and their
qcow2 backing chain, the kernel and initrd, cdroms, file-backed serials --
is handed to the QEMU user with ``chown`` (read-only ones only when the user
cannot read them already); when the domain stops the original owner comes
back.  As libvirt's ``security_dac.c`` +
``security_util.c``, the original owner is remembered in extended
attributes of the file itself, with a reference count, so a file shared by
several domains (one kernel, one backing image) -- even of several pyvirtd
instances -- gets its owner back only when the last of them stops:

* ``trusted.pyvirt.security.dac``: the original ``+UID:+GID``;
* ``trusted.pyvirt.security.ref_dac``: how many running domains use it;
* ``trusted.pyvirt.security.timestamp_dac``: the boot id of the host when
  they were written; attributes of another boot are stale (their QEMUs died
  with the host) and are dropped.

Every read-modify-write of these attributes holds an ``flock`` on the file.
Where extended attributes are not available the original owner is kept only
in the domain's :class:`Label` records (saved in its status file).

Files QEMU gets as open descriptors (monitor socket, logs, taps) need no
label; the per-domain directory is chowned by :mod:`pyvirt.qemu.process`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import pwd
import stat
import struct
from collections.abc import Iterable, Iterator
from typing import Any

from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError
from pyvirt.lazydataclass import dataclass

__all__ = [
    "XATTR_OWNER",
    "XATTR_REF",
    "XATTR_TIMESTAMP",
    "Label",
    "QemuUser",
    "backing_chain",
    "check_access",
    "disk_files",
    "domain_files",
    "lookup_user",
    "restore_labels",
    "set_labels",
]

log = logging.getLogger(__name__)

XATTR_OWNER = "trusted.pyvirt.security.dac"
XATTR_REF = "trusted.pyvirt.security.ref_dac"
XATTR_TIMESTAMP = "trusted.pyvirt.security.timestamp_dac"

_QCOW2_MAGIC = b"QFI\xfb"
_MAX_CHAIN = 64


@dataclass(frozen=True)
class QemuUser:
    """The account QEMU runs as: name, uid, gid and every group it is in."""

    name: str
    uid: int
    gid: int
    groups: frozenset[int]

    @property
    def label(self) -> str:
        """libvirt's DAC label, ``+UID:+GID``."""
        return f"+{self.uid}:+{self.gid}"


def lookup_user(name: str) -> QemuUser | None:
    """The account ``name`` (or ``+UID`` / ``UID``), None when it does not exist."""
    try:
        if name.lstrip("+").isdigit():
            pw = pwd.getpwuid(int(name.lstrip("+")))
        else:
            pw = pwd.getpwnam(name)
    except KeyError:
        return None
    try:
        groups = frozenset(os.getgrouplist(pw.pw_name, pw.pw_gid))
    except OSError:
        groups = frozenset({pw.pw_gid})
    return QemuUser(pw.pw_name, pw.pw_uid, pw.pw_gid, groups)


@dataclass
class Label:
    """One file handed to the QEMU user, and the owner it had before."""

    path: str
    uid: int
    gid: int
    remembered: bool  # the original owner and a reference are in the file's xattrs

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "uid": self.uid, "gid": self.gid, "remembered": self.remembered}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Label:
        """Rebuild a record written by :meth:`to_dict`.  Raises KeyError/ValueError on bad data."""
        return cls(str(data["path"]), int(data["uid"]), int(data["gid"]), bool(data.get("remembered")))


# --------------------------------------------------------------------------- which files


def backing_chain(path: str, fmt: str | None) -> list[str]:
    """The backing files of a qcow2 image, nearest first (absolute paths).

    Read from the qcow2 headers themselves (``backing_file_offset`` /
    ``backing_file_size``); a relative backing name is relative to the
    directory of the image naming it.  Unreadable or non-qcow2 images end
    the chain.  Raises nothing.
    """
    chain: list[str] = []
    current = path
    while fmt in (None, "qcow2") and len(chain) < _MAX_CHAIN:
        try:
            with open(current, "rb") as f:
                header = f.read(20)
                if len(header) < 20 or header[:4] != _QCOW2_MAGIC:
                    break
                offset, size = struct.unpack(">QI", header[8:20])
                if not offset or not size or size > 4096:
                    break
                f.seek(offset)
                name = f.read(size).decode("utf-8", "surrogateescape")
        except OSError:
            break
        if name.startswith("json:") or "://" in name:
            break  # network or JSON backing specs: nothing on the local filesystem to label
        backing = os.path.normpath(os.path.join(os.path.dirname(current), name))
        if backing in chain or backing == path:
            break
        chain.append(backing)
        current, fmt = backing, None  # the format of deeper layers is probed
    return chain


def disk_files(disk: Any) -> list[tuple[str, bool]]:
    """``(path, writable)`` of one disk definition: its image and its backing chain."""
    source = getattr(disk, "source", None)
    if not source or getattr(disk, "type", "file") not in ("file", "block"):
        return []
    readonly = bool(getattr(disk, "readonly", False)) or getattr(disk, "device", "disk") == "cdrom"
    out = [(str(source), not readonly)]
    if getattr(disk, "type", "file") == "file":
        out += [(p, False) for p in backing_chain(str(source), getattr(disk, "driver_type", None))]
    return out


def domain_files(domdef: Any) -> list[tuple[str, bool]]:
    """``(path, writable)`` of every file QEMU opens by path for ``domdef``.

    Disks (with backing chains), kernel, initrd and file-backed serials, each
    once (writable wins).  Raises nothing.
    """
    files: dict[str, bool] = {}

    def add(path: str | None, writable: bool) -> None:
        if path:
            files[path] = files.get(path, False) or writable

    for disk in getattr(domdef, "disks", None) or []:
        for path, writable in disk_files(disk):
            add(path, writable)
    add(getattr(domdef, "kernel", None), False)
    add(getattr(domdef, "initrd", None), False)
    for serial in getattr(domdef, "serials", None) or []:
        if getattr(serial, "type", None) == "file":
            add(getattr(serial, "source_path", None), True)
    return list(files.items())


# --------------------------------------------------------------------------- access check


def _can(st: os.stat_result, user: QemuUser, bits: tuple[int, int, int]) -> bool:
    if st.st_uid == user.uid:
        return bool(st.st_mode & bits[0])
    if st.st_gid in user.groups:
        return bool(st.st_mode & bits[1])
    return bool(st.st_mode & bits[2])


def _has_acl(path: str) -> bool:
    try:
        os.getxattr(path, "system.posix_acl_access")
    except OSError:
        return False
    return True


def check_access(path: str, user: QemuUser) -> None:
    """Check ``user`` can reach ``path``: search permission on every directory above it.

    (The file itself is chowned to the user, so its owner bits apply.)  A
    missing file is left for QEMU to report; directories with ACLs are
    trusted.

    Raises:
        VirtError: SYSTEM_ERROR "Cannot access storage file 'PATH' (as
            uid:U, gid:G): Permission denied", as libvirt words it.
    """
    real = os.path.realpath(path)
    if not os.path.exists(real):
        return
    parent = os.path.dirname(real)
    dirs = []
    while True:
        dirs.append(parent)
        if parent == "/":
            break
        parent = os.path.dirname(parent)
    for d in reversed(dirs):
        try:
            st = os.stat(d)
        except OSError:
            return
        if not _can(st, user, (stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH)) and not _has_acl(d):
            log.warning("QEMU user %s cannot search %s on the way to %s", user.name, d, path)
            raise VirtError(
                ErrorNumber.SYSTEM_ERROR,
                ErrorDomain.STORAGE,
                f"Cannot access storage file '{path}' (as uid:{user.uid}, gid:{user.gid}): "
                f"{os.strerror(errno.EACCES)}",
            )


# --------------------------------------------------------------------------- remembering


def _boot_id() -> bytes:
    try:
        with open("/proc/sys/kernel/random/boot_id", "rb") as f:
            return f.read().strip()
    except OSError:
        return b"unknown"


@contextlib.contextmanager
def _locked(path: str) -> Iterator[int | None]:
    """An flock on a regular file (None for other files: they are not remembered)."""
    try:
        st = os.stat(path)
    except OSError:
        yield None
        return
    if not stat.S_ISREG(st.st_mode):
        yield None
        return
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


def _get(fd: int, name: str) -> bytes | None:
    try:
        return os.getxattr(fd, name)
    except OSError as err:
        if err.errno == errno.ENODATA:
            return None
        raise


def _drop_xattrs(fd: int) -> None:
    for name in (XATTR_OWNER, XATTR_REF, XATTR_TIMESTAMP):
        with contextlib.suppress(OSError):
            os.removexattr(fd, name)


def _parse_owner(raw: bytes) -> tuple[int, int]:
    uid, gid = raw.decode().split(":")
    return int(uid.lstrip("+")), int(gid.lstrip("+"))


def _remember(fd: int, st: os.stat_result) -> tuple[int, int]:
    """Count one more user of the file; returns its original owner.

    Raises OSError (ENOTSUP, EPERM, ...) when the attributes cannot be kept.
    """
    stamp = _get(fd, XATTR_TIMESTAMP)
    if stamp is not None and stamp != _boot_id():
        log.info("dropping stale ownership attributes of another boot on fd %d", fd)
        _drop_xattrs(fd)
    raw_ref = _get(fd, XATTR_REF)
    owner = _get(fd, XATTR_OWNER)
    if raw_ref is None or owner is None:
        os.setxattr(fd, XATTR_OWNER, f"+{st.st_uid}:+{st.st_gid}".encode())
        os.setxattr(fd, XATTR_TIMESTAMP, _boot_id())
        os.setxattr(fd, XATTR_REF, b"1")
        return st.st_uid, st.st_gid
    os.setxattr(fd, XATTR_REF, str(int(raw_ref) + 1).encode())
    return _parse_owner(owner)


def _forget(fd: int) -> tuple[int, int] | None:
    """Count one user less; the original owner once the last one is gone, else None."""
    raw_ref = _get(fd, XATTR_REF)
    owner = _get(fd, XATTR_OWNER)
    if raw_ref is None or owner is None:
        return None
    ref = int(raw_ref) - 1
    if ref > 0:
        os.setxattr(fd, XATTR_REF, str(ref).encode())
        return None
    _drop_xattrs(fd)
    return _parse_owner(owner)


def _chown(path: str, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)


def set_labels(files: Iterable[tuple[str, bool]], user: QemuUser) -> list[Label]:
    """Check access to, remember the owner of, and chown each file to ``user``.

    Missing files are skipped (QEMU reports them as libvirt lets it), and so
    are read-only files (kernel, initrd, backing images, cdroms) the user can
    already read: unlike libvirt, pyvirt leaves shared, world-readable files
    alone, so a QEMU killed behind pyvirtd's back never leaves them with the
    wrong owner.  On failure everything labelled so far is restored.

    Raises:
        VirtError: an unreachable file (see :func:`check_access`), or
            SYSTEM_ERROR "unable to set user and group to 'U:G' on 'PATH'".
    """
    files = list(files)
    for path, _writable in files:
        check_access(path, user)
    labels: list[Label] = []
    try:
        for path, writable in files:
            real = os.path.realpath(path)
            try:
                st = os.stat(real)
            except FileNotFoundError:
                continue
            except OSError as err:
                raise VirtError(
                    ErrorNumber.SYSTEM_ERROR,
                    ErrorDomain.SECURITY,
                    f"unable to stat: {path}: {err.strerror}",
                ) from err
            if any(lb.path == real for lb in labels):
                continue
            if not writable and _can(st, user, (stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH)):
                continue
            label = _label_one(real, st, user)
            labels.append(label)
    except BaseException:
        restore_labels(labels)
        raise
    return labels


def _label_one(real: str, st: os.stat_result, user: QemuUser) -> Label:
    label = Label(real, st.st_uid, st.st_gid, remembered=False)
    try:
        with _locked(real) as fd:
            if fd is not None:
                try:
                    label.uid, label.gid = _remember(fd, st)
                    label.remembered = True
                except OSError as err:
                    log.debug("cannot remember the owner of %s in xattrs: %s", real, err)
            try:
                _chown(real, user.uid, user.gid)
            except OSError:
                if label.remembered and fd is not None:
                    with contextlib.suppress(OSError, ValueError):
                        _forget(fd)
                raise
    except OSError as err:
        raise VirtError(
            ErrorNumber.SYSTEM_ERROR,
            ErrorDomain.SECURITY,
            f"unable to set user and group to '{user.uid}:{user.gid}' on '{real}': {err.strerror}",
        ) from err
    log.debug("labelled %s for uid %d (was %d:%d)", real, user.uid, label.uid, label.gid)
    return label


def restore_labels(labels: Iterable[Label], in_use: Iterable[str] = ()) -> None:
    """Give the files back to their original owners (where no other user is left).

    A remembered label drops one reference and restores the owner kept in
    the file's attributes when it was the last; the others restore the owner
    recorded in the label unless ``in_use`` (paths other domains still hold)
    names the file.  Failures are logged, never raised: a stop must finish.
    """
    busy = set(in_use)
    for label in labels:
        try:
            if label.remembered:
                with _locked(label.path) as fd:
                    if fd is None:
                        continue
                    try:
                        owner = _forget(fd)
                    except (OSError, ValueError) as err:
                        log.warning("cannot read the remembered owner of %s: %s", label.path, err)
                        owner = None
                    if owner is not None:
                        _chown(label.path, *owner)
            elif label.path not in busy:
                _chown(label.path, label.uid, label.gid)
            else:
                continue
            log.debug("restored the owner of %s", label.path)
        except FileNotFoundError:
            continue
        except OSError as err:
            log.warning("cannot restore the owner of %s: %s", label.path, err)


def path_of(path: str) -> str:
    """The canonical path a label is kept under (symlinks resolved).  Raises nothing."""
    return os.path.realpath(path)
