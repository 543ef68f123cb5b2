"""Parsing many stored domain definitions at start-up, on two CPUs.

When the definition cache cannot help (the first start after an upgrade of
pyvirt, definitions edited by hand), every stored definition is parsed,
checked and filled in like a define: ≈0.6 to 0.8 ms of Python each, all before
the daemon serves.  With enough of them and a second CPU, :func:`parse_stored`
forks a child that parses the second half while the daemon parses the first.
The child sends back each result in the definition cache's form (the compact
state, or the error) through a pipe, and exits.

The fork happens while the daemon has a single thread (drivers load before
the capabilities probe starts its thread) and the child runs nothing but the
parser: no event loop, no logging, and it leaves with ``os._exit``.  If the
child fails in any way, the daemon parses that half itself, so the outcome
is always what a parse in the daemon would give.
"""

from __future__ import annotations

import logging
import marshal
import os
import select
import signal
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pyvirt.errors import VirtError
from pyvirt.lazyimport import lazy_module

if TYPE_CHECKING:
    from pyvirt.conf import domain as domconf
    from pyvirt.conf.domain import DomainDef
else:
    domconf = lazy_module("pyvirt.conf.domain", home=(globals(), "domconf"))

__all__ = ["PARALLEL_MIN", "parse_stored"]

log = logging.getLogger(__name__)

# Fewer definitions than this are parsed in the daemon alone: the fork and the transfer
# (≈2 ms) would cost more than the second CPU saves.
PARALLEL_MIN = 32

# How long the daemon waits for the child once its own half is parsed: the child has as much
# to do, so this is generous; a child that takes longer (stuck) is killed, and its half parsed here.
_WAIT_FACTOR = 4
_WAIT_MIN = 10.0


def parse_stored(texts: Sequence[str]) -> list[DomainDef | VirtError]:
    """Each text parsed as a stored definition (``parse_domain(text, None)``), then compacted.

    In the order of ``texts``; a definition that is refused is its VirtError.
    Raises what ``parse_domain`` raises besides VirtError (a bug), as a
    parse in the daemon would.
    """
    if len(texts) < PARALLEL_MIN or _cpus() < 2:
        return [_parse(text) for text in texts]
    split = len(texts) // 2
    child = _Child.fork(texts[split:])
    start = time.monotonic()
    try:
        mine = [_parse(text) for text in texts[:split]]
    except BaseException:  # a bug in the parser, or a stop during start-up: no child left behind
        if child is not None:
            child.abandon()
        raise
    wait = max(_WAIT_MIN, _WAIT_FACTOR * (time.monotonic() - start))
    theirs = child.results(texts[split:], wait) if child is not None else None
    if theirs is None:
        theirs = [_parse(text) for text in texts[split:]]
    return mine + theirs


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except OSError:
        return os.cpu_count() or 1


def _parse(text: str) -> DomainDef | VirtError:
    try:
        domdef = domconf.parse_domain(text, None)
    except VirtError as err:
        return err
    domdef.compact()
    return domdef


class _Child:
    """A forked child parsing ``texts``; :meth:`results` reads what it sent."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self.fd = fd

    @classmethod
    def fork(cls, texts: Sequence[str]) -> _Child | None:
        """The child, or None when it cannot be started (the caller parses alone)."""
        try:
            rfd, wfd = os.pipe()
        except OSError as err:
            log.debug("no pipe for a parsing child: %s", err)
            return None
        try:
            pid = os.fork()
        except OSError as err:
            log.debug("no parsing child: %s", err)
            os.close(rfd)
            os.close(wfd)
            return None
        if pid == 0:  # the child
            status = 1
            try:
                os.close(rfd)
                _child_main(texts, wfd)
                status = 0
            finally:
                os._exit(status)
        os.close(wfd)
        return cls(pid, rfd)

    def abandon(self) -> None:
        """Kill and reap the child; its results are not wanted.  Raises nothing."""
        os.close(self.fd)
        self._reap(kill=True)

    def _reap(self, kill: bool) -> int:
        if kill:
            os.kill(self.pid, signal.SIGKILL)
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            return -1
        return os.waitstatus_to_exitcode(status)

    def results(self, texts: Sequence[str], wait: float) -> list[DomainDef | VirtError] | None:
        """What the child parsed, as :func:`parse_stored` gives it; None when it failed or sent
        nothing within ``wait`` seconds (it is then killed).

        Reaps the child.  Raises nothing.
        """
        chunks = self._read(time.monotonic() + wait)
        code = self._reap(kill=chunks is None)
        if code != 0 or not chunks:
            log.warning("the child parsing stored definitions failed (%d); parsing them here", code)
            return None
        try:
            sent = marshal.loads(b"".join(chunks))
            if len(sent) != len(texts):
                raise ValueError(f"{len(sent)} results for {len(texts)} definitions")
            return [_result(item, text) for item, text in zip(sent, texts, strict=True)]
        except (ValueError, TypeError, EOFError) as err:
            log.warning("the child parsing stored definitions sent garbage (%s); parsing them here", err)
            return None

    def _read(self, deadline: float) -> list[bytes] | None:
        """All the child wrote until it closed the pipe; None when ``deadline`` passed first."""
        chunks: list[bytes] = []
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not poller.poll(remaining * 1000):
                    return None
                chunk = os.read(self.fd, 1 << 20)
                if not chunk:
                    return chunks
                chunks.append(chunk)
        except OSError as err:
            log.debug("reading from the parsing child failed: %s", err)
            return []
        finally:
            os.close(self.fd)


def _child_main(texts: Sequence[str], wfd: int) -> None:
    # Nothing of the daemon's must run here: its signal handlers and event-loop wake-up.
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    sent: list[tuple[Any, ...]] = []
    for text in texts:
        result = _parse(text)
        if isinstance(result, VirtError):
            sent.append(("error", result.code, result.domain, result.message or ""))
        else:
            state = result.compact_state()
            sent.append(("state", state) if state is not None else ("tree",))
    view = memoryview(marshal.dumps(sent))
    while view:
        view = view[os.write(wfd, view) :]
    os.close(wfd)


def _result(item: Any, text: str) -> DomainDef | VirtError:
    kind = item[0]
    if kind == "state":
        return domconf.DomainDef.from_compact_state(item[1])
    if kind == "error":
        return VirtError(item[1], item[2], raw_message=item[3])
    if kind == "tree":  # a definition that keeps its tree (see DomainDef.compact): parsed here
        return _parse(text)
    raise ValueError(f"unknown result {kind!r}")
