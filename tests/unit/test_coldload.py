"""Parsing many stored definitions at start-up: the forked child gives what a parse here gives."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pyvirt.conf.domain import DomainDef, parse_domain
from pyvirt.errors import VirtError
from pyvirt.qemu import coldload

DATA = Path(__file__).resolve().parent.parent / "data" / "domain"


def _texts() -> list[str]:
    golden = [p.read_text() for p in sorted(DATA.glob("*.in.xml"))]
    texts = []
    for i in range(40):
        texts.append(golden[i % len(golden)].replace("<name>", f"<name>n{i}-", 1))
    texts[3] = "<domain type='qemu'><name>bad</name>"  # malformed
    texts[30] = (  # a bad unit
        "<domain type='qemu'><name>x</name><memory unit='ZiB'>1</memory><os><type>hvm</type></os></domain>"
    )
    # a definition that keeps its tree when compacted (a CR in a description)
    texts[35] = texts[35].replace("</name>", "</name><description>a&#13;b</description>", 1)
    return texts


def _serial(texts: list[str]) -> list[str]:
    out = []
    for text in texts:
        try:
            out.append(parse_domain(text, None).format())
        except VirtError as err:
            out.append(f"error {err.code} {err.domain} {err}")
    return out


def _shown(results: list[DomainDef | VirtError]) -> list[str]:
    return [f"error {r.code} {r.domain} {r}" if isinstance(r, VirtError) else r.format() for r in results]


def test_many_definitions_parse_as_in_the_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = _texts()
    assert len(texts) >= coldload.PARALLEL_MIN
    monkeypatch.setattr(coldload, "_cpus", lambda: 2)
    forks = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(coldload.os, "fork", fork)
    results = coldload.parse_stored(texts)
    assert len(forks) == 1
    assert _shown(results) == _serial(texts)
    assert results[20].compacted and not results[35].compacted  # (kept its tree: parsed here)


def test_few_definitions_or_one_cpu_parse_here(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork() -> int:
        raise AssertionError("forked")

    monkeypatch.setattr(coldload.os, "fork", no_fork)
    texts = _texts()
    assert _shown(coldload.parse_stored(texts[: coldload.PARALLEL_MIN - 1])) == _serial(
        texts[: coldload.PARALLEL_MIN - 1]
    )
    monkeypatch.setattr(coldload, "_cpus", lambda: 1)
    assert _shown(coldload.parse_stored(texts)) == _serial(texts)


@pytest.mark.parametrize("failure", ["dies", "garbage", "short", "stuck", "no fork"])
def test_a_failing_child_costs_only_time(
    failure: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import marshal

    def child_main(texts: list[str], wfd: int) -> None:
        if failure == "dies":
            os._exit(3)
        if failure == "stuck":
            time.sleep(60)  # killed once the daemon stops waiting
        data = b"\x00garbage" if failure == "garbage" else marshal.dumps([("tree",)])
        os.write(wfd, data)

    def no_fork() -> int:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(coldload, "_cpus", lambda: 2)
    monkeypatch.setattr(coldload, "_child_main", child_main)
    monkeypatch.setattr(coldload, "_WAIT_MIN", 0.5)
    if failure == "no fork":
        monkeypatch.setattr(coldload.os, "fork", no_fork)
    texts = _texts()
    assert _shown(coldload.parse_stored(texts)) == _serial(texts)
    if failure != "no fork":
        assert "parsing them here" in caplog.text


def test_a_stop_while_parsing_leaves_no_child(monkeypatch: pytest.MonkeyPatch) -> None:
    parent = os.getpid()
    real_parse = coldload._parse
    forks: list[int] = []
    real_fork = os.fork

    def parse(text: str) -> DomainDef | VirtError:
        if os.getpid() == parent:
            raise SystemExit(0)  # pyvirtd's SIGTERM handler during start-up
        return real_parse(text)

    def fork() -> int:
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(coldload, "_cpus", lambda: 2)
    monkeypatch.setattr(coldload, "_parse", parse)
    monkeypatch.setattr(coldload.os, "fork", fork)
    with pytest.raises(SystemExit):
        coldload.parse_stored(_texts())
    assert len(forks) == 1
    with pytest.raises(ChildProcessError):
        os.waitpid(forks[0], os.WNOHANG)  # already reaped
