"""``dumpxml --xpath`` / ``net-dumpxml --xpath`` (virsh's virshDumpXML), using lxml.

Like virsh, the XML is parsed without blank text and every result is printed
on its own line: elements re-indented from column 0 (double-quoted attributes,
as libxml2 prints them), attributes as `` name="value"``, text as is.
``--wrap`` puts the elements into a ``<nodes>`` root.  lxml is imported only
here, so other commands stay light.
"""

from __future__ import annotations

from typing import Any

from pyvirt.cli.ctl import CommandFailed, Ctl

__all__ = ["xpath_output"]


def xpath_output(ctl: Ctl, xml: str, expr: str, wrap: bool) -> str:
    """The text virsh prints for ``expr`` applied to ``xml``.

    Raises :class:`CommandFailed` (after printing virsh's error) for an XPath
    that does not select nodes.
    """
    from lxml import etree

    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(xml.encode("utf-8"), parser)
        result = root.getroottree().xpath(expr)
    except (etree.XMLSyntaxError, etree.XPathError) as err:
        ctl.error(f"internal error: Incorrect xpath '{expr}'")
        raise CommandFailed from err
    if not isinstance(result, list):
        ctl.error(f"internal error: Incorrect xpath '{expr}'")
        raise CommandFailed
    items: list[Any] = list(result)
    if wrap:
        nodes = etree.Element("nodes")
        for item in items:
            if isinstance(item, etree._Element):
                nodes.append(_copy(item))
            elif getattr(item, "is_attribute", False):
                nodes.set(item.attrname, str(item))
            elif len(nodes):
                last = nodes[-1]
                last.tail = (last.tail or "") + str(item)
            else:
                nodes.text = (nodes.text or "") + str(item)
        return etree.tostring(nodes, pretty_print=True, encoding="unicode")
    out: list[str] = []
    for item in items:
        if isinstance(item, etree._Element):
            out.append(etree.tostring(_copy(item), pretty_print=True, encoding="unicode").rstrip("\n") + "\n")
        elif getattr(item, "is_attribute", False):
            out.append(f' {item.attrname}="{item}"\n')
        else:
            out.append(f"{item}\n")
    return "".join(out)


def _copy(element: Any) -> Any:
    import copy

    node = copy.deepcopy(element)
    node.tail = None
    return node
