"""A fake pyvirt connection for pyvirsh unit tests (no daemon, no socket)."""

from __future__ import annotations

import io
from typing import Any

from pyvirt import constants as c
from pyvirt.cli.ctl import Ctl
from pyvirt.cli.main import main
from pyvirt.client import uuid_str
from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError


def _uuid(text: str) -> bytes:
    return bytes.fromhex(text.replace("-", ""))


def no_domain(name: str) -> VirtError:
    return VirtError(ErrorNumber.NO_DOMAIN, ErrorDomain.QEMU, f"no domain with matching name '{name}'")


def no_network(name: str) -> VirtError:
    return VirtError(ErrorNumber.NO_NETWORK, ErrorDomain.NETWORK, f"no network with matching name '{name}'")


class FakeDomain:
    def __init__(self, conn: FakeConn, name: str, uuid: str, **kw: Any) -> None:
        self.conn = conn
        self._name = name
        self._uuid = _uuid(uuid)
        self.id = kw.get("id", -1)
        self.state_ = kw.get("state", c.VIR_DOMAIN_SHUTOFF)
        self.reason = kw.get("reason", 0)
        self.persistent = kw.get("persistent", True)
        self.auto = kw.get("autostart", False)
        self.memory = kw.get("memory", 262144)
        self.cputime = kw.get("cputime", 0)
        self.xml = kw.get("xml", f"<domain type='qemu'>\n  <name>{name}</name>\n</domain>\n")
        self.ifaddrs: list[dict[str, Any]] = kw.get("ifaddrs", [])
        self.fail: dict[str, VirtError] = kw.get("fail", {})

    def _maybe_fail(self, what: str) -> None:
        self.conn.calls.append(f"{what}:{self._name}")
        if what in self.fail:
            raise self.fail[what]

    def name(self) -> str:
        return self._name

    def UUIDString(self) -> str:
        return uuid_str(self._uuid)

    def UUID(self) -> bytes:
        return self._uuid

    def ID(self) -> int:
        return int(self.id)

    def info(self) -> list[int]:
        return [self.state_, self.memory, self.memory, 1, self.cputime]

    def state(self, flags: int = 0) -> list[int]:
        self._maybe_fail("state")
        return [self.state_, self.reason]

    def OSType(self) -> str:
        return "hvm"

    def isPersistent(self) -> int:
        return 1 if self.persistent else 0

    def isActive(self) -> int:
        return 1 if self.id != -1 else 0

    def autostart(self) -> int:
        return 1 if self.auto else 0

    def setAutostart(self, value: int) -> int:
        self._maybe_fail("setAutostart")
        self.auto = bool(value)
        return 0

    def hasManagedSaveImage(self, flags: int = 0) -> int:
        return 0

    def securityLabel(self) -> list[Any]:
        return ["", 0]

    def getMessages(self, flags: int = 0) -> list[str]:
        return []

    def XMLDesc(self, flags: int = 0) -> str:
        self.conn.calls.append(f"XMLDesc:{self._name}:{flags}")
        return self.xml

    def create(self) -> int:
        self._maybe_fail("create")
        self.id = self.conn.next_id
        self.conn.next_id += 1
        self.state_ = c.VIR_DOMAIN_RUNNING
        return 0

    def createWithFlags(self, flags: int = 0) -> int:
        self.conn.calls.append(f"createWithFlags:{flags}")
        return self.create()

    def destroy(self) -> int:
        self._maybe_fail("destroy")
        self.id = -1
        self.state_ = c.VIR_DOMAIN_SHUTOFF
        return 0

    def destroyFlags(self, flags: int = 0) -> int:
        self.conn.calls.append(f"destroyFlags:{flags}")
        return self.destroy()

    def shutdown(self) -> int:
        self._maybe_fail("shutdown")
        return 0

    def shutdownFlags(self, flags: int = 0) -> int:
        self.conn.calls.append(f"shutdownFlags:{flags}")
        return self.shutdown()

    def reboot(self, flags: int = 0) -> int:
        self._maybe_fail("reboot")
        return 0

    def reset(self, flags: int = 0) -> int:
        self._maybe_fail("reset")
        return 0

    def suspend(self) -> int:
        self._maybe_fail("suspend")
        return 0

    def resume(self) -> int:
        self._maybe_fail("resume")
        return 0

    def undefineFlags(self, flags: int = 0) -> int:
        self._maybe_fail("undefine")
        self.conn.domains.remove(self)
        return 0

    def interfaceAddressList(self, source: int, flags: int = 0) -> list[dict[str, Any]]:
        self._maybe_fail("ifaddr")
        self.conn.calls.append(f"ifaddr-source:{source}")
        return self.ifaddrs

    def setMetadata(self, *args: Any) -> int:
        self.conn.calls.append(f"setMetadata:{args}")
        return 0


