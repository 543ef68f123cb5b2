"""conf/xmlutil: safe parsing, libvirt-style errors, the canonical formatter, helpers."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from pyvirt.conf import xmlutil
from pyvirt.conf.xmlutil import format_xml, parse_xml
from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError

# ---------------------------------------------------------------- parse_xml


def _parse_error(text: str, what: str = "domain_definition") -> VirtError:
    with pytest.raises(VirtError) as info:
        parse_xml(text, what=what)
    return info.value


def test_truncated_document_matches_libvirt_068() -> None:
    # the exact text libvirt 9.0 printed for this file (068-err-define-malformed)
    err = _parse_error("<domain type='qemu'><name>bad</name>\n")
    assert err.code == ErrorNumber.XML_DETAIL == 35
    assert err.domain == ErrorDomain.DOMAIN
    assert err.message == "(domain_definition):2: Premature end of data in tag domain line 1\n(null)\n^"


def test_error_domain_follows_what() -> None:
    assert _parse_error("<network>", what="network_definition").domain == ErrorDomain.NETWORK
    assert _parse_error("<x>", what="something_else").domain == ErrorDomain.XML


def test_error_context_and_pointer() -> None:
    err = _parse_error("<a>\n\t<b x='1' x='2'/>\n</a>")
    assert err.message is not None
    head, context, pointer = err.message.split("\n")
    assert head == "(domain_definition):2: Attribute x redefined"
    assert context == "\t<b x='1' x='2'/>"
    assert pointer.startswith("\t") and pointer.endswith("^")


def test_url_override() -> None:
    with pytest.raises(VirtError) as info:
        parse_xml("<host", what="network_update_xml", url="network_update_xml")
    assert (info.value.message or "").startswith("network_update_xml:1: ")


def test_empty_document() -> None:
    err = _parse_error("")
    assert err.code == ErrorNumber.XML_DETAIL
    assert "Document is empty" in (err.message or "")


@pytest.mark.parametrize(
    "text",
    [
        '<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>',
        '<!DOCTYPE a SYSTEM "http://example.com/a.dtd"><a/>',
        '<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>',
        '<!DOCTYPE a [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><a>&b;</a>',
        "<!DOCTYPE a><a/>",
    ],
)
def test_dtd_and_entities_refused(text: str) -> None:
    err = _parse_error(text)
    assert err.code == ErrorNumber.XML_ERROR


def test_undefined_entity_is_malformed() -> None:
    assert _parse_error("<a>&nope;</a>").code == ErrorNumber.XML_DETAIL


def test_root_check() -> None:
    with pytest.raises(VirtError) as info:
        parse_xml("<domain/>", what="network_definition", root="network")
    assert info.value.code == ErrorNumber.XML_ERROR
    assert info.value.message == "XML error: expecting root element of 'network', not 'domain'"


def test_comments_and_pis_dropped() -> None:
    root = parse_xml("<a><!-- c --><?pi x?><b/></a>", what="x")
    assert format_xml(root) == "<a>\n  <b/>\n</a>\n"


def test_accepts_xml_declaration_and_bytes() -> None:
    root = parse_xml("<?xml version='1.0' encoding='UTF-8'?>\n<a>é</a>", what="x")
    assert root.text == "é"
    assert parse_xml(b"<a/>", what="x").tag == "a"


# ---------------------------------------------------------------- format_xml


def _roundtrip(text: str) -> str:
    return format_xml(parse_xml(text, what="x"))


def test_format_basic_shape() -> None:
    text = '<a x="1"><b/><c>text</c><d y="2"><e/></d></a>'
    assert _roundtrip(text) == "<a x='1'>\n  <b/>\n  <c>text</c>\n  <d y='2'>\n    <e/>\n  </d>\n</a>\n"


def test_format_escaping_like_virbuffer() -> None:
    text = "<a v=\"it's &lt;&amp;&gt; &quot;q&quot;\">x &lt; y &amp; 'z'</a>"
    assert (
        _roundtrip(text) == "<a v='it&apos;s &lt;&amp;&gt; &quot;q&quot;'>x &lt; y &amp; &apos;z&apos;</a>\n"
    )


def test_escape_drops_control_chars() -> None:
    assert xmlutil.escape("a\x01b\tc\nd") == "ab\tc\nd"


def test_format_is_idempotent_and_keeps_order_and_unknowns() -> None:
    text = "<r z='1' a='2'><zz/><aa k='v'>t</aa><mm><n/></mm></r>"
    once = _roundtrip(text)
    assert once == "<r z='1' a='2'>\n  <zz/>\n  <aa k='v'>t</aa>\n  <mm>\n    <n/>\n  </mm>\n</r>\n"
    assert _roundtrip(once) == once


def test_format_namespaces() -> None:
    text = (
        "<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>"
        "<dnsmasq:options><dnsmasq:option value='a=b'/></dnsmasq:options>"
        "<x:y xmlns:x='urn:x' x:attr='1'/></network>"
    )
    assert _roundtrip(text) == (
        "<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>\n"
        "  <dnsmasq:options>\n"
        "    <dnsmasq:option value='a=b'/>\n"
        "  </dnsmasq:options>\n"
        "  <x:y xmlns:x='urn:x' x:attr='1'/>\n"
        "</network>\n"
    )


def test_format_metadata_like_libxml2() -> None:
    text = (
        "<domain><metadata>\n"
        '  <app1:foo xmlns:app1="http://app1/" a="x\'y">fooish</app1:foo>\n'
        "  <plain>dropped: no namespace</plain>\n"
        '  <app1:dup xmlns:app1="http://app1/">dropped: same namespace again</app1:dup>\n'
        '  <app2:bar xmlns:app2="http://app2/"><app2:baz/></app2:bar>\n'
        "</metadata></domain>"
    )
    assert _roundtrip(text) == (
        "<domain>\n"
        "  <metadata>\n"
        '    <app1:foo xmlns:app1="http://app1/" a="x\'y">fooish</app1:foo>\n'
        '    <app2:bar xmlns:app2="http://app2/">\n'
        "      <app2:baz/>\n"
        "    </app2:bar>\n"
        "  </metadata>\n"
        "</domain>\n"
    )


def test_format_mixed_content_kept_verbatim() -> None:
    assert _roundtrip("<a><p>one <b>two</b> three</p></a>") == "<a>\n  <p>one <b>two</b> three</p>\n</a>\n"


def test_open_close() -> None:
    root = parse_xml("<n><ip address='1'/><other/></n>", what="x")
    assert format_xml(root, open_close=("ip",)) == "<n>\n  <ip address='1'>\n  </ip>\n  <other/>\n</n>\n"


def _plain_walk(text: str, open_close: tuple[str, ...] = ()) -> str:
    out: list[str] = []
    xmlutil._format_plain(parse_xml(text, what="x"), 0, out, ("metadata",), open_close)
    return "".join(out)


# Documents where libxml2's printer and the Python walk could part ways: each
# must print the same either way (format_xml with namespaces=False picks one).
_PLAIN_CASES = [
    "<a x='1'><b/><c>text</c><d y='2'><e/></d></a>",
    "<a>\n\t<b>\n    <c/>\n</b>   <d/>\n</a>",  # indentation of every kind
    '<a v="it\'s"><b/></a>',  # ' in a value
    "<a v='say &quot;hi&quot;'><b/></a>",  # " in a value
    "<a><b>it's</b></a>",  # ' in text
    '<a><b>say "hi"</b></a>',  # " in text
    "<a><b>&lt;&amp;&gt;</b><c v='&lt;&amp;&gt;'/></a>",
    "<a v='x&#10;y&#9;z'/>",  # newline and tab in a value
    "<a><b>x&#13;y</b></a>",  # CR in text
    "<a><b>two\nlines</b></a>",
    "<a><b>  </b><c></c></a>",  # whitespace-only and empty leaves
    "<a><p>one <b>two</b> three</p></a>",  # mixed content
    "<a><p> <b/> x</p></a>",  # blank text, then mixed
    "<a><metadata><x/></metadata></a>",
    "<a><ip address='1'/><ip><dhcp/></ip></a>",
    "<a n='\u00e9\u4e2d'><b>\u00e9</b></a>",
]


@pytest.mark.parametrize("text", _PLAIN_CASES)
def test_format_plain_trees_libxml2_or_walk_same_text(text: str) -> None:
    expected = _plain_walk(text, ("ip",))
    root = parse_xml(text, what="x")
    assert format_xml(root, namespaces=False, open_close=("ip",)) == expected
    # the whitespace dropped on the way does not change a second printing
    assert format_xml(root, namespaces=False, open_close=("ip",)) == expected


def test_format_plain_uses_libxml2_for_a_simple_tree() -> None:
    root = parse_xml("<a x='1'>\n  <b>t</b>\n</a>", what="x")
    assert xmlutil._format_by_libxml2(root, ("metadata",), ()) == "<a x='1'>\n  <b>t</b>\n</a>\n"
    for text in ('<a v="it\'s"/>', '<a><b>q"</b></a>', "<a><p>x<b/></p></a>", "<a v='&#10;'/>"):
        assert xmlutil._format_by_libxml2(parse_xml(text, what="x"), ("metadata",), ()) is None


_TAGS = st.sampled_from(["a", "b", "ip", "metadata", "x"])
_VALUES = st.text(alphabet="ab '\"<&>\n\t\r\u00e9", max_size=6)
_BLANKS = st.sampled_from([None, "", " ", "\n  ", "\t"])


@st.composite
def _plain_trees(draw: st.DrawFn, depth: int = 0) -> xmlutil.Element:
    elem = etree.Element(draw(_TAGS))
    for key in draw(st.lists(st.sampled_from(["k", "v", "w"]), max_size=2, unique=True)):
        elem.set(key, draw(_VALUES))
    kids = draw(st.lists(_plain_trees(depth + 1), max_size=3)) if depth < 3 else []
    elem.extend(kids)
    elem.text = draw(st.one_of(_BLANKS, _VALUES))
    for kid in kids:
        kid.tail = draw(st.one_of(_BLANKS, _BLANKS, _VALUES))
    return elem


@given(_plain_trees())
@settings(max_examples=300, deadline=None)
def test_format_plain_any_tree_libxml2_or_walk_same_text(root: xmlutil.Element) -> None:
    out: list[str] = []
    xmlutil._format_plain(copy.deepcopy(root), 0, out, ("metadata",), ("ip",))
    assert format_xml(root, namespaces=False, open_close=("ip",)) == "".join(out)


# ---------------------------------------------------------------- typed attribute readers


def _elem(text: str) -> xmlutil.Element:
    return parse_xml(text, what="x")


def test_prop_int() -> None:
    e = _elem("<e a='42' b=' -7' c='x' d='0' h='0x1f'/>")
    assert xmlutil.prop_int(e, "a") == 42
    assert xmlutil.prop_int(e, "b") == -7
    assert xmlutil.prop_int(e, "missing", default=5) == 5
    assert xmlutil.prop_int(e, "h", base=16) == 31
    with pytest.raises(VirtError) as info:
        xmlutil.prop_int(e, "c")
    assert info.value.code == ErrorNumber.XML_ERROR and info.value.domain == ErrorDomain.XML
    assert info.value.message == (
        "XML error: Invalid value for attribute 'c' in element 'e': 'x'. Expected integer value"
    )
    with pytest.raises(VirtError) as info:
        xmlutil.prop_int(e, "d", nonzero=True)
    assert (
        info.value.message
        == "XML error: Invalid value for attribute 'd' in element 'e': Zero is not permitted"
    )
    with pytest.raises(VirtError) as info:
        xmlutil.prop_int(e, "missing", required=True)
    assert info.value.message == "XML error: Missing required attribute 'missing' in element 'e'"


def test_prop_uint() -> None:
    e = _elem("<e a='7' n='-1' big='4294967296'/>")
    assert xmlutil.prop_uint(e, "a") == 7
    for attr in ("n", "big"):
        with pytest.raises(VirtError) as info:
            xmlutil.prop_uint(e, attr)
        assert "Expected non-negative integer value" in (info.value.message or "")
    assert xmlutil.prop_uint(e, "big", bits=64) == 2**32


def test_prop_bools() -> None:
    e = _elem("<e y='yes' n='no' on='on' off='off' bad='maybe'/>")
    assert xmlutil.prop_yes_no(e, "y") is True
    assert xmlutil.prop_yes_no(e, "n") is False
    assert xmlutil.prop_yes_no(e, "absent") is None
    assert xmlutil.prop_on_off(e, "on") is True
    assert xmlutil.prop_on_off(e, "off") is False
    with pytest.raises(VirtError) as info:
        xmlutil.prop_yes_no(e, "bad")
    assert info.value.message == "XML error: Invalid value for attribute 'bad' in element 'e': 'maybe'."


# ---------------------------------------------------------------- uuid / mac / units


def test_uuid() -> None:
    assert (
        xmlutil.parse_uuid(" A51A2A65-28F3-43B7-8B58-4CA93F6A0441 ") == "a51a2a65-28f3-43b7-8b58-4ca93f6a0441"
    )
    assert xmlutil.parse_uuid("a51a2a6528f343b78b584ca93f6a0441") == "a51a2a65-28f3-43b7-8b58-4ca93f6a0441"
    for bad in ("", "xyz", "a51a2a65-28f3-43b7-8b58-4ca93f6a04", "a51a2a65-28f3-43b7-8b58-4ca93f6a0441ff"):
        with pytest.raises(ValueError):
            xmlutil.parse_uuid(bad)
    generated = xmlutil.generate_uuid()
    assert xmlutil.parse_uuid(generated) == generated


def test_mac() -> None:
    assert xmlutil.parse_mac("52:54:00:AB:c:01") == "52:54:00:ab:0c:01"
    for bad in ("52:54:00:ab:cd", "52:54:00:ab:cd:ef:01", "52-54-00-ab-cd-ef", "52:54:00:ab:cd:xyz", ""):
        with pytest.raises(ValueError):
            xmlutil.parse_mac(bad)
    assert xmlutil.is_multicast_mac("01:00:5e:00:00:01")
    assert not xmlutil.is_multicast_mac("52:54:00:00:00:01")
    mac = xmlutil.generate_mac()
    assert mac.startswith("52:54:00:") and xmlutil.parse_mac(mac) == mac
    assert xmlutil.generate_mac() != xmlutil.generate_mac() or True  # random, may rarely collide


@pytest.mark.parametrize(
    ("value", "suffix", "expected"),
    [
        (5, None, 5),
        (5, "", 5),
        (5, "b", 5),
        (5, "bytes", 5),
        (2, "k", 2048),
        (2, "KiB", 2048),
        (2, "KB", 2000),
        (1, "M", 1024**2),
        (1, "MB", 1000**2),
        (1, "GiB", 1024**3),
        (1, "G", 1024**3),
        (1, "T", 1024**4),
    ],
)
def test_scale_integer(value: int, suffix: str | None, expected: int) -> None:
    assert xmlutil.scale_integer(value, suffix) == expected


def test_scale_integer_default_scale_and_errors() -> None:
    assert xmlutil.scale_integer(4, None, scale=1024) == 4096
    with pytest.raises(VirtError) as info:
        xmlutil.scale_integer(1, "furlongs")
    assert info.value.code == ErrorNumber.INVALID_ARG
    assert info.value.message == "invalid argument: unknown suffix 'furlongs'"
    with pytest.raises(VirtError):
        xmlutil.scale_integer(2**60, "E")
