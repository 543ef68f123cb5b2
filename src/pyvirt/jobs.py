"""Per-object job locks with libvirt's time limit.

libvirt lets one state-changing job run on an object at a time; a second job
waits for the first, but not for ever: after ``job_wait_time`` (30 s) it gives
up with ``Timed out during operation: cannot acquire state change lock``
(VIR_ERR_OPERATION_TIMEOUT).  Drivers wrap each state change in :func:`job`::

    async with job(obj.lock, what=f"network '{obj.name}'"):
        ...

The limit is process-wide (``pyvirtd --job-timeout``); tests lower it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError

TYPE_CHECKING = False  # not typing's: pyvirtd imports this module before typing
if TYPE_CHECKING:
    import asyncio

__all__ = ["DEFAULT_JOB_TIMEOUT", "get_job_timeout", "job", "set_job_timeout"]

log = logging.getLogger(__name__)

#: libvirt's QEMU_JOB_WAIT_TIME, in seconds.
DEFAULT_JOB_TIMEOUT = 30.0

_timeout = DEFAULT_JOB_TIMEOUT


def set_job_timeout(seconds: float) -> None:
    """Set how long a job waits for an object's lock before failing.

    Raises:
        ValueError: ``seconds`` is not a positive number.
    """
    if not seconds > 0:
        raise ValueError(f"job timeout must be positive, not {seconds!r}")
    global _timeout
    _timeout = float(seconds)


def get_job_timeout() -> float:
    """The current limit in seconds."""
    return _timeout


def lock_timeout_error(domain: int = ErrorDomain.NONE) -> VirtError:
    """libvirt's error for a job that waited too long for the state change lock."""
    return VirtError(ErrorNumber.OPERATION_TIMEOUT, domain, "cannot acquire state change lock")


@asynccontextmanager
async def job(
    lock: asyncio.Lock,
    *,
    timeout: float | None = None,
    what: str = "object",
    domain: int = ErrorDomain.NONE,
    check: Callable[[], object] | None = None,
) -> AsyncIterator[None]:
    """Hold ``lock`` for the body, waiting at most ``timeout`` seconds for it.

    ``timeout`` defaults to the process-wide limit (:func:`set_job_timeout`);
    ``what`` names the object in the log; ``domain`` is the error domain.
    ``check`` runs once the lock is held, before the body: the object may have
    been undefined while the job waited, and ``check`` raises then.

    Raises:
        VirtError: VIR_ERR_OPERATION_TIMEOUT (68) when the lock was not
            acquired in time; whatever ``check`` raises.  Nothing of the body
            ran then, and the lock is released.
    """
    import asyncio  # here: pyvirtd reads DEFAULT_JOB_TIMEOUT before it loads asyncio

    limit = _timeout if timeout is None else timeout
    if lock.locked():
        log.debug("waiting for the state change lock of %s", what)
    try:
        # asyncio.timeout, not wait_for: no extra task per job (wait_for makes one).
        async with asyncio.timeout(limit):
            await lock.acquire()
    except TimeoutError as err:
        log.warning("%s: cannot acquire state change lock after %.1f s", what, limit)
        raise lock_timeout_error(domain) from err
    try:
        if check is not None:
            check()
        yield
    finally:
        lock.release()