class FakeNetwork:
    def __init__(self, conn: FakeConn, name: str, uuid: str, **kw: Any) -> None:
        self.conn = conn
        self._name = name
        self._uuid = _uuid(uuid)
        self.active = kw.get("active", False)
        self.persistent = kw.get("persistent", True)
        self.auto = kw.get("autostart", False)
        self.bridge = kw.get("bridge", "virbr0")
        self.xml = kw.get("xml", f"<network>\n  <name>{name}</name>\n</network>\n")
        self.leases: list[dict[str, Any]] = kw.get("leases", [])
        self.fail: dict[str, VirtError] = kw.get("fail", {})
        self.updates: list[tuple[Any, ...]] = []

    def _maybe_fail(self, what: str) -> None:
        self.conn.calls.append(f"{what}:{self._name}")
        if what in self.fail:
            raise self.fail[what]

    def name(self) -> str:
        return self._name

    def UUIDString(self) -> str:
        return uuid_str(self._uuid)

    def isActive(self) -> int:
        return 1 if self.active else 0

    def isPersistent(self) -> int:
        return 1 if self.persistent else 0

    def autostart(self) -> int:
        return 1 if self.auto else 0

    def setAutostart(self, value: int) -> int:
        self._maybe_fail("setAutostart")
        self.auto = bool(value)
        return 0

    def bridgeName(self) -> str:
        return str(self.bridge)

    def XMLDesc(self, flags: int = 0) -> str:
        return self.xml

    def create(self) -> int:
        self._maybe_fail("create")
        self.active = True
        return 0

    def destroy(self) -> int:
        self._maybe_fail("destroy")
        self.active = False
        return 0

    def undefine(self) -> int:
        self._maybe_fail("undefine")
        self.conn.networks.remove(self)
        return 0

    def DHCPLeases(self, mac: str | None = None, flags: int = 0) -> list[dict[str, Any]]:
        self._maybe_fail("leases")
        return [dict(lease) for lease in self.leases if mac is None or lease["mac"].lower() == mac.lower()]

    def update(self, *args: Any) -> int:
        self._maybe_fail("update")
        self.updates.append(args)
        return 0


