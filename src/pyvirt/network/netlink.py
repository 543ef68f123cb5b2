"""A minimal asyncio rtnetlink client: the few link, address, route and qdisc requests pyvirt makes.

One :class:`Netlink` is one ``NETLINK_ROUTE`` socket of the calling process's
network namespace, used as ``async with Netlink() as nl:``.  Every request is
sent with ``NLM_F_REQUEST | NLM_F_ACK`` and waits for the kernel's answer:
the replies it carries (for a get), then the ACK (an ``NLMSG_ERROR`` with
error 0).  A negative error becomes :class:`NetlinkError`.  Replies are
matched by sequence number; messages with another one are ignored.  Requests
on one socket run one at a time.

The request builders (:func:`newlink_bridge`, :func:`setlink`, ...) and the
parsers (:func:`parse_messages`, :func:`parse_attrs`, :func:`collect`) are pure
functions over bytes.  Layouts and constants are the kernel's uapi
(``linux/netlink.h``, ``rtnetlink.h``, ``if_link.h``, ``if_addr.h``,
``pkt_sched.h``), native byte order, attributes aligned to 4 bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import os
import socket
import struct
from collections.abc import Iterator
from types import TracebackType
from typing import NamedTuple

__all__ = [
    "Message",
    "Netlink",
    "NetlinkError",
    "Request",
    "attr",
    "collect",
    "dellink",
    "getlink",
    "link_index",
    "newaddr",
    "newlink_bridge",
    "newqdisc_root",
    "newroute",
    "pack_message",
    "parse_attrs",
    "parse_mac",
    "parse_messages",
    "setlink",
]

# linux/netlink.h
NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_ACK = 0x04
NLM_F_REPLACE = 0x100  # modifiers to NEW requests
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_CAPPED = 0x100  # flags of an ACK (NLMSG_ERROR)
NLM_F_ACK_TLVS = 0x200
NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4
NLMSGERR_ATTR_MSG = 1
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER

# linux/rtnetlink.h
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_NEWROUTE = 24
RTM_NEWQDISC = 36
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RTN_UNICAST = 1
RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PRIORITY = 6

# linux/if_link.h
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_MASTER = 10
IFLA_LINKINFO = 18
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
IFLA_BR_FORWARD_DELAY = 1
IFLA_BR_STP_STATE = 5

# linux/if_addr.h
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_BROADCAST = 4

# linux/pkt_sched.h, linux/rtnetlink.h (TCA_*)
TC_H_ROOT = 0xFFFFFFFF
TCA_KIND = 1

# linux/if.h
IFF_UP = 0x1

AF_UNSPEC = 0
NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
NLATTR = struct.Struct("=HH")  # len, type
IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, protocol, scope, type, flags
TCMSG = struct.Struct("=BxxxiIII")  # family, ifindex, handle, parent, info
U32 = struct.Struct("=I")
I32 = struct.Struct("=i")
RECV_SIZE = 65536


class NetlinkError(OSError):
    """The kernel refused a request: ``errno`` (also ``code``) is the positive errno.

    ``extack`` is the kernel's extended-ACK message when it gave one.
    """

    def __init__(self, code: int, extack: str | None = None) -> None:
        super().__init__(code, os.strerror(code))
        self.code = code
        self.extack = extack

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text} ({self.extack})" if self.extack else text


class Request(NamedTuple):
    """A request before it gets its sequence number: message type, flags, payload."""

    type: int
    flags: int
    payload: bytes


class Message(NamedTuple):
    """A received netlink message: header fields and the body after the header."""

    type: int
    flags: int
    seq: int
    pid: int
    body: bytes


def _align(length: int) -> int:
    return (length + 3) & ~3


def attr(kind: int, data: bytes) -> bytes:
    """One rtattr: length (header included, padding excluded), type, data, padding to 4 bytes."""
    length = NLATTR.size + len(data)
    return NLATTR.pack(length, kind) + data + bytes(_align(length) - length)


def _u32(kind: int, value: int) -> bytes:
    return attr(kind, U32.pack(value))


def _str(kind: int, text: str) -> bytes:
    return attr(kind, text.encode() + b"\0")


def pack_message(request: Request, seq: int, pid: int = 0) -> bytes:
    """The whole message: nlmsghdr (length includes the header) and the payload."""
    return NLMSGHDR.pack(NLMSGHDR.size + len(request.payload), request.type, request.flags, seq, pid) + (
        request.payload
    )


def parse_messages(data: bytes) -> Iterator[Message]:
    """The messages of one datagram.  Raises NetlinkError (EBADMSG) on a truncated message."""
    offset = 0
    while offset < len(data):
        if len(data) - offset < NLMSGHDR.size:
            raise NetlinkError(errno.EBADMSG)
        length, mtype, flags, seq, pid = NLMSGHDR.unpack_from(data, offset)
        if length < NLMSGHDR.size or offset + length > len(data):
            raise NetlinkError(errno.EBADMSG)
        yield Message(mtype, flags, seq, pid, data[offset + NLMSGHDR.size : offset + length])
        offset += _align(length)


def parse_attrs(data: bytes) -> dict[int, bytes]:
    """Attribute type (flags masked) -> data, the last one winning.

    Raises NetlinkError (EBADMSG) on a truncated attribute.
    """
    attrs: dict[int, bytes] = {}
    offset = 0
    while len(data) - offset >= NLATTR.size:
        length, kind = NLATTR.unpack_from(data, offset)
        if length < NLATTR.size or offset + length > len(data):
            raise NetlinkError(errno.EBADMSG)
        attrs[kind & NLA_TYPE_MASK] = data[offset + NLATTR.size : offset + length]
        offset += _align(length)
    return attrs


def _check_error(msg: Message) -> None:
    """Raise NetlinkError for an NLMSG_ERROR with a negative error; return for an ACK."""
    if len(msg.body) < I32.size:
        raise NetlinkError(errno.EBADMSG)
    (error,) = I32.unpack_from(msg.body)
    if error == 0:
        return
    extack = None
    if msg.flags & NLM_F_ACK_TLVS and len(msg.body) >= I32.size + NLMSGHDR.size:
        if msg.flags & NLM_F_CAPPED:
            start = I32.size + NLMSGHDR.size
        else:
            (orig_len,) = U32.unpack_from(msg.body, I32.size)
            start = I32.size + _align(orig_len)
        with contextlib.suppress(NetlinkError):
            text = parse_attrs(msg.body[start:]).get(NLMSGERR_ATTR_MSG)
            if text:
                extack = text.split(b"\0", 1)[0].decode(errors="replace") or None
    raise NetlinkError(-error if error < 0 else errno.EPROTO, extack)


def collect(data: bytes, seq: int, replies: list[Message]) -> bool:
    """Feed one received datagram: append the replies to ``seq`` to ``replies``.

    Returns True once the request is answered (its ACK, or NLMSG_DONE).
    Messages with another sequence number are skipped.  Raises NetlinkError
    when the answer is an error (or the datagram is malformed).
    """
    for msg in parse_messages(data):
        if msg.seq != seq or msg.type in (NLMSG_NOOP, NLMSG_OVERRUN):
            continue
        if msg.type == NLMSG_ERROR:
            _check_error(msg)
            return True
        if msg.type == NLMSG_DONE:
            return True
        replies.append(msg)
    return False


def parse_mac(mac: str) -> bytes:
    """``"52:54:00:aa:bb:cc"`` -> 6 bytes.  Raises ValueError for anything else."""
    parts = mac.split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ValueError(f"invalid MAC address {mac!r}")
    return bytes.fromhex("".join(parts))


# --- request builders -------------------------------------------------------

_NEW = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL


def newlink_bridge(name: str, mac: bytes, forward_delay: int, stp_state: int) -> Request:
    """RTM_NEWLINK creating bridge ``name`` with ``mac`` (6 bytes).

    ``forward_delay`` is IFLA_BR_FORWARD_DELAY in the kernel's unit (clock
    ticks: seconds x 100); it goes before IFLA_BR_STP_STATE, since the kernel
    applies them in that order (a 0 delay is accepted, then raised to the STP
    minimum when STP is turned on).
    """
    info = attr(
        IFLA_LINKINFO,
        _str(IFLA_INFO_KIND, "bridge")
        + attr(
            IFLA_INFO_DATA, _u32(IFLA_BR_FORWARD_DELAY, forward_delay) + _u32(IFLA_BR_STP_STATE, stp_state)
        ),
    )
    payload = IFINFOMSG.pack(AF_UNSPEC, 0, 0, 0, 0) + _str(IFLA_IFNAME, name) + attr(IFLA_ADDRESS, mac) + info
    return Request(RTM_NEWLINK, _NEW, payload)


def setlink(
    index: int,
    *,
    mtu: int | None = None,
    address: bytes | None = None,
    master: int | None = None,
    up: bool | None = None,
) -> Request:
    """RTM_NEWLINK changing link ``index``: IFLA_MTU, IFLA_ADDRESS, IFLA_MASTER, IFF_UP when given."""
    flags = IFF_UP if up else 0
    change = IFF_UP if up is not None else 0
    payload = IFINFOMSG.pack(AF_UNSPEC, 0, index, flags, change)
    if address is not None:
        payload += attr(IFLA_ADDRESS, address)
    if mtu is not None:
        payload += _u32(IFLA_MTU, mtu)
    if master is not None:
        payload += _u32(IFLA_MASTER, master)
    return Request(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, payload)


def dellink(index: int) -> Request:
    """RTM_DELLINK for link ``index``."""
    return Request(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, IFINFOMSG.pack(AF_UNSPEC, 0, index, 0, 0))


def getlink(index: int) -> Request:
    """RTM_GETLINK for link ``index`` (answered by one RTM_NEWLINK, then the ACK)."""
    return Request(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, IFINFOMSG.pack(AF_UNSPEC, 0, index, 0, 0))


def _family(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    return socket.AF_INET if addr.version == 4 else socket.AF_INET6


def newaddr(index: int, address: str, prefixlen: int, broadcast: str | None = None) -> Request:
    """RTM_NEWADDR adding ``address/prefixlen`` (IPv4 or IPv6) to link ``index``.

    IFA_LOCAL and IFA_ADDRESS both carry ``address``; IFA_BROADCAST is added
    when given (IPv4 only).  Raises ValueError for a malformed address or a
    broadcast that is not IPv4 with an IPv4 address.
    """
    ip = ipaddress.ip_address(address)
    payload = IFADDRMSG.pack(_family(ip), prefixlen, 0, RT_SCOPE_UNIVERSE, index)
    payload += attr(IFA_LOCAL, ip.packed) + attr(IFA_ADDRESS, ip.packed)
    if broadcast is not None:
        brd = ipaddress.ip_address(broadcast)
        if ip.version != 4 or brd.version != 4:
            raise ValueError("a broadcast address is IPv4 only")
        payload += attr(IFA_BROADCAST, brd.packed)
    return Request(RTM_NEWADDR, _NEW, payload)


def newroute(
    index: int, dst: str, dst_len: int, gateway: str | None = None, priority: int | None = None
) -> Request:
    """RTM_NEWROUTE ``dst/dst_len [via gateway] dev index [metric priority]`` in table main.

    Protocol boot, type unicast, scope link without a gateway and universe
    with one (like ``ip route add``).  Raises ValueError for a malformed
    address and NetlinkError (EINVAL) for a gateway of the other family.
    """
    dst_ip = ipaddress.ip_address(dst)
    scope = RT_SCOPE_UNIVERSE if gateway else RT_SCOPE_LINK
    payload = RTMSG.pack(_family(dst_ip), dst_len, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, scope, RTN_UNICAST, 0)
    payload += attr(RTA_DST, dst_ip.packed)
    if gateway:
        gw = ipaddress.ip_address(gateway)
        if gw.version != dst_ip.version:
            raise NetlinkError(errno.EINVAL)
        payload += attr(RTA_GATEWAY, gw.packed)
    payload += _u32(RTA_OIF, index)
    if priority is not None:
        payload += _u32(RTA_PRIORITY, priority)
    return Request(RTM_NEWROUTE, _NEW, payload)


def newqdisc_root(index: int, kind: str = "noqueue") -> Request:
    """RTM_NEWQDISC replacing the root qdisc of link ``index`` by ``kind`` (handle 0, no options)."""
    payload = TCMSG.pack(AF_UNSPEC, index, 0, TC_H_ROOT, 0) + _str(TCA_KIND, kind)
    return Request(RTM_NEWQDISC, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, payload)


def link_index(name: str) -> int | None:
    """The index of interface ``name`` in this namespace, or None when there is none."""
    try:
        return socket.if_nametoindex(name)
    except (OSError, ValueError):
        return None


# --- the socket --------------------------------------------------------------


class Netlink:
    """An rtnetlink socket for ``async with``; its methods send one request and wait for the answer.

    Opening raises OSError when the socket cannot be created.  Every request
    method raises NetlinkError when the kernel refuses (``err.code`` is the
    errno, e.g. EEXIST, ENODEV), and OSError when the socket itself fails.
    ``sock`` is for tests (any non-blocking datagram socket).
    """

    def __init__(self, sock: socket.socket | None = None) -> None:
        if sock is None:
            sock = socket.socket(
                socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK, NETLINK_ROUTE
            )
            try:
                for option in (NETLINK_EXT_ACK, NETLINK_CAP_ACK):  # optional: error text, short ACKs
                    with contextlib.suppress(OSError):
                        sock.setsockopt(SOL_NETLINK, option, 1)
                sock.bind((0, 0))
                sock.connect((0, 0))  # the kernel
            except BaseException:
                sock.close()
                raise
        self._sock = sock
        self._seq = 0
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Netlink:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()

    async def request(self, request: Request) -> list[Message]:
        """Send ``request`` and return the replies that came before its ACK.  Raises NetlinkError, OSError."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            self._seq = self._seq % 0xFFFFFFFF + 1
            seq = self._seq
            await loop.sock_sendall(self._sock, pack_message(request, seq))
            replies: list[Message] = []
            while True:
                data = await loop.sock_recv(self._sock, RECV_SIZE)
                if not data:
                    raise NetlinkError(errno.ECONNRESET)
                if collect(data, seq, replies):
                    return replies

    async def create_bridge(self, name: str, mac: str, *, forward_delay: int, stp_state: int) -> None:
        """Create bridge ``name`` (see :func:`newlink_bridge`).

        Raises NetlinkError (EEXIST when the name is taken), ValueError for a bad ``mac``.
        """
        await self.request(newlink_bridge(name, parse_mac(mac), forward_delay, stp_state))

    async def set_link(
        self,
        index: int,
        *,
        mtu: int | None = None,
        address: str | None = None,
        master: int | None = None,
        up: bool | None = None,
    ) -> None:
        """Set the MTU, MAC, master and/or up/down state of link ``index``.

        After an up/down change the link is read back: the kernel applies
        carrier changes through its link watch, up to 1 s later, and a get
        of the link makes it apply them now, so the operstate (a bridge
        without ports: DOWN, NO-CARRIER) is current when this returns.

        Raises NetlinkError (ENODEV for a missing link), ValueError for a bad ``address``.
        """
        mac = parse_mac(address) if address is not None else None
        await self.request(setlink(index, mtu=mtu, address=mac, master=master, up=up))
        if up is not None:
            with contextlib.suppress(NetlinkError):  # the change is made; this only syncs
                await self.request(getlink(index))

    async def delete_link(self, index: int) -> None:
        """Delete link ``index``.  Raises NetlinkError (ENODEV when it does not exist)."""
        await self.request(dellink(index))

    async def link_mtu(self, index: int) -> int:
        """The MTU of link ``index`` (0 if the kernel gave none).  Raises NetlinkError (ENODEV)."""
        for msg in await self.request(getlink(index)):
            if msg.type == RTM_NEWLINK and len(msg.body) >= IFINFOMSG.size:
                mtu = parse_attrs(msg.body[IFINFOMSG.size :]).get(IFLA_MTU)
                if mtu is not None and len(mtu) >= U32.size:
                    return int(U32.unpack_from(mtu)[0])
        return 0

    async def add_address(
        self, index: int, address: str, prefixlen: int, broadcast: str | None = None
    ) -> None:
        """Add an address to link ``index`` (see :func:`newaddr`).

        Raises NetlinkError (EEXIST when present), ValueError for a malformed address.
        """
        await self.request(newaddr(index, address, prefixlen, broadcast))

    async def add_route(
        self, index: int, dst: str, dst_len: int, gateway: str | None = None, priority: int | None = None
    ) -> None:
        """Add a route through link ``index`` (see :func:`newroute`).

        Raises NetlinkError (e.g. EEXIST, ENETUNREACH for a gateway off-link), ValueError.
        """
        await self.request(newroute(index, dst, dst_len, gateway, priority))

    async def replace_root_qdisc(self, index: int, kind: str = "noqueue") -> None:
        """Make ``kind`` the root qdisc of link ``index``.  Raises NetlinkError."""
        await self.request(newqdisc_root(index, kind))
