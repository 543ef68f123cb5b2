"""pyvirsh commands against a fake connection: parsing, output shapes, errors, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyvirt import constants as c
from pyvirt.cli.registry import COMMANDS
from pyvirt.cli.vsh import ParseError, format_command_help, parse_argv, parse_string, tokenize
from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError
from tests.unit.cli_fakes import FakeConn, run

DATA = Path(__file__).resolve().parents[1] / "data"
REF = DATA / "reference" / "libvirt-9.0-outputs"
HELP = DATA / "virsh-9.0-help"
XML = DATA / "reference" / "xml"

PC1 = "361ea41e-a029-4eb3-8b87-7860f5faf70f"
DEFAULT = "a51a2a65-28f3-43b7-8b58-4ca93f6a0441"


def ref(name: str) -> str:
    return (REF / name).read_text()


def ref_pair(stem: str) -> tuple[str, str]:
    err = REF / f"{stem}.stderr"
    return ref(f"{stem}.txt"), err.read_text() if err.exists() else ""


@pytest.fixture
def conn() -> FakeConn:
    fc = FakeConn()
    fc.add_network("default", DEFAULT, bridge="virbr0")
    return fc


# -- parsing -------------------------------------------------------------------


def parse(*args: str) -> dict[str, object]:
    (cmd,) = parse_argv(list(args), COMMANDS)
    return dict(cmd.values)


def test_positional_and_named_option_are_the_same() -> None:
    assert parse("dominfo", "pc1") == parse("dominfo", "--domain", "pc1") == parse("dominfo", "--domain=pc1")


def test_positional_fills_non_boolean_options_in_order() -> None:
    values = parse("net-update", "default", "add", "ip-dhcp-host", "<host/>", "3")
    assert values == {
        "network": "default",
        "command": "add",
        "section": "ip-dhcp-host",
        "xml": "<host/>",
        "parent-index": "3",
    }
    assert parse("shutdown", "pc1", "acpi") == {"domain": "pc1", "mode": "acpi"}


def test_double_dash_makes_data() -> None:
    assert parse("dominfo", "--", "--weird") == {"domain": "--weird"}


def test_argv_option_collects_words() -> None:
    assert parse("desc", "pc1", "new", "text") == {"domain": "pc1", "new-desc": ["new", "text"]}


@pytest.mark.parametrize(
    ("args", "messages"),
    [
        (["list", "--foo"], ["command 'list' doesn't support option --foo"]),
        (["dominfo"], ["command 'dominfo' requires <domain> option"]),
        (["dominfo", "a", "b"], ["unexpected data 'b'"]),
        (["dominfo", "--domain"], ["expected syntax: --domain <string>"]),
        (["net-dhcp-leases", "n", "--mac"], ["expected syntax: --mac <string>"]),
        (["dominfo", "--dom", "x"], ["command 'dominfo' doesn't support option --dom"]),
        (["list", "--all", "--all"], ["option --all already seen"]),
        (["list", "--all=yes"], ["invalid '=' after option --all"]),
        (["frobnicate"], ["unknown command: 'frobnicate'"]),
        (
            ["net-update"],
            [
                "command 'net-update' requires <network> option",
                "command 'net-update' requires <command> option",
                "command 'net-update' requires <section> option",
                "command 'net-update' requires <xml> option",
            ],
        ),
    ],
)
def test_parse_errors(args: list[str], messages: list[str]) -> None:
    with pytest.raises(ParseError) as info:
        parse_argv(args, COMMANDS)
    assert info.value.messages == messages


def test_help_option_becomes_help_command() -> None:
    (cmd,) = parse_argv(["dominfo", "--help"], COMMANDS)
    assert cmd.name == "help" and cmd.values == {"command": "dominfo"}


def test_string_mode_splits_commands_and_quotes() -> None:
    cmds = parse_string("list --all; dominfo 'my dom' # comment\nnet-info \"a b\"", COMMANDS)
    assert [(x.name, x.values) for x in cmds] == [
        ("list", {"all": True}),
        ("dominfo", {"domain": "my dom"}),
        ("net-info", {"network": "a b"}),
    ]
    assert list(tokenize(r"a\ b 'c\d'")) == ["a b", "c\\d"]
    with pytest.raises(ParseError):
        list(tokenize('"open'))


# -- help texts ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.stem for p in HELP.glob("*.txt")))
def test_help_matches_virsh(name: str) -> None:
    from pyvirt.cli.defs import COMMANDS as VIRSH_COMMANDS

    expected = (HELP / f"{name}.txt").read_text()
    assert format_command_help(VIRSH_COMMANDS[name]) + "\n" == expected
    # pyvirsh's table keeps virsh's options first, in order; extensions come after
    ours = COMMANDS[name].opts
    theirs = VIRSH_COMMANDS[name].opts
    assert [o.name for o in ours[: len(theirs)]] == [o.name for o in theirs]
    assert {o.name for o in ours[len(theirs) :]} <= {"json", "title"}


def test_help_command_output(conn: FakeConn) -> None:
    r = run(["help", "domstate"], conn)
    assert r.rc == 0 and r.out == (HELP / "domstate.txt").read_text()
    r = run(["help", "nosuch"])
    assert (r.rc, r.out, r.err) == (1, "\n", "error: command or command group 'nosuch' doesn't exist\n")
    r = run(["help", "monitor"])
    assert r.out.startswith(" Domain Monitoring (help keyword 'monitor'):\n    domblklist ")
    assert run(["help"]).out.startswith("Grouped commands:\n\n Domain Management (help keyword 'domain'):\n")


# -- global options -----------------------------------------------------------------


def test_version_option() -> None:
    from pyvirt import __version__

    assert run(["--version"]).out == f"{__version__}\n"
    assert run(["-v"]).out == f"{__version__}\n"


@pytest.mark.parametrize(
    ("args", "err"),
    [
        (["-c"], "error: option '-c'/'--connect' requires an argument\n"),
        (["--connect"], "error: option '-c'/'--connect' requires an argument\n"),
        (["-z"], "error: unsupported option '-z'. See --help.\n"),
        (["--bogus"], "error: unsupported option '--bogus'. See --help.\n"),
        (["-k", "abc", "list"], "error: Invalid value for option -k\n"),
        (["-K", "-1", "uri"], "error: option -K requires a positive integer argument\n"),
    ],
)
def test_global_option_errors(args: list[str], err: str) -> None:
    r = run(args)
    assert (r.rc, r.out, r.err) == (1, "", err)


def test_connect_option_and_quiet(conn: FakeConn) -> None:
    r = run(["-q", "-c", "qemu:///system", "uri"], conn)
    assert (r.rc, r.out) == (0, "qemu:///system\n")
    r = run(["--connect=qemu:///system", "uri"], conn)
    assert r.out == "qemu:///system\n\n"


# -- virsh's error shapes (reference pairs) ----------------------------------------


def test_unknown_command_073() -> None:
    r = run(["frobnicate"])
    assert (r.rc, r.out, r.err) == (1, *ref_pair("073-err-unknown-command"))
    assert r.out == ""


def test_connection_failure() -> None:
    err = VirtError(
        ErrorNumber.SYSTEM_ERROR,
        ErrorDomain.RPC,
        "Failed to connect socket to '/nonexist': No such file or directory",
    )
    r = run(["list"], connect_error=err)
    assert r.rc == 1 and r.out == "\n"
    assert r.err == (
        "error: failed to connect to the hypervisor\n"
        "error: Failed to connect socket to '/nonexist': No such file or directory\n"
    )
    # help needs no connection
    assert run(["help", "list"], connect_error=err).rc == 0


@pytest.mark.parametrize(
    ("args", "stem"),
    [
        (["start", "nosuch"], "067-err-start-nonexistent"),
        (["dominfo", "nosuch"], "070-err-dominfo-nonexistent"),
        (["undefine", "nosuch"], "071-err-undefine-nonexistent"),
        (["net-start", "nosuch"], "072-err-net-start-nonexistent"),
    ],
)
def test_lookup_failures(conn: FakeConn, args: list[str], stem: str) -> None:
    r = run(args, conn)
    assert (r.rc, r.out, r.err) == (1, *ref_pair(stem))


def test_start_already_running_060(conn: FakeConn) -> None:
    conn.add_domain("pc1", PC1, id=1, state=c.VIR_DOMAIN_RUNNING)
    r = run(["start", "pc1"], conn)
    assert (r.rc, r.out, r.err) == (1, *ref_pair("060-err-start-pc1-already-running"))
    assert not any(call.startswith("create") for call in conn.calls)


def test_define_duplicate_061(conn: FakeConn) -> None:
    conn.define_error = VirtError(
        ErrorNumber.OPERATION_FAILED,
        ErrorDomain.QEMU,
        f"domain 'pc1' already exists with uuid {PC1}",
    )
    r = run(["define", str(XML / "pc1-dup-name-other-uuid.xml")], conn)
    out, err = ref_pair("061-err-define-dup-name-other-uuid")
    assert (r.rc, r.out) == (1, out)
    assert r.err == err.replace("pc1-dup-name-other-uuid.xml", str(XML / "pc1-dup-name-other-uuid.xml"))


def test_define_missing_file_069(conn: FakeConn) -> None:
    r = run(["define", "/nonexistent/file.xml"], conn)
    assert (r.rc, r.out, r.err) == (1, *ref_pair("069-err-define-missing-file"))


@pytest.mark.parametrize(
    ("args", "stem", "method"),
    [
        (["destroy", "pc1"], "079-err-destroy-pc1-not-running", "destroy"),
        (["shutdown", "pc1"], "080-err-shutdown-pc1-not-running", "shutdown"),
    ],
)
def test_operation_failures(conn: FakeConn, args: list[str], stem: str, method: str) -> None:
    error = VirtError(ErrorNumber.OPERATION_INVALID, ErrorDomain.QEMU, "domain is not running")
    conn.add_domain("pc1", PC1, fail={method: error})
    r = run(args, conn)
    assert (r.rc, r.out, r.err) == (1, *ref_pair(stem))


def test_net_destroy_inactive_098(conn: FakeConn) -> None:
    conn.networks[0].fail["destroy"] = VirtError(
        ErrorNumber.OPERATION_INVALID, ErrorDomain.NETWORK, "network 'default' is not active"
    )
    r = run(["net-destroy", "default"], conn)
    assert (r.rc, r.out, r.err) == (1, *ref_pair("098-err-net-destroy-inactive"))


def test_net_start_active_062(conn: FakeConn) -> None:
    conn.networks[0].fail["create"] = VirtError(
        ErrorNumber.OPERATION_INVALID, ErrorDomain.NETWORK, "network is already active"
    )
    r = run(["net-start", "default"], conn)
    assert (r.rc, r.out, r.err) == (1, *ref_pair("062-err-net-start-default-already-active"))


def test_null_message_prints_unknown_error(conn: FakeConn) -> None:
    conn.networks[0].fail["create"] = VirtError(1, 19, raw_message=None)
    conn.networks[0].fail["create"].message = None
    r = run(["net-start", "default"], conn)
    assert r.err == "error: Failed to start network default\nerror: Unknown error\n"


# -- successful commands (reference outputs) ----------------------------------------


def test_success_messages(conn: FakeConn) -> None:
    r = run(["define", "pc1.xml"], conn)
    assert r.rc == 1  # no such file here: virsh's message
    assert r.err == "error: Failed to open file 'pc1.xml': No such file or directory\n"
    path = str(XML / "pc1.xml")
    assert run(["define", path], conn).out == ref("027-virsh-define-pc1.txt").replace("pc1.xml", path)
    assert run(["start", "pc1"], conn).out == ref("033-virsh-start-pc1.txt")
    assert run(["shutdown", "pc1"], conn).out == ref("074-virsh-shutdown-pc1.txt")
    assert run(["destroy", "pc1"], conn).out == ref("076-virsh-destroy-pc1.txt")
    assert run(["undefine", "pc1"], conn).out == ref("082-virsh-undefine-pc1.txt")
    assert run(["net-start", "default"], conn).out == ref("007-virsh-net-start-default.txt")
    assert run(["net-autostart", "default"], conn).out == ref("022-virsh-net-autostart.txt")
    assert run(["net-autostart", "--disable", "default"], conn).out == ref(
        "024-virsh-net-autostart--disable.txt"
    )
    assert run(["net-destroy", "default"], conn).out == ref("096-virsh-net-destroy-default.txt")
    assert run(["-q", "net-start", "default"], conn).out == ""


def test_define_validate_uses_flags(conn: FakeConn) -> None:
    run(["define", "--validate", str(XML / "pc1.xml")], conn)
    assert f"defineXMLFlags:{c.VIR_DOMAIN_DEFINE_VALIDATE}" in conn.calls


def test_dominfo_030_038_093(conn: FakeConn) -> None:
    dom = conn.add_domain("pc1", PC1)
    assert run(["dominfo", "pc1"], conn).out == ref("030-virsh-dominfo-pc1-shutoff.txt")
    dom.id, dom.state_, dom.cputime = 1, c.VIR_DOMAIN_RUNNING, 400000000
    assert run(["dominfo", "pc1"], conn).out == ref("038-virsh-dominfo-pc1.txt")
    dom2 = conn.add_domain("pc2", "ce52f268-d08a-42ba-9fe8-695efe9e3075", id=3, state=1, persistent=False)
    dom2.cputime = 500000000
    assert run(["dominfo", "pc2"], conn).out == ref("093-virsh-dominfo-pc2-transient.txt")


def test_domstate_reason(conn: FakeConn) -> None:
    dom = conn.add_domain("pc1", PC1)
    assert run(["domstate", "pc1", "--reason"], conn).out == ref("029-virsh-domstate-reason-defined.txt")
    dom.id, dom.state_, dom.reason = 1, c.VIR_DOMAIN_RUNNING, 1
    assert run(["domstate", "pc1", "--reason"], conn).out == ref("040-virsh-domstate-reason-running.txt")
    dom.id, dom.state_, dom.reason = -1, c.VIR_DOMAIN_SHUTOFF, 2
    assert run(["domstate", "--reason", "pc1"], conn).out == ref("077-virsh-domstate-reason-destroyed.txt")
    assert run(["domstate", "pc1"], conn).out == "shut off\n\n"
    dom.state_, dom.reason = 42, 99
    assert run(["domstate", "pc1", "--reason"], conn).out == "no state (unknown)\n\n"


def test_net_info_005_049(conn: FakeConn) -> None:
    assert run(["net-info", "default"], conn).out == ref("005-virsh-net-info-default-inactive.txt")
    conn.networks[0].active = True
    assert run(["net-info", DEFAULT], conn).out == ref("049-virsh-net-info-default.txt")


def test_domain_lookup_order(conn: FakeConn) -> None:
    conn.add_domain("pc1", PC1, id=5, state=1)
    conn.add_domain("7", "00000000-0000-0000-0000-000000000007")
    assert run(["domuuid", "5"], conn).out == f"{PC1}\n\n"
    assert conn.calls[-1] == "lookupByID:5"
    conn.calls.clear()
    assert run(["dominfo", PC1], conn).rc == 0
    assert conn.calls[0] == f"lookupByUUIDString:{PC1}"
    conn.calls.clear()
    # an int that is no running id falls back to the name
    assert run(["domid", "7"], conn).out == "-\n\n"
    # start never looks up by id, domname never by name
    assert run(["start", "5"], conn).err == "error: failed to get domain '5'\n"
    assert run(["domname", "pc1"], conn).err == "error: failed to get domain 'pc1'\n"
    assert run(["domname", "5"], conn).out == "pc1\n\n"


def test_list_sorting_and_modes(conn: FakeConn) -> None:
    conn.add_domain("zeta", "00000000-0000-0000-0000-000000000001")
    conn.add_domain("b2", "00000000-0000-0000-0000-000000000002", id=7, state=1)
    conn.add_domain("Alpha", "00000000-0000-0000-0000-000000000003")
    conn.add_domain("a1", "00000000-0000-0000-0000-000000000004", id=3, state=3)
    r = run(["list", "--all"], conn)
    assert r.out == (
        " Id   Name    State\n"
        "------------------------\n"
        " 3    a1      paused\n"
        " 7    b2      running\n"
        " -    Alpha   shut off\n"
        " -    zeta    shut off\n"
        "\n"
    )
    assert run(["list", "--all", "--name"], conn).out == "a1\nb2\nAlpha\nzeta\n\n"
    assert run(["list", "--all", "--id"], conn).out == "3\n7\n\n"
    assert run(["list", "--all", "--uuid", "--id"], conn).out.splitlines()[2] == (
        "00000000-0000-0000-0000-000000000003 -"
    )
    r = run(["list", "--table", "--uuid"], conn)
    assert (r.rc, r.err) == (1, "error: Options --table and --uuid are mutually exclusive\n")


def test_list_flags(conn: FakeConn) -> None:
    run(["list"], conn)
    run(["list", "--inactive"], conn)
    run(["list", "--all", "--persistent"], conn)
    run(["list", "--state-shutoff"], conn)
    flags = [int(x.split(":")[1]) for x in conn.calls if x.startswith("listAllDomainsWithState")]
    assert flags == [1, 2, 3 | 4, 2 | 64]


def test_list_title_reads_inactive_xml(conn: FakeConn) -> None:
    conn.add_domain("pc1", PC1, xml="<domain><name>pc1</name><title>My PC</title></domain>")
    r = run(["list", "--all", "--title"], conn)
    assert r.out.splitlines()[2] == " -    pc1    shut off   My PC"
    assert f"XMLDesc:pc1:{c.VIR_DOMAIN_XML_INACTIVE}" in conn.calls


def test_net_list_modes(conn: FakeConn) -> None:
    conn.add_network("beta", "a51a2a65-28f3-43b7-8b58-4ca93f6a0449", active=True, autostart=True)
    assert run(["net-list", "--all", "--name"], conn).out == "beta\ndefault\n\n"
    assert run(["net-list"], conn).out.splitlines()[2] == " beta   active   yes         yes"
    r = run(["net-list", "--name", "--uuid"], conn)
    assert r.err == "error: Only one argument from --table, --name and --uuid may be specified.\n"


def test_json_outputs(conn: FakeConn) -> None:
    conn.add_domain("pc1", PC1, id=1, state=1, reason=1)
    doc = json.loads(run(["list", "--json"], conn).out)
    assert doc == [
        {"id": 1, "name": "pc1", "uuid": PC1, "state": "running", "state_code": 1, "reason": "booted"}
    ]
    doc = json.loads(run(["net-list", "--all", "--json"], conn).out)
    assert doc == [
        {"name": "default", "uuid": DEFAULT, "active": False, "autostart": False, "persistent": True}
    ]
    info = json.loads(run(["dominfo", "pc1", "--json"], conn).out)
    assert info["state"] == "running" and info["security_model"] == "none"
    assert json.loads(run(["net-info", "default", "--json"], conn).out)["bridge"] == "virbr0"
    assert json.loads(run(["nodeinfo", "--json"], conn).out)["memory_kib"] == 4026532


def test_version_001(conn: FakeConn) -> None:
    r = run(["version"], conn)
    assert r.out == ref("001-virsh-version.txt")


def test_nodeinfo_format(conn: FakeConn) -> None:
    assert run(["nodeinfo"], conn).out == (
        "CPU model:           x86_64\n"
        "CPU(s):              2\n"
        "CPU frequency:       2400 MHz\n"
        "CPU socket(s):       1\n"
        "Core(s) per socket:  2\n"
        "Thread(s) per core:  1\n"
        "NUMA cell(s):        1\n"
        "Memory size:         4026532 KiB\n"
        "\n"
    )


def test_shutdown_modes(conn: FakeConn) -> None:
    conn.add_domain("pc1", PC1, id=1, state=1)
    assert run(["shutdown", "pc1", "--mode", "acpi,agent"], conn).rc == 0
    assert "shutdownFlags:3" in conn.calls
    r = run(["shutdown", "pc1", "--mode", "foo"], conn)
    assert (
        r.err
        == "error: Unknown mode foo value, expecting 'acpi', 'agent', 'initctl', 'signal', or 'paravirt'\n"
    )


def test_net_update_messages_and_args(conn: FakeConn) -> None:
    xml = "<host mac='52:54:00:00:00:01' ip='192.168.122.9'/>"
    r = run(["net-update", "default", "add", "ip-dhcp-host", xml, "--config"], conn)
    assert (r.rc, r.out) == (0, "Updated network default persistent config\n")
    assert conn.networks[0].updates[-1] == (
        c.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
        c.VIR_NETWORK_SECTION_IP_DHCP_HOST,
        -1,
        xml,
        c.VIR_NETWORK_UPDATE_AFFECT_CONFIG,
    )
    assert run(["net-update", "default", "delete", "ip-dhcp-host", xml, "--live", "--config"], conn).out == (
        "Updated network default persistent config and live state\n"
    )
    conn.networks[0].active = True
    assert run(["net-update", "default", "modify", "port-forward", "<portForward/>"], conn).out == (
        "Updated network default live state\n"
    )
    assert conn.networks[0].updates[-1][1] == 1000
    assert run(["net-update", "default", "add", "bogus", xml], conn).err == (
        "error: unrecognized section name 'bogus'\n"
    )
    assert (
        run(["net-update", "default", "frob", "ip", xml], conn).err
        == "error: unrecognized command name 'frob'\n"
    )
    assert run(["net-update", "default", "add", "ip", xml, "--current", "--live"], conn).err == (
        "error: Options --current and --live are mutually exclusive\n"
    )


def test_net_port_forwards(conn: FakeConn) -> None:
    conn.networks[0].xml = (
        "<network><name>default</name><forward mode='nat'>"
        "<portForward proto='tcp' port='8080' to='192.168.122.10' toPort='80'/>"
        "<portForward proto='udp' address='10.0.0.5' port='5000' portEnd='5010' to='192.168.122.11'/>"
        "</forward></network>"
    )
    r = run(["net-port-forwards", "default"], conn)
    assert r.out == (
        " Protocol   Host address   Host port   Guest address    Guest port\n"
        "--------------------------------------------------------------------\n"
        " tcp        *              8080        192.168.122.10   80\n"
        " udp        10.0.0.5       5000-5010   192.168.122.11   5000-5010\n"
        "\n"
    )
    doc = json.loads(run(["net-port-forwards", "default", "--json"], conn).out)
    assert doc[0] == {
        "proto": "tcp",
        "address": None,
        "port": 8080,
        "port_end": 8080,
        "to": "192.168.122.10",
        "to_port": 80,
        "to_port_end": 80,
    }


def test_desc_get(conn: FakeConn) -> None:
    conn.add_domain("pc1", PC1, xml="<domain><name>pc1</name><description>hello</description></domain>")
    assert run(["desc", "pc1"], conn).out == "hello\n"
    assert run(["desc", "pc1", "--title"], conn).out == "No title for domain: pc1\n"
    assert run(["desc", "pc1", "new", "words"], conn).out == "Domain description updated successfully\n"


def test_multiple_commands_and_exit_status(conn: FakeConn) -> None:
    r = run(["uri; dominfo nosuch"], conn)
    assert (r.rc, r.out) == (1, "qemu:///system\n\n\n")
    r = run(["dominfo nosuch; uri"], conn)
    assert r.rc == 0
    # a parse error anywhere runs nothing
    r = run(["uri; list --foo"], conn)
    assert (r.rc, r.out) == (1, "")


def test_console_needs_a_tty(conn: FakeConn) -> None:
    conn.add_domain("pc1", PC1, id=1, state=1)
    r = run(["console", "pc1"], conn)
    assert (r.rc, r.err) == (1, "error: Cannot run interactive console without a controlling TTY\n")


def test_edit_unchanged_and_changed(conn: FakeConn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDITOR", "true")
    monkeypatch.delenv("VISUAL", raising=False)
    r = run(["net-edit", "default"], conn)
    assert (r.rc, r.out) == (0, "Network default XML configuration not changed.\n\n")
    script = tmp_path / "ed.sh"
    script.write_text("#!/bin/sh\necho '<!-- x -->' >> \"$1\"\n")
    script.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(script))
    r = run(["net-edit", "default"], conn)
    assert (r.rc, r.out) == (0, "Network clash XML configuration edited.\n\n")
    conn.define_error = VirtError(ErrorNumber.XML_ERROR, ErrorDomain.NETWORK, "bad")
    r = run(["net-edit", "default"], conn)
    assert (r.rc, r.err) == (1, "error: XML error: bad\n")


def test_dumpxml_xpath(conn: FakeConn) -> None:
    conn.add_domain("pc1", PC1, id=1, xml=ref("052-virsh-dumpxml-pc1-running.txt")[:-1])
    mac = '<mac address="52:54:00:63:0a:d8"/>'
    assert run(["dumpxml", "pc1", "--xpath", "//interface/mac"], conn).out == f"{mac}\n\n"
    assert run(["dumpxml", "pc1", "--xpath", "//interface/mac/@address"], conn).out == (
        ' address="52:54:00:63:0a:d8"\n\n'
    )
    assert run(["dumpxml", "pc1", "--xpath", "//interface/mac", "--wrap"], conn).out == (
        f"<nodes>\n  {mac}\n</nodes>\n\n"
    )
    r = run(["dumpxml", "pc1", "--xpath", "count(//disk)"], conn)
    assert (r.rc, r.err) == (1, "error: internal error: Incorrect xpath 'count(//disk)'\n")


def test_interactive_shell(conn: FakeConn, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("uri\nhostname; frob\n\nquit\nuri\n"))
    r = run(["-r"], conn)
    assert r.rc == 0
    assert r.out == (
        "Welcome to pyvirsh, the virtualization interactive terminal.\n\n"
        "Type:  'help' for help with commands\n"
        "       'quit' to quit\n\n"
        "pyvirsh > uri\nqemu:///system\n\n"
        "pyvirsh > hostname; frob\n"
        "pyvirsh > \n"
        "pyvirsh > quit\n\n"
    )
    assert r.err == "error: unknown command: 'frob'\n"


def test_connect_command(conn: FakeConn) -> None:
    r = run(["connect qemu:///other; uri"], conn)
    assert r.rc == 0 and r.out.endswith("qemu:///system\n\n")
