"""One benchmark client process, driven over stdin/stdout with JSON lines.

It runs under two interpreters with the same code, so both APIs are timed the
same way:

* Debian's ``/usr/bin/python3`` with ``python3-libvirt`` (``--api libvirt``),
  against libvirtd or pyvirtd;
* the project's venv Python with pyvirt's own API (``--api pyvirt``), against
  pyvirtd.

Each request is one line ``{"op": NAME, ...args}``; each reply is one line
``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``.  Timings are taken
with :func:`time.perf_counter` inside this process, so interpreter start-up is
not part of them.  The script imports nothing from the ``bench`` package (it
must run under ``/usr/bin/python3`` too).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

LIST_CALLS = 5  # listAllDomains calls per round of api_throughput

Conn = Any


def _load_api(name: str) -> Any:
    """Import ``libvirt`` or ``pyvirt`` and silence libvirt's default stderr error printer."""
    if name == "libvirt":
        import libvirt

        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        return libvirt
    import pyvirt

    return pyvirt


def _xml(template: str, name: str, mac: str | None = None, uuid: str | None = None) -> str:
    """Fill ``@NAME@``, ``@MAC@`` (a ``<mac/>`` element or nothing) and ``@UUID@`` in a template."""
    mac_xml = f"<mac address='{mac}'/>" if mac else ""
    uuid_xml = f"<uuid>{uuid}</uuid>" if uuid else ""
    return template.replace("@NAME@", name).replace("@MAC@", mac_xml).replace("@UUID@", uuid_xml)


class Worker:
    """Holds one connection and runs the benchmark operations on it."""

    def __init__(self, api: Any, uri: str) -> None:
        self.api = api
        self.uri = uri
        self.conn: Conn = api.open(uri)

    # -- bulk domain operations ------------------------------------------------

    def define_many(self, template: str, names: list[str]) -> dict[str, Any]:
        """Define ``names`` one call at a time; per-call latencies in seconds."""
        times: list[float] = []
        for name in names:
            t0 = time.perf_counter()
            self.conn.defineXML(_xml(template, name))
            times.append(time.perf_counter() - t0)
        return {"times": times}

    def undefine_prefix(self, prefix: str) -> dict[str, Any]:
        """Destroy (if running) and undefine every domain whose name starts with ``prefix``."""
        times: list[float] = []
        errors: list[str] = []
        for dom in self.conn.listAllDomains(0):
            if not dom.name().startswith(prefix):
                continue
            try:
                if dom.isActive():
                    dom.destroy()
                t0 = time.perf_counter()
                dom.undefine()
                times.append(time.perf_counter() - t0)
            except Exception as err:
                errors.append(f"{dom.name()}: {err}")
        return {"times": times, "errors": errors[:5], "n_errors": len(errors)}

    def count_domains(self) -> dict[str, Any]:
        """How many domains are defined (persistent or running) right now."""
        return {"count": len(self.conn.listAllDomains(0))}

    def api_throughput(self, template: str, prefix: str, count: int) -> dict[str, Any]:
        """Define ``count`` domains, list all, lookup+info each, undefine all: seconds per phase."""
        names = [f"{prefix}{i:05d}" for i in range(count)]
        out: dict[str, Any] = {}
        t0 = time.perf_counter()
        doms = [self.conn.defineXML(_xml(template, n)) for n in names]
        out["define"] = time.perf_counter() - t0
        # one call is a few ms: the median of a few in a row, so one scheduling hiccup is not the sample
        times = []
        for _ in range(LIST_CALLS):
            t0 = time.perf_counter()
            listed = self.conn.listAllDomains(0)
            times.append(time.perf_counter() - t0)
        out["list"] = statistics.median(times)
        out["listed"] = len(listed)
        t0 = time.perf_counter()
        for n in names:
            self.conn.lookupByName(n).info()
        out["lookup_info"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        try:
            for d in doms:
                d.undefine()
            out["undefine"] = time.perf_counter() - t0
        except Exception as err:
            out["undefine_error"] = str(err) or type(err).__name__
        return out

    # -- networks --------------------------------------------------------------

    def net_ensure(self, xml: str, name: str) -> dict[str, Any]:
        """Define the network ``name`` from ``xml`` unless it exists; leave it inactive."""
        try:
            net = self.conn.networkLookupByName(name)
        except Exception:
            net = self.conn.networkDefineXML(xml)
        if net.isActive():
            net.destroy()
        return {}

    def net_start(self, name: str) -> dict[str, Any]:
        """Time ``virNetworkCreate`` (net-start)."""
        net = self.conn.networkLookupByName(name)
        t0 = time.perf_counter()
        net.create()
        return {"t": time.perf_counter() - t0}

    def net_destroy(self, name: str) -> dict[str, Any]:
        """Time ``virNetworkDestroy`` (net-destroy)."""
        net = self.conn.networkLookupByName(name)
        t0 = time.perf_counter()
        net.destroy()
        return {"t": time.perf_counter() - t0}

    def net_cleanup(self, name: str) -> dict[str, Any]:
        """Destroy and undefine the network ``name`` if it exists."""
        try:
            net = self.conn.networkLookupByName(name)
        except Exception:
            return {"existed": False}
        if net.isActive():
            net.destroy()
        net.undefine()
        return {"existed": True}

    # -- guests ----------------------------------------------------------------

    def _guest_cycle(
        self, conn: Conn, name: str, net: str, mac: str, timeout: float, t0: float
    ) -> dict[str, Any]:
        dom = conn.lookupByName(name)
        dom.create()
        t_ret = time.perf_counter() - t0
        network = conn.networkLookupByName(net)
        deadline = time.monotonic() + timeout
        while True:
            leases = [le for le in network.DHCPLeases(mac) if str(le.get("mac", "")).lower() == mac]
            if leases:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"no DHCP lease for {name} ({mac}) within {timeout:.0f} s")
            time.sleep(0.05)
        return {"start": t_ret, "lease": time.perf_counter() - t0, "ip": leases[0].get("ipaddr")}

    def guests_start(
        self, template: str, guests: list[list[str]], net: str, timeout: float = 180
    ) -> dict[str, Any]:
        """(Re)define each ``[name, mac]`` guest, then start all at once, each on its own connection.

        Returns, per guest, the seconds from the common start until its ``create()`` returned
        and until its DHCP lease appeared in ``DHCPLeases``.
        """
        for name, mac in guests:
            try:  # a redefinition must keep the UUID (same name, new UUID is refused)
                uuid = self.conn.lookupByName(name).UUIDString()
            except Exception:
                uuid = None
            self.conn.defineXML(_xml(template, name, mac, uuid))
        conns = [self.api.open(self.uri) for _ in guests] if len(guests) > 1 else [self.conn]
        results: list[dict[str, Any] | None] = [None] * len(guests)
        errors: list[str] = []
        barrier = threading.Barrier(len(guests))
        t0_box: list[float] = []
        lock = threading.Lock()

        def run(i: int) -> None:
            name, mac = guests[i]
            try:
                barrier.wait()
                with lock:
                    if not t0_box:
                        t0_box.append(time.perf_counter())
                results[i] = self._guest_cycle(conns[i], name, net, mac, timeout, t0_box[0])
            except Exception as err:
                errors.append(f"{name}: {err}")

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(guests))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for c in conns:
            if c is not self.conn:
                c.close()
        if errors:
            raise RuntimeError("; ".join(errors))
        return {"guests": results}

    def guests_destroy(self, names: list[str]) -> dict[str, Any]:
        """Destroy each running guest in turn; seconds per ``destroy()`` call."""
        times: list[float] = []
        for name in names:
            dom = self.conn.lookupByName(name)
            if not dom.isActive():
                continue
            t0 = time.perf_counter()
            dom.destroy()
            times.append(time.perf_counter() - t0)
        return {"times": times}


