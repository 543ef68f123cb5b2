"""jobs.job(): one state change per object, libvirt's timeout error for a job waiting too long."""

from __future__ import annotations

import asyncio

import pytest

from pyvirt import jobs
from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError


def test_job_serialises_and_times_out() -> None:
    async def scenario() -> list[str]:
        lock = asyncio.Lock()
        events: list[str] = []

        async def long_job() -> None:
            async with jobs.job(lock, timeout=5):
                events.append("long start")
                await asyncio.sleep(0.3)
                events.append("long end")

        async def impatient() -> None:
            await asyncio.sleep(0.05)
            try:
                async with jobs.job(lock, timeout=0.1, what="network 'n1'", domain=ErrorDomain.NETWORK):
                    events.append("impatient ran")
            except VirtError as err:
                assert err.code == ErrorNumber.OPERATION_TIMEOUT == 68
                assert err.domain == ErrorDomain.NETWORK
                assert err.message == "Timed out during operation: cannot acquire state change lock"
                events.append("impatient timed out")

        async def patient() -> None:
            await asyncio.sleep(0.05)
            async with jobs.job(lock, timeout=5):
                events.append("patient ran")

        await asyncio.gather(long_job(), impatient(), patient())
        assert not lock.locked()
        return events

    events = asyncio.run(scenario())
    assert events == ["long start", "impatient timed out", "long end", "patient ran"]


def test_job_releases_on_error() -> None:
    async def scenario() -> None:
        lock = asyncio.Lock()
        with pytest.raises(RuntimeError):
            async with jobs.job(lock):
                raise RuntimeError("boom")
        assert not lock.locked()

    asyncio.run(scenario())


def test_default_timeout_is_configurable() -> None:
    assert jobs.DEFAULT_JOB_TIMEOUT == 30.0
    old = jobs.get_job_timeout()
    try:
        jobs.set_job_timeout(0.05)

        async def scenario() -> None:
            lock = asyncio.Lock()
            await lock.acquire()
            with pytest.raises(VirtError, match="cannot acquire state change lock"):
                async with jobs.job(lock):
                    pass

        asyncio.run(scenario())
        with pytest.raises(ValueError):
            jobs.set_job_timeout(0)
    finally:
        jobs.set_job_timeout(old)
