"""Runs one network-runtime operation in the current network namespace (the test starts it
with ``ip netns exec NS python netns_runner.py OP ROOT JSON``) and prints the result as JSON.

OP is ``start`` (JSON: a network spec, prints the runtime dict), ``stop`` / ``check``
(JSON: ``{"spec": ..., "runtime": ...}``) or ``update_hosts``.  Errors print
``{"error": message, "code": n}`` and exit 1.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from pyvirt.errors import VirtError
from pyvirt.network import runtime
from tests.unit.netdef_stub import DnsDef, HostDef, IpDef, NetDef, PortForwardDef


def build(spec: dict[str, Any]) -> NetDef:
    ips = []
    for ip in spec.get("ips", []):
        ips.append(
            IpDef(
                ip["address"],
                ip["prefix"],
                ip.get("family", "ipv4"),
                dhcp_ranges=[tuple(r) for r in ip.get("dhcp_ranges", [])],  # type: ignore[misc]
                dhcp_hosts=[HostDef(**h) for h in ip.get("dhcp_hosts", [])],
            )
        )
    pfs = [
        PortForwardDef(p["proto"], tuple(p["port"]), p["to_address"], tuple(p.get("to_port") or p["port"]))  # type: ignore[arg-type]
        for p in spec.get("port_forwards", [])
    ]
    kw = {k: v for k, v in spec.items() if k not in ("ips", "port_forwards", "dns")}
    return NetDef(ips=ips, port_forwards=pfs, dns=DnsDef(**spec.get("dns", {})), **kw)


async def main() -> int:
    op, root, arg = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    paths = runtime.NetworkPaths(root)
    t0 = time.monotonic()
    try:
        if op == "start":
            rt = await runtime.start(build(arg), paths)
            out: Any = rt.to_dict()
        elif op == "stop":
            await runtime.stop(runtime.NetworkRuntime.from_dict(arg["runtime"]), paths)
            out = {}
        elif op == "check":
            rt = runtime.NetworkRuntime.from_dict(arg["runtime"])
            res = await runtime.check(build(arg["spec"]), rt, paths)
            out = {"runtime": rt.to_dict(), "result": res.__dict__}
        elif op == "update_hosts":
            rt = runtime.NetworkRuntime.from_dict(arg["runtime"])
            await runtime.update_hosts(build(arg["spec"]), rt, paths)
            out = rt.to_dict()
        elif op == "update_port_forwards":
            rt = runtime.NetworkRuntime.from_dict(arg["runtime"])
            await runtime.update_port_forwards(build(arg["spec"]), rt, paths)
            out = rt.to_dict()
        else:
            raise SystemExit(f"unknown op {op}")
    except VirtError as err:
        print(json.dumps({"error": err.message, "code": err.code, "seconds": time.monotonic() - t0}))
        return 1
    out["seconds"] = time.monotonic() - t0
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
