"""Shared XML helpers: safe parsing, libvirt-style errors, the canonical formatter.

Everything in ``conf/`` parses with :func:`parse_xml` and prints with
:func:`format_xml`, so the whole project speaks one XML dialect: libvirt's
(2-space indentation, attributes in single quotes, ``<x/>`` for empty
elements, a trailing newline, no XML declaration).

The small typed readers (:func:`prop_int`, :func:`prop_uint`,
:func:`prop_yes_no`, :func:`prop_on_off`, ...) raise libvirt's own messages
("Invalid value for attribute 'x' in element 'y': ..."), and the MAC, UUID
and unit helpers follow ``virMacAddrParse``, ``virUUIDParse`` and
``virScaleInteger``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError
from pyvirt.lazyimport import lazy_module
from pyvirt.uuids import format_uuid, new_uuid

if TYPE_CHECKING:
    from lxml import etree

    Element = etree._Element
else:
    # lxml loads with the first document: a daemon whose definitions all come from its cache
    # starts without it (see pyvirt.defcache).
    etree = lazy_module("lxml.etree", home=(globals(), "etree"))

__all__ = [
    "Element",
    "escape",
    "format_mac",
    "format_xml",
    "generate_mac",
    "generate_uuid",
    "is_multicast_mac",
    "local_name",
    "parse_mac",
    "parse_uuid",
    "parse_xml",
    "prop",
    "prop_enum",
    "prop_int",
    "prop_on_off",
    "prop_required",
    "prop_uint",
    "prop_yes_no",
    "scale_integer",
]

# The error domain libvirt's callers pass for each kind of document.
_DOMAIN_FOR_WHAT: dict[str, int] = {
    "domain_definition": ErrorDomain.DOMAIN,
    "network_definition": ErrorDomain.NETWORK,
    "network_update_xml": ErrorDomain.NETWORK,
}


def __getattr__(name: str) -> Any:
    # ``Element`` (lxml's element type) for code that needs it at run time
    if name == "Element":
        return etree._Element
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------
# parsing


def _parser() -> etree.XMLParser:
    # A fresh parser each time: parsers keep an error log and are not
    # thread-safe.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _context_and_pointer(text: str, line: int, column: int) -> tuple[str, str]:
    """Rebuild libvirt's context line and caret line (catchXMLError)."""
    lines = text.splitlines()
    context = lines[line - 1] if 0 < line <= len(lines) else ""
    col = max(column - 1, 0)
    pointer = "".join("\t" if ch == "\t" else "-" for ch in context[:col]) + "^"
    # an empty virBuffer yields NULL, which glibc prints as "(null)"
    return (context if context else "(null)"), pointer


def parse_xml(
    text: str | bytes,
    *,
    what: str,
    root: str | None = None,
    domain: int | None = None,
    url: str | None = None,
) -> Element:
    """Parse ``text`` safely and return its root element.

    ``what`` names the document the way libvirt names it in errors
    ("domain_definition", "network_definition"); the error text starts with
    ``({what}):LINE:`` unless ``url`` gives the exact prefix to use
    (libvirt's net-update uses the bare ``network_update_xml``).  ``domain``
    is the error domain (default: derived from ``what``, else XML).  When
    ``root`` is given, the root element must have that name.

    Comments and processing instructions are dropped.  DTDs (and with them
    all entity declarations) are refused outright.

    Raises:
        VirtError: XML_DETAIL for malformed XML, formatted like libvirt's
            ``catchXMLError`` (``(what):LINE: MESSAGE\\nCONTEXT\\n^``);
            XML_ERROR for a DOCTYPE / entity declaration or a wrong root
            element; INTERNAL_ERROR when there is no root element.
    """
    if domain is None:
        domain = _DOMAIN_FOR_WHAT.get(what, ErrorDomain.XML)
    name = url if url is not None else f"({what})"
    # Strings off the wire keep undecodable bytes as surrogates: give libxml2
    # those bytes back, so it reports them like any other bad encoding.
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    textstr = text if isinstance(text, str) else text.decode("utf-8", "replace")
    parser = _parser()
    try:
        tree_root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as err:
        plog: Any = parser.error_log
        elog: Any = err.error_log
        entries: list[Any] = list(plog) or list(elog)
        fatal = [e for e in entries if e.level_name == "FATAL"]
        entry = fatal[0] if fatal else (entries[0] if entries else None)
        if entry is None:
            raise VirtError(ErrorNumber.XML_ERROR, domain, f"failed to parse xml document '{name}'") from err
        context, pointer = _context_and_pointer(textstr, entry.line, entry.column)
        message = entry.message if entry.message.endswith("\n") else entry.message + "\n"
        detail = f"{name}:{entry.line}: {message}{context}\n{pointer}"
        raise VirtError(ErrorNumber.XML_DETAIL, domain, detail) from err
    if tree_root is None:
        raise VirtError(ErrorNumber.INTERNAL_ERROR, domain, "missing root element")
    docinfo: Any = tree_root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise VirtError(
            ErrorNumber.XML_ERROR,
            domain,
            f"DOCTYPE and entity declarations are not allowed in '{name}'",
        )
    for _entity in tree_root.iter(etree.Entity):
        raise VirtError(ErrorNumber.XML_ERROR, domain, f"entity references are not allowed in '{name}'")
    if root is not None and local_name(tree_root) != root:
        raise VirtError(
            ErrorNumber.XML_ERROR,
            ErrorDomain.XML,
            f"expecting root element of '{root}', not '{local_name(tree_root)}'",
        )
    return tree_root