class FakeConn:
    """Implements the Connection methods pyvirsh uses, recording calls."""

    def __init__(self, uri: str = "qemu:///system") -> None:
        self.uri = uri
        self.domains: list[FakeDomain] = []
        self.networks: list[FakeNetwork] = []
        self.calls: list[str] = []
        self.next_id = 1
        self.define_error: VirtError | None = None
        self.closed = False

    def add_domain(self, name: str, uuid: str, **kw: Any) -> FakeDomain:
        dom = FakeDomain(self, name, uuid, **kw)
        self.domains.append(dom)
        return dom

    def add_network(self, name: str, uuid: str, **kw: Any) -> FakeNetwork:
        net = FakeNetwork(self, name, uuid, **kw)
        self.networks.append(net)
        return net

    def close(self) -> int:
        self.closed = True
        return 0

    def getURI(self) -> str:
        return self.uri

    def getHostname(self) -> str:
        return "host1"

    def getType(self) -> str:
        return "QEMU"

    def getLibVersion(self) -> int:
        return 9000000

    def getVersion(self) -> int:
        return 7002022

    def getCapabilities(self) -> str:
        return "<capabilities>\n</capabilities>\n"

    def nodeInfo(self) -> dict[str, Any]:
        return {
            "model": "x86_64",
            "memory": 4026532,
            "cpus": 2,
            "mhz": 2400,
            "nodes": 1,
            "sockets": 1,
            "cores": 2,
            "threads": 1,
        }

    def getSecurityModel(self) -> list[str]:
        return ["none", "0"]

    def listAllDomainsWithState(self, flags: int = 0) -> list[tuple[FakeDomain, int, int]]:
        self.calls.append(f"listAllDomainsWithState:{flags}")
        out = []
        for d in self.domains:
            active = d.id != -1
            if active and not flags & c.VIR_CONNECT_LIST_DOMAINS_ACTIVE:
                continue
            if not active and not flags & c.VIR_CONNECT_LIST_DOMAINS_INACTIVE:
                continue
            out.append((d, d.state_, d.reason))
        return out

    def lookupByName(self, name: str) -> FakeDomain:
        self.calls.append(f"lookupByName:{name}")
        for d in self.domains:
            if d.name() == name:
                return d
        raise no_domain(name)

    def lookupByID(self, ident: int) -> FakeDomain:
        self.calls.append(f"lookupByID:{ident}")
        for d in self.domains:
            if d.id == ident:
                return d
        raise VirtError(ErrorNumber.NO_DOMAIN, ErrorDomain.QEMU, f"no domain with matching id {ident}")

    def lookupByUUIDString(self, text: str) -> FakeDomain:
        self.calls.append(f"lookupByUUIDString:{text}")
        for d in self.domains:
            if d.UUIDString() == text:
                return d
        raise VirtError(ErrorNumber.NO_DOMAIN, ErrorDomain.QEMU, f"no domain with matching uuid '{text}'")

    def defineXML(self, xml: str) -> FakeDomain:
        self.calls.append("defineXML")
        if self.define_error is not None:
            raise self.define_error
        return self.add_domain("pc1", "361ea41e-a029-4eb3-8b87-7860f5faf70f")

    def defineXMLFlags(self, xml: str, flags: int = 0) -> FakeDomain:
        self.calls.append(f"defineXMLFlags:{flags}")
        return self.defineXML(xml)

    def createXML(self, xml: str, flags: int = 0) -> FakeDomain:
        self.calls.append(f"createXML:{flags}")
        return self.add_domain("pc9", "00000000-0000-0000-0000-000000000009", id=9)

    def listAllNetworks(self, flags: int = 0) -> list[FakeNetwork]:
        self.calls.append(f"listAllNetworks:{flags}")
        out = []
        for n in self.networks:
            if n.active and not flags & c.VIR_CONNECT_LIST_NETWORKS_ACTIVE:
                continue
            if not n.active and not flags & c.VIR_CONNECT_LIST_NETWORKS_INACTIVE:
                continue
            out.append(n)
        return out

    def networkLookupByName(self, name: str) -> FakeNetwork:
        for n in self.networks:
            if n.name() == name:
                return n
        raise no_network(name)

    def networkLookupByUUIDString(self, text: str) -> FakeNetwork:
        for n in self.networks:
            if n.UUIDString() == text:
                return n
        raise VirtError(
            ErrorNumber.NO_NETWORK, ErrorDomain.NETWORK, f"no network with matching uuid '{text}'"
        )

    def networkDefineXML(self, xml: str) -> FakeNetwork:
        if self.define_error is not None:
            raise self.define_error
        return self.add_network("clash", "a51a2a65-28f3-43b7-8b58-4ca93f6a0442")

    def networkCreateXML(self, xml: str) -> FakeNetwork:
        return self.add_network("tnet", "a51a2a65-28f3-43b7-8b58-4ca93f6a0443", active=True, persistent=False)


class Result:
    def __init__(self, rc: int, out: str, err: str) -> None:
        self.rc = rc
        self.out = out
        self.err = err

    def __repr__(self) -> str:
        return f"Result(rc={self.rc}, out={self.out!r}, err={self.err!r})"


def run(argv: list[str], conn: FakeConn | None = None, connect_error: VirtError | None = None) -> Result:
    """Run pyvirsh's ``main`` with ``conn`` as the connection; capture stdout/stderr."""
    out, err = io.StringIO(), io.StringIO()

    def connector(uri: str | None, readonly: bool) -> Any:
        if connect_error is not None:
            raise connect_error
        assert conn is not None
        return conn

    ctl = Ctl(out=out, err=err, connector=connector)
    rc = main(argv, ctl=ctl)
    return Result(rc, out.getvalue(), err.getvalue())
