"""Hostile XML against the network and domain parsers.

Only :class:`VirtError` may come out of ``parse_network`` / ``parse_domain``,
whatever the input; and a document they accept must come back from its own
stored form (``format(inactive=True)``), since that is what the daemon reloads
after a restart.  Entity tricks and DTDs are refused with libvirt-style XML
errors; names, bridges, addresses and DHCP ranges that could escape the root
or confuse dnsmasq are refused with clear messages.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from pyvirt.conf.domain import parse_domain
from pyvirt.conf.network import parse_network
from pyvirt.errors import ErrorNumber, VirtError

DATA = Path(__file__).resolve().parents[1] / "data"
NET_CORPUS = sorted((DATA / "network").glob("*.in.xml"))
DOM_CORPUS = sorted((DATA / "domain").glob("*.in.xml"))
FUZZ = settings(max_examples=300, deadline=3000, suppress_health_check=[HealthCheck.too_slow])

HOSTILE_VALUES = [
    "",
    " ",
    "..",
    "../../../../tmp/pwned",
    "a/b",
    "x\ny",
    "\t",
    "&amp;",
    "<",
    "-1",
    "0",
    "4294967296",
    "99999999999999999999999",
    "1e3",
    "0x10",
    "255.255.255.255",
    "300.1.1.1",
    "::1",
    "fe80::1%eth0",
    "ff:ff:ff:ff:ff:ff",
    "01:00:5e:00:00:01",
    "zz:zz:zz:zz:zz:zz",
    "yes",
    "no",
    "x" * 5000,
    "\u00e9\u00e8",
    "%d%d%d",
    "virbr%d",
]


def _parse_net(text: str | bytes) -> None:
    try:
        net = parse_network(text)
    except VirtError:
        return
    parse_network(net.format(inactive=True))  # what the store reloads must parse


def _parse_dom(text: str | bytes) -> None:
    try:
        dom = parse_domain(text if isinstance(text, str) else text.decode("utf-8", "surrogateescape"), None)
    except VirtError:
        return
    parse_domain(dom.format(inactive=True), None)


@FUZZ
@given(st.text(max_size=300))
def test_random_text_network(text: str) -> None:
    _parse_net(text)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_network(data: bytes) -> None:
    _parse_net(data)


@FUZZ
@given(st.text(max_size=300))
def test_random_text_domain(text: str) -> None:
    _parse_dom(text)


def _mutate_text(text: str, rng: random.Random) -> str:
    op = rng.randrange(4)
    i = rng.randrange(len(text) + 1)
    j = min(len(text), i + rng.randrange(40))
    if op == 0:
        return text[:i] + text[j:]
    if op == 1:
        junk = ["<", ">", "&", "'", '"', "/", "\x01", "\n", "]]>", "<!--", "&#0;"]
        return text[:i] + rng.choice(junk) + text[i:]
    if op == 2:
        return text[:i] + text[i:j] * rng.randint(2, 5) + text[j:]
    return text[:i] + rng.choice(HOSTILE_VALUES) + text[j:]


def _mutate_tree(text: str, rng: random.Random) -> str:
    root = etree.fromstring(text.encode())
    nodes = [n for n in root.iter() if isinstance(n.tag, str)]
    node = rng.choice(nodes)
    value = rng.choice(HOSTILE_VALUES)
    if node.attrib and rng.random() < 0.7:
        node.set(rng.choice(list(node.attrib)), value)
    else:
        node.text = value
    return etree.tostring(root, encoding="unicode")


@pytest.mark.parametrize("kind", ["network", "domain"])
def test_mutated_corpus(kind: str) -> None:
    """Thousands of mutations of the real test documents: only VirtError, and stored forms reload."""
    corpus = NET_CORPUS if kind == "network" else DOM_CORPUS
    assert corpus, "test corpus missing"
    parse = _parse_net if kind == "network" else _parse_dom
    rng = random.Random(20240611)
    texts = [p.read_text() for p in corpus]
    cases = 0
    for _ in range(1500 if kind == "network" else 600):
        text = rng.choice(texts)
        mutated = _mutate_tree(text, rng) if rng.random() < 0.5 else _mutate_text(text, rng)
        parse(mutated)
        cases += 1
    print(f"\n{kind} XML mutations: {cases} documents")


ENTITY_ATTACKS = {
    "billion laughs": (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        "<ROOT><name>&lol3;</name></ROOT>"
    ),
    "external entity": '<!DOCTYPE n [<!ENTITY x SYSTEM "file:///etc/passwd">]><ROOT><name>&x;</name></ROOT>',
    "parameter entity": (
        '<!DOCTYPE n [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><ROOT><name>x</name></ROOT>'
    ),
    "external dtd": '<!DOCTYPE ROOT SYSTEM "http://127.0.0.1:1/x.dtd"><ROOT><name>x</name></ROOT>',
    "network dtd": '<!DOCTYPE ROOT PUBLIC "-//x//y" "http://127.0.0.1:1/x.dtd"><ROOT><name>x</name></ROOT>',
    "xinclude": (
        '<ROOT xmlns:xi="http://www.w3.org/2001/XInclude"><name>x</name>'
        '<xi:include href="file:///etc/passwd" parse="text"/></ROOT>'
    ),
}


@pytest.mark.parametrize("attack", sorted(ENTITY_ATTACKS))
@pytest.mark.parametrize("kind", ["network", "domain"])
def test_entity_and_dtd_attacks_refused(kind: str, attack: str) -> None:
    text = ENTITY_ATTACKS[attack].replace("ROOT", kind)
    if kind == "domain":
        text = text.replace("<domain", "<domain type='qemu'", 1).replace(
            "</name>", "</name><memory>65536</memory><os><type>hvm</type></os>", 1
        )
    parse = parse_network if kind == "network" else (lambda t: parse_domain(t, None))
    try:
        result = parse(text)
    except VirtError as err:
        assert err.code in (ErrorNumber.XML_ERROR, ErrorNumber.XML_DETAIL), err.message
        assert "root:" not in err.message  # /etc/passwd never leaks into a message
        return
    # XInclude is not processed: the document is accepted as-is, nothing read.
    assert attack == "xinclude"
    assert "root:" not in result.format(inactive=True)


BAD_NETWORKS = {
    "slash in name": ("<network><name>../../x</name></network>", "invalid char in name"),
    "newline in name": ("<network><name>a\nb</name></network>", "invalid char in name"),
    "control char in name": ("<network><name>a&#1;b</name></network>", "invalid xmlChar"),
    "raw control char": ("<network><name>a\x01b</name></network>", "invalid Char"),
    "nul char": ("<network><name>a&#0;b</name></network>", "xmlChar"),
    "bridge too long": (
        "<network><name>x</name><bridge name='abcdefghijklmnop'/></network>",
        "is too long (maximum 15 characters)",
    ),
    "bridge with slash": (
        "<network><name>x</name><bridge name='../../etc'/></network>",
        "Invalid bridge name",
    ),
    "bridge with space": ("<network><name>x</name><bridge name='br 0'/></network>", "Invalid bridge name"),
    "bridge dotdot": ("<network><name>x</name><bridge name='..'/></network>", "Invalid bridge name"),
    "bad mac": ("<network><name>x</name><mac address='zz:00:00:00:00:00'/></network>", "mac address"),
    "bad ip": ("<network><name>x</name><ip address='300.1.1.1' prefix='24'/></network>", "Invalid address"),
    "prefix 33": ("<network><name>x</name><ip address='10.0.0.1' prefix='33'/></network>", "prefix"),
    "prefix -1": ("<network><name>x</name><ip address='10.0.0.1' prefix='-1'/></network>", "prefix"),
    "ipv6 prefix 129": (
        "<network><name>x</name><ip family='ipv6' address='fd00::1' prefix='129'/></network>",
        "prefix",
    ),
    "overlapping dhcp ranges": (
        "<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>"
        "<range start='10.0.0.10' end='10.0.0.50'/><range start='10.0.0.40' end='10.0.0.60'/>"
        "</dhcp></ip></network>",
        "overlaps range 10.0.0.10 - 10.0.0.50",
    ),
    "identical dhcp ranges": (
        "<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>"
        "<range start='10.0.0.10' end='10.0.0.50'/><range start='10.0.0.10' end='10.0.0.50'/>"
        "</dhcp></ip></network>",
        "overlaps",
    ),
    "range outside subnet": (
        "<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>"
        "<range start='10.0.1.10' end='10.0.1.50'/></dhcp></ip></network>",
        "not entirely within",
    ),
    "reversed range": (
        "<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>"
        "<range start='10.0.0.50' end='10.0.0.10'/></dhcp></ip></network>",
        "reversed",
    ),
    "no name": ("<network><bridge name='x'/></network>", "missing name"),
    "wrong root": ("<domain><name>x</name></domain>", "expecting root element"),
    "invalid utf-8 from the wire": ("<network><name>a\udcff</name></network>", "encoding"),
}


@pytest.mark.parametrize("case", sorted(BAD_NETWORKS))
def test_bad_networks_refused_clearly(case: str) -> None:
    text, expected = BAD_NETWORKS[case]
    with pytest.raises(VirtError) as info:
        parse_network(text)
    assert expected in info.value.message


def test_adjacent_dhcp_ranges_are_fine() -> None:
    net = parse_network(
        "<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>"
        "<range start='10.0.0.10' end='10.0.0.50'/><range start='10.0.0.51' end='10.0.0.60'/>"
        "</dhcp></ip></network>"
    )
    assert len(net.ips[0].dhcp_ranges) == 2


BAD_DOMAINS = {
    "slash in name": "../../x",
    "newline in name": "a\nb",
}


@pytest.mark.parametrize("case", sorted(BAD_DOMAINS))
def test_bad_domain_names_refused(case: str) -> None:
    name = BAD_DOMAINS[case]
    xml = f"<domain type='qemu'><name>{name}</name><memory>65536</memory><os><type>hvm</type></os></domain>"
    with pytest.raises(VirtError):
        parse_domain(xml, None)


def test_dot_names_stay_inside_their_directory() -> None:
    """Names like '.' or '..' are legal for libvirt; the file is NAME.xml, never a path escape."""
    for name in (".", "..", ".hidden"):
        net = parse_network(f"<network><name>{name}</name></network>")
        assert "/" not in net.name