def serve(worker: Worker, inp: Any, out: Any) -> None:
    """Answer JSON-line requests until end of input."""
    ops: dict[str, Callable[..., dict[str, Any]]] = {
        "define_many": worker.define_many,
        "undefine_prefix": worker.undefine_prefix,
        "count_domains": worker.count_domains,
        "api_throughput": worker.api_throughput,
        "net_ensure": worker.net_ensure,
        "net_start": worker.net_start,
        "net_destroy": worker.net_destroy,
        "net_cleanup": worker.net_cleanup,
        "guests_start": worker.guests_start,
        "guests_destroy": worker.guests_destroy,
    }
    for line in inp:
        if not line.strip():
            continue
        req = json.loads(line)
        op = req.pop("op")
        try:
            reply = {"ok": True, **ops[op](**req)}
        except Exception as err:
            detail = str(err) or type(err).__name__
            reply = {"ok": False, "error": detail, "trace": traceback.format_exc(limit=3)}
        out.write(json.dumps(reply) + "\n")
        out.flush()


def main(argv: list[str] | None = None) -> int:
    """Open the connection, say hello (``{"ok": true, "ready": true}``), then serve requests."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api", choices=("libvirt", "pyvirt"), required=True)
    parser.add_argument("--uri", required=True)
    args = parser.parse_args(argv)
    try:
        worker = Worker(_load_api(args.api), args.uri)
    except Exception as err:
        sys.stdout.write(json.dumps({"ok": False, "error": f"cannot connect: {err}"}) + "\n")
        return 1
    sys.stdout.write(json.dumps({"ok": True, "ready": True}) + "\n")
    sys.stdout.flush()
    serve(worker, sys.stdin, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