# --------------------------------------------------------------------------
# formatting

_FORBIDDEN = {chr(c) for c in range(1, 0x1A)} - {"\t", "\n", "\r"}
_ESCAPES = {"<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;"}


_ESCAPE_TABLE: dict[int, str | None] = {ord(ch): None for ch in _FORBIDDEN}
_ESCAPE_TABLE.update({ord(ch): entity for ch, entity in _ESCAPES.items()})


def escape(value: str) -> str:
    """Escape ``value`` like libvirt's ``virBufferEscapeString``.

    ``< > & ' "`` become entities; control characters other than tab, LF
    and CR are dropped.  Used for attribute values and text alike.
    """
    return value.translate(_ESCAPE_TABLE)


def _escape_attr_libxml(value: str) -> str:
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
        .replace("\t", "&#9;")
    )


def _escape_text_libxml(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def local_name(elem: Element) -> str:
    """The element's name without its namespace."""
    return etree.QName(elem).localname


def _qualified(elem: Element, name: str) -> str:
    """``prefix:local`` for a Clark-notation ``{uri}local`` name, as declared in scope."""
    if not name.startswith("{"):
        return name
    uri, local = name[1:].split("}", 1)
    for prefix, ns in elem.nsmap.items():
        if ns == uri:
            return f"{prefix}:{local}" if prefix else local
    return local


def _new_ns_decls(elem: Element) -> list[tuple[str | None, str]]:
    parent = elem.getparent()
    inherited: Mapping[str | None, str] = parent.nsmap if parent is not None else {}
    return [(p, u) for p, u in elem.nsmap.items() if inherited.get(p) != u]


def _is_blank(text: str | None) -> bool:
    return text is None or text.strip() == ""


def _attrs(
    elem: Element,
    quote: str,
    esc: object,
    decls: list[tuple[str | None, str]] | None = None,
) -> str:
    """The attributes of ``elem`` as printed, namespace declarations first.

    ``decls``: those declarations when the caller knows them already.
    """
    escf = esc  # type: ignore[assignment]
    parts = []
    for prefix, uri in _new_ns_decls(elem) if decls is None else decls:
        name = f"xmlns:{prefix}" if prefix else "xmlns"
        parts.append(f" {name}={quote}{escf(uri)}{quote}")  # type: ignore[operator]
    for key, value in elem.items():
        k = str(key)
        qname = k if k[0] != "{" else _qualified(elem, k)
        parts.append(f" {qname}={quote}{escf(str(value))}{quote}")  # type: ignore[operator]
    return "".join(parts)


def _format_libxml(elem: Element, level: int, out: list[str], fmt: bool) -> None:
    """Dump like libxml2's ``xmlNodeDump(..., format=1)`` (used for <metadata>)."""
    name = _qualified(elem, elem.tag)  # type: ignore[arg-type]
    attrs = _attrs(elem, '"', _escape_attr_libxml)
    children = [c for c in elem if isinstance(c.tag, str)]
    text = elem.text
    has_text = not _is_blank(text) or any(not _is_blank(c.tail) for c in children)
    if not children and not text:
        out.append(f"<{name}{attrs}/>")
        return
    out.append(f"<{name}{attrs}>")
    if not children:
        out.append(_escape_text_libxml(text or ""))
        out.append(f"</{name}>")
        return
    inner_fmt = fmt and not has_text
    if not inner_fmt:
        out.append(_escape_text_libxml(text or ""))
        for child in children:
            _format_libxml(child, level + 1, out, False)
            out.append(_escape_text_libxml(child.tail or ""))
        out.append(f"</{name}>")
        return
    for child in children:
        out.append("\n" + "  " * (level + 1))
        _format_libxml(child, level + 1, out, True)
    out.append("\n" + "  " * level + f"</{name}>")


def _format_libvirt(
    elem: Element,
    level: int,
    out: list[str],
    raw_parents: Collection[str],
    open_close: Collection[str],
    inherited: Mapping[str | None, str] | None = None,
) -> None:
    """Print ``elem``; ``inherited``: its parent's namespace map (None: look it up)."""
    indent = "  " * level
    name = _qualified(elem, elem.tag)  # type: ignore[arg-type]
    tag = elem.tag if isinstance(elem.tag, str) else ""
    nsmap = elem.nsmap
    if inherited is None:
        parent = elem.getparent()
        inherited = parent.nsmap if parent is not None else {}
    decls = [(p, u) for p, u in nsmap.items() if inherited.get(p) != u] if nsmap else []
    attrs = _attrs(elem, "'", escape, decls)
    children = [c for c in elem if isinstance(c.tag, str)]
    if tag in raw_parents:
        # libvirt keeps only namespaced children, first one per namespace
        # (virXMLNodeSanitizeNamespaces), and lets libxml2 print them.
        kept: list[Element] = []
        seen: set[str] = set()
        for child in children:
            uri = etree.QName(child).namespace
            if uri and uri not in seen:
                seen.add(uri)
                kept.append(child)
        if not kept:
            out.append(f"{indent}<{name}{attrs}/>\n")
            return
        out.append(f"{indent}<{name}{attrs}>\n")
        for child in kept:
            out.append("  " * (level + 1))
            _format_libxml(child, level + 1, out, True)
            out.append("\n")
        out.append(f"{indent}</{name}>\n")
        return
    text = elem.text
    if not children:
        _format_leaf(out, indent, name, attrs, text, tag in open_close)
        return
    mixed = not _is_blank(text) or any(not _is_blank(c.tail) for c in children)
    if mixed:
        # Mixed content: keep the text exactly, no re-indentation inside.
        parts: list[str] = [f"{indent}<{name}{attrs}>", escape(text or "")]
        for child in children:
            sub: list[str] = []
            _format_libxml(child, 0, sub, False)
            parts.append("".join(sub))
            parts.append(escape(child.tail or ""))
        parts.append(f"</{name}>\n")
        out.append("".join(parts))
        return
    out.append(f"{indent}<{name}{attrs}>\n")
    for child in children:
        _format_libvirt(child, level + 1, out, raw_parents, open_close, nsmap)
    out.append(f"{indent}</{name}>\n")


def _format_leaf(
    out: list[str], indent: str, name: str, attrs: str, text: str | None, open_close: bool
) -> None:
    """An element without child elements: its text inline, else empty (``<a></a>`` when ``open_close``)."""
    if text:
        out.append(f"{indent}<{name}{attrs}>{escape(text)}</{name}>\n")
    elif open_close:
        out.append(f"{indent}<{name}{attrs}>\n{indent}</{name}>\n")
    else:
        out.append(f"{indent}<{name}{attrs}/>\n")


def _format_plain(
    elem: Element,
    level: int,
    out: list[str],
    raw_parents: Collection[str],
    open_close: Collection[str],
) -> None:
    """:func:`_format_libvirt` for a tree without namespaces (no prefixes, no declarations)."""
    tag = elem.tag
    if tag in raw_parents:
        _format_libvirt(elem, level, out, raw_parents, open_close, {})
        return
    indent = "  " * level
    attrs = "".join([f" {key!s}='{escape(str(value))}'" for key, value in elem.items()])
    children = [c for c in elem if isinstance(c.tag, str)]
    text = elem.text
    if not children:
        _format_leaf(out, indent, tag, attrs, text, tag in open_close)
        return
    if not _is_blank(text) or any(not _is_blank(c.tail) for c in children):
        _format_libvirt(elem, level, out, raw_parents, open_close, {})
        return
    out.append(f"{indent}<{tag}{attrs}>\n")
    for child in children:
        _format_plain(child, level + 1, out, raw_parents, open_close)
    out.append(f"{indent}</{tag}>\n")


def format_xml(
    elem: Element,
    *,
    raw_parents: Collection[str] = ("metadata",),
    open_close: Collection[str] = (),
    namespaces: bool = True,
) -> str:
    """Format ``elem`` the way libvirt prints its XML.

    2-space indentation, attributes in single quotes escaped like
    ``virBufferEscapeString``, ``<x/>`` for empty elements, text-only
    elements on one line, a trailing newline and no XML declaration.
    Element order, unknown attributes/elements and namespace declarations
    are kept as they are in the tree; whitespace-only text between elements
    is ignored; comments are not printed.

    ``raw_parents``: (Clark-notation) tags whose children libvirt prints
    through libxml2 (``<metadata>``): double quotes, only namespaced
    children kept.  ``open_close``: tags that print as ``<x>\\n</x>`` even
    when empty (libvirt does that for ``<ip>``).  ``namespaces`` False: the
    caller knows that no element or attribute of the tree has a namespace and
    nothing declares one (a faster walk, same output).

    Raises nothing for a well-formed tree.
    """
    if not namespaces:
        text = _format_by_libxml2(elem, raw_parents, open_close)
        if text is not None:
            return text
    out: list[str] = []
    if namespaces:
        _format_libvirt(elem, 0, out, raw_parents, open_close)
    else:
        _format_plain(elem, 0, out, raw_parents, open_close)
    return "".join(out)


def _format_by_libxml2(
    elem: Element, raw_parents: Collection[str], open_close: Collection[str]
) -> str | None:
    """:func:`_format_plain`'s text from libxml2's own pretty-printer, or None where they would differ.

    libxml2 indents by two spaces and prints ``<x/>`` and one-line text
    elements as libvirt does; it differs in the quote character and in how
    it escapes quotes, whitespace and ``\\r``.  So it is used only for a tree
    where those cannot show: no quote in any text, no ``'`` in any attribute
    value, nothing that libxml2 writes as a character reference.  Mixed
    content, comments and the ``raw_parents`` / ``open_close`` special cases
    are left to the Python walk.  The whitespace-only text between elements
    (ignored by both printers, but it turns libxml2's indentation off) is
    removed from the tree first.
    """
    blank_text: list[Element] = []  # elements whose text or tail is only whitespace
    blank_tail: list[Element] = []
    for e in elem.iter():
        tag = e.tag
        if not isinstance(tag, str) or tag in raw_parents:
            return None
        text = e.text
        if len(e):
            if text is not None:
                if not _is_blank(text):
                    return None  # mixed content
                blank_text.append(e)
        elif not text:
            if tag in open_close:
                return None
            if text is not None:
                blank_text.append(e)  # "": libxml2 would print <x></x>
        elif '"' in text or "'" in text:
            return None
        if e is not elem:
            tail = e.tail
            if tail is not None:
                if not _is_blank(tail):
                    return None
                blank_tail.append(e)
    for e in blank_text:
        e.text = None
    for e in blank_tail:
        e.tail = None
    out = etree.tostring(elem, encoding=str, pretty_print=True, with_tail=False)
    if "'" in out or "&#" in out:
        return None
    return out.replace('"', "'")


# --------------------------------------------------------------------------
# typed attribute readers (virXMLProp*)


def _elem_name(elem: Element) -> str:
    return local_name(elem)


def prop(elem: Element | None, name: str) -> str | None:
    """The attribute's value or None (also None when ``elem`` is None)."""
    if elem is None:
        return None
    value = elem.get(name)
    return None if value is None else str(value)


def prop_required(elem: Element, name: str) -> str:
    """The attribute's value.

    Raises:
        VirtError: XML_ERROR "Missing required attribute ..." when absent.
    """
    value = prop(elem, name)
    if value is None:
        raise VirtError(
            ErrorNumber.XML_ERROR,
            ErrorDomain.XML,
            f"Missing required attribute '{name}' in element '{_elem_name(elem)}'",
        )
    return value


_INT_RE = re.compile(r"^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|[0-9]+)$")


def _strtol(value: str, base: int) -> int | None:
    """Parse like libvirt's virStrToLong_* (whole string, leading space ok)."""
    m = _INT_RE.match(value)
    if not m:
        return None
    digits = m.group(2)
    try:
        if base == 0:
            if digits.lower().startswith("0x"):
                n = int(digits, 16)
            elif len(digits) > 1 and digits.startswith("0"):
                n = int(digits, 8)
            else:
                n = int(digits, 10)
        else:
            if digits.lower().startswith("0x") and base != 16:
                return None
            n = int(digits, base)
    except ValueError:
        return None
    return -n if m.group(1) == "-" else n


def prop_int(
    elem: Element | None,
    name: str,
    *,
    required: bool = False,
    nonnegative: bool = False,
    nonzero: bool = False,
    base: int = 10,
    default: int | None = None,
) -> int | None:
    """Read a signed int attribute (``virXMLPropInt``).

    Returns ``default`` when the attribute is absent and not required.

    Raises:
        VirtError: XML_ERROR (domain XML) with libvirt's wording for a
            missing, malformed, negative or zero value.
    """
    value = prop(elem, name)
    if value is None or elem is None:
        if required and elem is not None:
            prop_required(elem, name)
        return default
    n = _strtol(value, base)
    en = _elem_name(elem)
    if n is None or not (-(2**31) <= n < 2**31):
        raise VirtError(
            ErrorNumber.XML_ERROR,
            ErrorDomain.XML,
            f"Invalid value for attribute '{name}' in element '{en}': '{value}'. Expected integer value",
        )
    if nonnegative and n < 0:
        raise VirtError(
            ErrorNumber.XML_ERROR,
            ErrorDomain.XML,
            f"Invalid value for attribute '{name}' in element '{en}': '{value}'. Expected non-negative value",
        )
    if nonzero and n == 0:
        raise VirtError(
            ErrorNumber.XML_ERROR,
            ErrorDomain.XML,
            f"Invalid value for attribute '{name}' in element '{en}': Zero is not permitted",
        )
    return n


def prop_uint(
    elem: Element | None,
    name: str,
    *,
    required: bool = False,
    nonzero: bool = False,
    base: int = 10,
    default: int | None = None,
    bits: int = 32,
) -> int | None:
    """Read an unsigned attribute (``virXMLPropUInt`` / ``ULongLong`` with bits=64).

    Raises:
        VirtError: XML_ERROR (domain XML) with libvirt's wording.
    """
    value = prop(elem, name)
    if value is None or elem is None:
        if required and elem is not None:
            prop_required(elem, name)
        return default
    n = _strtol(value, base)
    en = _elem_name(elem)
    if n is None or n < 0 or n >= 2**bits:
        raise VirtError(
            ErrorNumber.XML_ERROR,
            ErrorDomain.XML,
            f"Invalid value for attribute '{name}' in element '{en}': '{value}'. "
            "Expected non-negative integer value",
        )
    if nonzero and n == 0:
        raise VirtError(
            ErrorNumber.XML_ERROR,
            ErrorDomain.XML,
            f"Invalid value for attribute '{name}' in element '{en}': Zero is not permitted",
        )
    return n


def prop_enum(
    elem: Element | None,
    name: str,
    choices: Collection[str],
    *,
    required: bool = False,
    default: str | None = None,
) -> str | None:
    """Read an enum attribute (``virXMLPropEnum``); returns the value string.

    Raises:
        VirtError: XML_ERROR "Invalid value for attribute ..." for a value
            outside ``choices``.
    """
    value = prop(elem, name)
    if value is None or elem is None:
        if required and elem is not None:
            prop_required(elem, name)
        return default
    if value not in choices:
        raise VirtError(
            ErrorNumber.XML_ERROR,
            ErrorDomain.XML,
            f"Invalid value for attribute '{name}' in element '{_elem_name(elem)}': '{value}'.",
        )
    return value


def prop_yes_no(elem: Element | None, name: str, *, required: bool = False) -> bool | None:
    """Read a yes/no attribute (``virXMLPropTristateBool``); None when absent.

    Raises:
        VirtError: XML_ERROR for anything but 'yes' / 'no'.
    """
    value = prop_enum(elem, name, ("yes", "no"), required=required)
    return None if value is None else value == "yes"


def prop_on_off(elem: Element | None, name: str, *, required: bool = False) -> bool | None:
    """Read an on/off attribute (``virXMLPropTristateSwitch``); None when absent.

    Raises:
        VirtError: XML_ERROR for anything but 'on' / 'off'.
    """
    value = prop_enum(elem, name, ("on", "off"), required=required)
    return None if value is None else value == "on"


# --------------------------------------------------------------------------
# UUIDs

_UUID_HEX = re.compile(r"[0-9a-fA-F]")
_UUID_CANONICAL = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def parse_uuid(text: str) -> str:
    """Parse a UUID like ``virUUIDParse`` and return its canonical form.

    Leading/trailing blanks are allowed and '-' may appear between any hex
    pairs, as libvirt accepts.

    Raises:
        ValueError: when ``text`` is not a UUID.
    """
    s = text.strip()
    if _UUID_CANONICAL.fullmatch(s):
        return s.lower()  # the usual form (every stored definition): no digit-by-digit walk
    digits: list[str] = []
    i = 0
    while i < len(s) and len(digits) < 32:
        ch = s[i]
        if ch == "-":
            i += 1
            continue
        if not _UUID_HEX.match(ch):
            raise ValueError(f"malformed uuid {text!r}")
        digits.append(ch)
        i += 1
    if len(digits) != 32 or s[i:].strip():
        raise ValueError(f"malformed uuid {text!r}")
    return format_uuid(bytes.fromhex("".join(digits)))


def generate_uuid() -> str:
    """A random (version 4) UUID in canonical lowercase form."""
    return new_uuid()


# --------------------------------------------------------------------------
# MAC addresses


def parse_mac(text: str) -> str:
    """Parse a MAC like ``virMacAddrParse``; return it as ``xx:xx:xx:xx:xx:xx``.

    Each of the six ':'-separated parts is 1 or 2 hex digits.

    Raises:
        ValueError: when ``text`` is not a MAC address.
    """
    parts = text.strip().split(":")
    if len(parts) != 6:
        raise ValueError(f"malformed MAC {text!r}")
    octets = []
    for part in parts:
        if not 1 <= len(part) <= 2 or not all(c in "0123456789abcdefABCDEF" for c in part):
            raise ValueError(f"malformed MAC {text!r}")
        octets.append(int(part, 16))
    return ":".join(f"{o:02x}" for o in octets)


def format_mac(octets: bytes) -> str:
    """``xx:xx:xx:xx:xx:xx`` for 6 bytes."""
    return ":".join(f"{o:02x}" for o in octets)


def is_multicast_mac(mac: str) -> bool:
    """True if the (parsed) MAC has the multicast bit set."""
    return bool(int(mac.split(":")[0], 16) & 1)


def generate_mac(prefix: bytes = b"\x52\x54\x00") -> str:
    """A random MAC with libvirt's QEMU prefix 52:54:00 (``virMacAddrGenerate``)."""
    return format_mac(prefix + os.urandom(6 - len(prefix)))


# --------------------------------------------------------------------------
# units (virScaleInteger)


def scale_integer(value: int, suffix: str | None, scale: int = 1, limit: int = 2**64 - 1) -> int:
    """Scale ``value`` by a unit suffix like libvirt's ``virScaleInteger``.

    ``suffix`` may be empty/None (use ``scale``), ``b``/``byte``/``bytes``,
    a single letter ``k m g t p e`` or ``KiB``.. (powers of 1024) or ``KB``..
    (powers of 1000), case-insensitively.

    Raises:
        VirtError: INVALID_ARG "unknown suffix '...'"; OVERFLOW (82) "value
            too large" when the result exceeds ``limit``.
    """
    if not suffix:
        factor = scale
    elif suffix.lower() in ("b", "byte", "bytes"):
        factor = 1
    else:
        if len(suffix) == 1 or suffix[1:].lower() == "ib":
            base = 1024
        elif len(suffix) == 2 and suffix[1].lower() == "b":
            base = 1000
        else:
            raise VirtError(ErrorNumber.INVALID_ARG, ErrorDomain.NONE, f"unknown suffix '{suffix}'")
        powers = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}
        power = powers.get(suffix[0].lower())
        if power is None:
            raise VirtError(ErrorNumber.INVALID_ARG, ErrorDomain.NONE, f"unknown suffix '{suffix}'")
        factor = base**power
    if value and value > limit // factor:
        msg = f"value too large: {value}{suffix or ''}"
        raise VirtError(ErrorNumber.OVERFLOW, ErrorDomain.NONE, msg)
    return value * factor
