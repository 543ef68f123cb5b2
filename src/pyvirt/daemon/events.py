"""Event callbacks registered by clients, and fan-out of lifecycle events.

Drivers call :meth:`EventBus.domain_lifecycle` / :meth:`network_lifecycle`
(plain callables handed to them, so drivers never import the daemon); the bus
sends one MESSAGE per matching registration, as libvirtd does.
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING, Any

from pyvirt.lazydataclass import dataclass
from pyvirt.rpc.remote import Proc

if TYPE_CHECKING:
    from pyvirt.daemon.server import ClientConnection

log = logging.getLogger(__name__)

# virDomainEventID / virNetworkEventID values we deliver.
DOMAIN_EVENT_ID_LIFECYCLE = 0
DOMAIN_EVENT_ID_REBOOT = 1
DOMAIN_EVENT_ID_DEVICE_REMOVED = 15
# Domain events other than lifecycle: eventID -> (callback procedure, legacy procedure or None).
_DOMAIN_EVENT_PROCS = {
    DOMAIN_EVENT_ID_REBOOT: (Proc.DOMAIN_EVENT_CALLBACK_REBOOT, Proc.DOMAIN_EVENT_REBOOT),
    DOMAIN_EVENT_ID_DEVICE_REMOVED: (Proc.DOMAIN_EVENT_CALLBACK_DEVICE_REMOVED, None),
}
NETWORK_EVENT_ID_LIFECYCLE = 0


@dataclass
class Registration:
    client: ClientConnection
    callback_id: int
    event_id: int
    uuid: bytes | None  # only events for this object, when set
    legacy: bool = False


class EventBus:
    """Who wants which events; delivers them without blocking the caller."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._domain: dict[int, Registration] = {}
        self._network: dict[int, Registration] = {}

    def register_domain(
        self, client: ClientConnection, event_id: int, uuid: bytes | None, *, legacy: bool = False
    ) -> int:
        cid = next(self._ids)
        self._domain[cid] = Registration(client, cid, event_id, uuid, legacy)
        return cid

    def register_network(self, client: ClientConnection, event_id: int, uuid: bytes | None) -> int:
        cid = next(self._ids)
        self._network[cid] = Registration(client, cid, event_id, uuid)
        return cid

    def deregister_domain(self, client: ClientConnection, callback_id: int) -> bool:
        reg = self._domain.get(callback_id)
        if reg is None or reg.client is not client:
            return False
        del self._domain[callback_id]
        return True

    def deregister_domain_legacy(self, client: ClientConnection, event_id: int) -> bool:
        for cid, reg in list(self._domain.items()):
            if reg.client is client and reg.legacy and reg.event_id == event_id:
                del self._domain[cid]
                return True
        return False

    def deregister_network(self, client: ClientConnection, callback_id: int) -> bool:
        reg = self._network.get(callback_id)
        if reg is None or reg.client is not client:
            return False
        del self._network[callback_id]
        return True

    def drop_client(self, client: ClientConnection) -> None:
        for table in (self._domain, self._network):
            for cid in [cid for cid, reg in table.items() if reg.client is client]:
                del table[cid]

    def domain_lifecycle(self, dom: dict[str, Any], event: int, detail: int) -> None:
        """Deliver a domain lifecycle event (``dom`` is a remote_nonnull_domain)."""
        log.debug("domain event %s: %d/%d", dom["name"], event, detail)
        for reg in list(self._domain.values()):
            if reg.event_id != DOMAIN_EVENT_ID_LIFECYCLE or (
                reg.uuid is not None and reg.uuid != dom["uuid"]
            ):
                continue
            if reg.legacy:
                self._send(
                    reg.client, Proc.DOMAIN_EVENT_LIFECYCLE, {"dom": dom, "event": event, "detail": detail}
                )
            else:
                self._send(
                    reg.client,
                    Proc.DOMAIN_EVENT_CALLBACK_LIFECYCLE,
                    {"callbackID": reg.callback_id, "msg": {"dom": dom, "event": event, "detail": detail}},
                )

    def domain_event(self, event_id: int, dom: dict[str, Any], extra: dict[str, Any]) -> None:
        """Deliver a non-lifecycle domain event (reboot, device-removed, ...).

        ``extra`` holds the message fields after ``dom`` (``{"devAlias": ...}``).
        Event ids without a known message are dropped.
        """
        procs = _DOMAIN_EVENT_PROCS.get(event_id)
        if procs is None:
            return
        log.debug("domain event %d for %s: %s", event_id, dom["name"], extra)
        for reg in list(self._domain.values()):
            if reg.event_id != event_id or (reg.uuid is not None and reg.uuid != dom["uuid"]):
                continue
            if reg.legacy:
                if procs[1] is not None:
                    self._send(reg.client, procs[1], {"dom": dom, **extra})
            else:
                body = {"callbackID": reg.callback_id, "msg": {"dom": dom, **extra}}
                self._send(reg.client, procs[0], body)

    def network_lifecycle(self, net: dict[str, Any], event: int, detail: int) -> None:
        """Deliver a network lifecycle event (``net`` is a remote_nonnull_network)."""
        log.debug("network event %s: %d/%d", net["name"], event, detail)
        for reg in list(self._network.values()):
            if reg.event_id != NETWORK_EVENT_ID_LIFECYCLE or (
                reg.uuid is not None and reg.uuid != net["uuid"]
            ):
                continue
            self._send(
                reg.client,
                Proc.NETWORK_EVENT_LIFECYCLE,
                {"callbackID": reg.callback_id, "net": net, "event": event, "detail": detail},
            )

    def _send(self, client: ClientConnection, proc: int, body: dict[str, Any]) -> None:
        client.send_event(proc, body)
