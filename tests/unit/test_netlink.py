"""The rtnetlink client without a kernel: request bytes against hand-computed layouts, parsing
of replies and ACKs, and the request loop over a socketpair standing in for the kernel.

Layouts are the kernel's (native byte order); the expected bytes are written for little-endian.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from pyvirt.network import netlink as nl
from pyvirt.network.netlink import Message, NetlinkError, Request

pytestmark = pytest.mark.skipif(sys.byteorder != "little", reason="expected bytes are little-endian")


T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, 10)

    return asyncio.run(bounded())


def h(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


def hdr(length: int, mtype: int, flags: int, seq: int) -> bytes:
    return struct.pack("<IHHII", length, mtype, flags, seq, 0)


# --- attributes ----------------------------------------------------------------


def test_attr_lengths_and_padding() -> None:
    assert nl.attr(1, b"") == h("0400 0100")
    assert nl.attr(1, b"a") == h("0500 0100 61 000000")  # length excludes the padding
    assert nl.attr(3, b"ab") == h("0600 0300 6162 0000")
    assert nl.attr(3, b"abc") == h("0700 0300 616263 00")
    assert nl.attr(3, b"abcd") == h("0800 0300 61626364")
    nested = nl.attr(18, nl.attr(1, b"x") + nl.attr(2, b"yz"))
    assert nested == h("1400 1200  0500 0100 78 000000  0600 0200 797a 0000")
    assert len(nested) % 4 == 0


def test_parse_attrs() -> None:
    data = nl.attr(1, b"a") + nl.attr(4, struct.pack("=I", 1500)) + nl.attr(0x8000 | 18, nl.attr(1, b"k"))
    attrs = nl.parse_attrs(data)
    assert attrs == {1: b"a", 4: struct.pack("=I", 1500), 18: nl.attr(1, b"k")}  # NLA_F_NESTED masked
    assert nl.parse_attrs(nl.attr(3, b"x") + nl.attr(3, b"y")) == {3: b"y"}
    assert nl.parse_attrs(b"") == {}
    assert nl.parse_attrs(b"\0\0") == {}  # a tail shorter than a header is ignored
    with pytest.raises(NetlinkError) as info:
        nl.parse_attrs(h("0900 0100 61"))  # claims 9 bytes, has 5
    assert info.value.errno == errno.EBADMSG
    with pytest.raises(NetlinkError):
        nl.parse_attrs(h("0200 0100"))  # shorter than its own header


def test_parse_mac() -> None:
    assert nl.parse_mac("52:54:00:AB:cd:0f") == h("525400abcd0f")
    for bad in (
        "52:54:00:ab:cd",
        "52:54:00:ab:cd:0f:00",
        "525400abcd0f",
        "52:54:00:ab:cd:g0",
        "2:54:00:ab:cd:0f0",
    ):
        with pytest.raises(ValueError):
            nl.parse_mac(bad)


# --- requests ------------------------------------------------------------------


def test_newlink_bridge_bytes() -> None:
    req = nl.newlink_bridge("br0", nl.parse_mac("52:54:00:12:34:56"), forward_delay=200, stp_state=1)
    assert req.type == nl.RTM_NEWLINK == 16
    assert req.flags == nl.NLM_F_REQUEST | nl.NLM_F_ACK | nl.NLM_F_CREATE | nl.NLM_F_EXCL == 0x605
    assert nl.pack_message(req, 7) == h(
        """
        58000000 1000 0506 07000000 00000000
        00 00 0000 00000000 00000000 00000000
        0800 0300 62723000
        0a00 0100 525400123456 0000
        2400 1200
            0b00 0100 627269646765 00 00
            1400 0200
                0800 0100 c8000000
                0800 0500 01000000
        """
    )


def test_setlink_bytes() -> None:
    assert nl.pack_message(nl.setlink(5, up=True), 1) == h(
        "20000000 1000 0500 01000000 00000000  00 00 0000 05000000 01000000 01000000"
    )
    assert nl.pack_message(nl.setlink(5, up=False), 2) == h(
        "20000000 1000 0500 02000000 00000000  00 00 0000 05000000 00000000 01000000"
    )
    assert nl.pack_message(nl.setlink(5, mtu=1400, master=3), 3) == h(
        """
        30000000 1000 0500 03000000 00000000  00 00 0000 05000000 00000000 00000000
        0800 0400 78050000
        0800 0a00 03000000
        """
    )
    assert nl.setlink(5, address=h("fe5400000001")).payload[16:] == h("0a00 0100 fe5400000001 0000")


def test_dellink_getlink_bytes() -> None:
    assert nl.pack_message(nl.dellink(9), 4) == h(
        "20000000 1100 0500 04000000 00000000  00 00 0000 09000000 00000000 00000000"
    )
    assert nl.pack_message(nl.getlink(9), 5) == h(
        "20000000 1200 0500 05000000 00000000  00 00 0000 09000000 00000000 00000000"
    )


def test_newaddr_bytes() -> None:
    assert nl.pack_message(nl.newaddr(4, "192.168.122.1", 24, "192.168.122.255"), 6) == h(
        """
        30000000 1400 0506 06000000 00000000
        02 18 00 00 04000000
        0800 0200 c0a87a01
        0800 0100 c0a87a01
        0800 0400 c0a87aff
        """
    )
    v6 = "fd00 0000 0000 0000 0000 0000 0000 0001"
    assert nl.pack_message(nl.newaddr(4, "fd00::1", 64), 6) == h(
        f"40000000 1400 0506 06000000 00000000  0a 40 00 00 04000000  1400 0200 {v6}  1400 0100 {v6}"
    )
    with pytest.raises(ValueError):
        nl.newaddr(4, "fd00::1", 64, "192.168.122.255")
    with pytest.raises(ValueError):
        nl.newaddr(4, "192.168.122.300", 24)


def test_newroute_bytes() -> None:
    assert nl.pack_message(nl.newroute(4, "10.20.0.0", 16, "192.168.122.2", 100), 8) == h(
        """
        3c000000 1800 0506 08000000 00000000
        02 10 00 00 fe 03 00 01 00000000
        0800 0100 0a140000
        0800 0500 c0a87a02
        0800 0400 04000000
        0800 0600 64000000
        """
    )
    # no gateway: scope link (253)
    assert nl.pack_message(nl.newroute(4, "10.20.0.0", 16), 9) == h(
        """
        2c000000 1800 0506 09000000 00000000
        02 10 00 00 fe 03 fd 01 00000000
        0800 0100 0a140000
        0800 0400 04000000
        """
    )
    v6 = nl.newroute(2, "fd00:1::", 48, "fd00::2")
    assert v6.payload[:12] == h("0a 30 00 00 fe 03 00 01 00000000")
    assert nl.parse_attrs(v6.payload[12:]) == {
        nl.RTA_DST: h("fd000001000000000000000000000000"),
        nl.RTA_GATEWAY: h("fd000000000000000000000000000002"),
        nl.RTA_OIF: h("02000000"),
    }
    with pytest.raises(NetlinkError) as info:
        nl.newroute(2, "10.0.0.0", 8, "fd00::2")
    assert info.value.code == errno.EINVAL


def test_newqdisc_root_bytes() -> None:
    req = nl.newqdisc_root(9)
    assert req.flags == nl.NLM_F_REQUEST | nl.NLM_F_ACK | nl.NLM_F_CREATE | nl.NLM_F_REPLACE
    assert nl.pack_message(req, 10) == h(
        """
        30000000 2400 0505 0a000000 00000000
        00 000000 09000000 00000000 ffffffff 00000000
        0c00 0100 6e6f717565756500
        """
    )


# --- replies -------------------------------------------------------------------


def msg(mtype: int, seq: int, body: bytes, flags: int = 0) -> bytes:
    return nl.pack_message(Request(mtype, flags, body), seq)


def ack(seq: int, error: int = 0, flags: int = nl.NLM_F_CAPPED, tail: bytes = b"") -> bytes:
    return msg(nl.NLMSG_ERROR, seq, struct.pack("<i", error) + hdr(32, 16, 5, seq) + tail, flags)


def link_reply(seq: int, mtu: int) -> bytes:
    body = (
        struct.pack("<BxHiII", 0, 1, 9, 0x1003, 0) + nl.attr(3, b"br0\0") + nl.attr(4, struct.pack("<I", mtu))
    )
    return msg(nl.RTM_NEWLINK, seq, body)


def test_parse_messages_alignment_and_truncation() -> None:
    one = msg(nl.RTM_NEWLINK, 1, b"abcde")  # 21 bytes, padded to 24 in a datagram
    data = one + b"\0\0\0" + msg(nl.NLMSG_DONE, 1, b"\0\0\0\0")
    got = list(nl.parse_messages(data))
    assert got == [
        Message(nl.RTM_NEWLINK, 0, 1, 0, b"abcde"),
        Message(nl.NLMSG_DONE, 0, 1, 0, b"\0\0\0\0"),
    ]
    with pytest.raises(NetlinkError):
        list(nl.parse_messages(one[:-1]))  # length says 21, 20 present
    with pytest.raises(NetlinkError):
        list(nl.parse_messages(one[:10]))  # not even a header
    with pytest.raises(NetlinkError):
        list(nl.parse_messages(hdr(8, 2, 0, 1)))  # length below the header size


def test_collect_ack_replies_and_errors() -> None:
    replies: list[Message] = []
    assert nl.collect(ack(3), 3, replies) is True and replies == []
    assert nl.collect(link_reply(4, 1500), 4, replies) is False
    assert [m.type for m in replies] == [nl.RTM_NEWLINK]
    assert nl.collect(link_reply(4, 1500) + ack(4), 4, replies) is True
    assert len(replies) == 2
    assert nl.collect(msg(nl.NLMSG_DONE, 5, b"\0\0\0\0"), 5, []) is True

    with pytest.raises(NetlinkError) as info:
        nl.collect(ack(6, -errno.EEXIST), 6, [])
    err = info.value
    assert isinstance(err, OSError)
    assert err.errno == err.code == errno.EEXIST
    assert err.strerror == "File exists"
    assert err.extack is None
    assert str(err) == "[Errno 17] File exists"


def test_collect_skips_other_sequence_numbers() -> None:
    replies: list[Message] = []
    stale = ack(1, -errno.ENODEV) + link_reply(2, 9000) + msg(nl.NLMSG_NOOP, 3, b"")
    assert nl.collect(stale, 3, replies) is False and replies == []
    assert nl.collect(stale + link_reply(3, 1400) + ack(2) + ack(3), 3, replies) is True
    assert [nl.parse_attrs(m.body[16:])[4] for m in replies] == [struct.pack("<I", 1400)]


def test_error_extended_ack_message() -> None:
    tlv = nl.attr(nl.NLMSGERR_ATTR_MSG, b"Nexthop has invalid gateway\0")
    capped = ack(7, -errno.EINVAL, nl.NLM_F_CAPPED | nl.NLM_F_ACK_TLVS, tlv)
    with pytest.raises(NetlinkError) as info:
        nl.collect(capped, 7, [])
    assert info.value.code == errno.EINVAL
    assert info.value.extack == "Nexthop has invalid gateway"
    assert str(info.value) == "[Errno 22] Invalid argument (Nexthop has invalid gateway)"
    # not capped: the whole request (header + 16 payload bytes, 32 in all) is echoed before the TLVs
    echoed = struct.pack("<i", -errno.ENETUNREACH) + hdr(32, 16, 5, 7) + bytes(16) + tlv
    with pytest.raises(NetlinkError) as info:
        nl.collect(msg(nl.NLMSG_ERROR, 7, echoed, nl.NLM_F_ACK_TLVS), 7, [])
    assert info.value.code == errno.ENETUNREACH
    assert info.value.extack == "Nexthop has invalid gateway"
    # a malformed TLV area does not hide the errno
    with pytest.raises(NetlinkError) as info:
        nl.collect(ack(7, -errno.EPERM, nl.NLM_F_CAPPED | nl.NLM_F_ACK_TLVS, h("ff00 0100")), 7, [])
    assert info.value.code == errno.EPERM and info.value.extack is None
    with pytest.raises(NetlinkError) as info:
        nl.collect(msg(nl.NLMSG_ERROR, 7, b"\0\0"), 7, [])
    assert info.value.code == errno.EBADMSG


# --- the request loop, with a socketpair as the kernel ----------------------------


class FakeKernel:
    """The other end of a datagram socketpair: records requests, answers with scripted datagrams."""

    def __init__(self) -> None:
        self.ours, self.theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.ours.setblocking(False)
        self.theirs.setblocking(False)
        self.requests: list[Message] = []

    async def answer(self, make: Callable[[int], list[bytes]], count: int = 1) -> None:
        """Answer ``count`` requests, one after the other, with ``make(seq)``."""
        loop = asyncio.get_running_loop()
        for _ in range(count):
            data = await loop.sock_recv(self.theirs, 65536)
            (req,) = nl.parse_messages(data)
            self.requests.append(req)
            for datagram in make(req.seq):
                await loop.sock_sendall(self.theirs, datagram)

    def close(self) -> None:
        self.theirs.close()


def stale_first(seq: int) -> list[bytes]:
    """A stale error and a reply for other sequence numbers, each in its own datagram, then the answer."""
    return [ack(seq + 100, -errno.ENODEV), link_reply(seq - 1, 9000), link_reply(seq, 1400), ack(seq)]


def test_request_loop_skips_stale_messages_and_reads_the_mtu() -> None:
    kernel = FakeKernel()

    async def go() -> tuple[int, int]:
        async with nl.Netlink(kernel.ours) as sock:
            task = asyncio.create_task(kernel.answer(stale_first))
            mtu = await sock.link_mtu(9)
            await task
            # an up/down change is followed by a get of the link (its answer's error is ignored)
            task = asyncio.create_task(
                kernel.answer(lambda seq: [ack(seq, -errno.ENODEV if seq == 3 else 0)], 2)
            )
            await sock.set_link(9, mtu=1400, address="fe:54:00:00:00:01", up=True)
            await task
            task = asyncio.create_task(kernel.answer(lambda seq: [ack(seq)]))
            await sock.set_link(9, mtu=1500)  # no up/down: no get
            await task
            return mtu, kernel.requests[1].seq

    mtu, seq2 = run(go())
    kernel.close()
    assert mtu == 1400
    first, second, sync, third = kernel.requests
    assert (first.type, first.flags, first.seq) == (nl.RTM_GETLINK, nl.NLM_F_REQUEST | nl.NLM_F_ACK, 1)
    assert seq2 == 2
    assert second.body == nl.setlink(9, mtu=1400, address=h("fe5400000001"), up=True).payload
    assert (sync.type, sync.seq, sync.body) == (nl.RTM_GETLINK, 3, nl.getlink(9).payload)
    assert (third.type, third.seq, third.body) == (nl.RTM_NEWLINK, 4, nl.setlink(9, mtu=1500).payload)
    assert kernel.ours.fileno() == -1  # closed by the context manager


def test_request_loop_raises_the_kernel_error() -> None:
    kernel = FakeKernel()

    async def go() -> None:
        async with nl.Netlink(kernel.ours) as sock:
            task = asyncio.create_task(kernel.answer(lambda seq: [ack(seq - 1), ack(seq, -errno.EEXIST)]))
            try:
                await sock.create_bridge("virbr0", "52:54:00:00:00:01", forward_delay=0, stp_state=1)
            finally:
                await task

    with pytest.raises(NetlinkError) as info:
        run(go())
    kernel.close()
    assert info.value.code == errno.EEXIST
    assert kernel.requests[0].type == nl.RTM_NEWLINK


def test_concurrent_requests_on_one_socket_each_get_their_answer() -> None:
    kernel = FakeKernel()

    async def go() -> list[int]:
        async with nl.Netlink(kernel.ours) as sock:
            server = asyncio.create_task(
                kernel.answer(lambda seq: [link_reply(seq, 1000 + seq), ack(seq)], 2)
            )
            got = await asyncio.gather(sock.link_mtu(1), sock.link_mtu(2))
            await server
            return list(got)

    assert run(go()) == [1001, 1002]
    kernel.close()


def test_link_index() -> None:
    assert nl.link_index("lo") == socket.if_nametoindex("lo")
    assert nl.link_index("pyvirt-nope0") is None
    assert nl.link_index("x" * 40) is None
    assert nl.link_index("bad\0name") is None
