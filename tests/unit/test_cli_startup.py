"""pyvirsh's start-up path stays light: what it imports, its launcher, its exit.

Each import check runs in a fresh interpreter (other tests import everything),
started with ``-S`` like the launcher from :mod:`pyvirt.launcher`.
"""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from pyvirt.cli.ctl import looks_like_int
from pyvirt.cli.main import main
from pyvirt.launcher import launcher_text, site_paths

SRC = Path(__file__).resolve().parents[2] / "src"

# What a one-shot pyvirsh run must not load: each costs whole milliseconds.
HEAVY = (
    "re",
    "enum",
    "typing",
    "collections",
    "functools",
    "socket",
    "select",
    "importlib",
    "warnings",
    "logging",
    "os",
    "_collections_abc",
    "pyvirt.rpc.xdr",
)


def run_python(code: str, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run(
        [sys.executable, *flags, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_command_path_imports_nothing_heavy() -> None:
    out = run_python(
        f"""
        import sys
        sys.path.append({str(SRC)!r})
        import pyvirt.cli.main, pyvirt.cli.registry, pyvirt.client
        import pyvirt.rpc.client, pyvirt.rpc.remote
        import pyvirt.cli.cmd_domain, pyvirt.cli.cmd_network, pyvirt.cli.cmd_host, pyvirt.cli.table
        from pyvirt.rpc.remote import PROCEDURES, decode, encode
        # a call's encoding and decoding, as a command does it
        proc = PROCEDURES[344]
        data = encode(proc.args, {{"doms": [], "stats": 1, "flags": 3}})
        assert decode(proc.args, data) == {{"doms": [], "stats": 1, "flags": 3}}
        print(",".join(m for m in {HEAVY!r} if m in sys.modules))
        """,
        "-S",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_lazy_names_still_work() -> None:
    # the enums and namedtuples are built on first use, and are the usual ones
    from pyvirt.rpc import protocol, remote
    from pyvirt.rpc.client import Event

    assert [m.value for m in protocol.MessageType] == [0, 1, 2, 3, 4, 5]
    assert protocol.MessageStatus.ERROR == protocol.STATUS_ERROR == 1
    assert protocol.Header(1, 2, 3, 4, 5, 6)._replace(proc=9).proc == 9
    assert remote.TypedParamType.BOOLEAN == 6
    assert remote.typed_param("x", True)["value"] == (remote.TypedParamType.BOOLEAN, 1)
    assert remote.PROC_NAMES[remote.PROC_NUMBERS["DOMAIN_GET_INFO"]] == "DOMAIN_GET_INFO"
    assert Event(1, 2, 3).msg == 3


def test_codec_subclass_with_only_pack_and_unpack() -> None:
    # codecs written against the Packer / Unpacker API still nest in the table's codecs
    from pyvirt.rpc import remote
    from pyvirt.rpc.xdr import Packer, Unpacker

    class Twice(remote.Codec):
        def pack(self, packer: Packer, value: int) -> None:
            packer.pack_int(value * 2)

        def unpack(self, unpacker: Unpacker) -> int:
            return unpacker.unpack_int() // 2

    codec = remote.Struct([("a", Twice()), ("b", remote.Array(Twice(), 4))])
    data = remote.encode(codec, {"a": 3, "b": [1, 2]})
    assert data.hex() == "00000006" + "00000002" + "00000002" + "00000004"
    assert remote.decode(codec, data) == {"a": 3, "b": [1, 2]}


_ID = re.compile(r"^\s*[+-]?\d+$")


@given(
    st.text(alphabet=st.sampled_from(" \t\n\r\x0b\x0c\u00a0\u2003+-0123456789\u0663\uff11ax_."), max_size=8)
)
def test_looks_like_int_is_virsh_regex(text: str) -> None:
    assert looks_like_int(text) == (_ID.match(text) is not None)


def test_looks_like_int_examples() -> None:
    assert looks_like_int("1") and looks_like_int(" -5") and looks_like_int("7\n")
    assert not looks_like_int("") and not looks_like_int("+") and not looks_like_int("1 ")
    assert not looks_like_int("pc1") and not looks_like_int("5\n\n")


def test_main_gives_the_collector_back(capsys: object) -> None:
    assert gc.isenabled()
    assert main(["--version"]) == 0
    assert gc.isenabled()
    gc.disable()
    try:
        main(["--version"])
        assert not gc.isenabled()  # left as it was found
    finally:
        gc.enable()


def test_run_exits_with_main_status() -> None:
    code = f"""
        import sys
        sys.path.append({str(SRC)!r})
        from pyvirt.cli.main import run
        sys.argv = ["pyvirsh"] + sys.argv[1:]
        run()
        """
    ok = subprocess.run(
        [sys.executable, "-S", "-c", textwrap.dedent(code), "--version"], capture_output=True, text=True
    )
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "0.1.0\n", "")
    bad = subprocess.run(
        [sys.executable, "-S", "-c", textwrap.dedent(code), "--nosuch"], capture_output=True, text=True
    )
    assert (bad.returncode, bad.stdout) == (1, "")
    assert bad.stderr == "error: unsupported option '--nosuch'. See --help.\n"


def test_launcher_text() -> None:
    text = launcher_text("/venv/bin/python", ["/venv/lib/site-packages", "/src"])
    lines = text.splitlines()
    assert lines[0] == "#!/venv/bin/python -SP"
    assert "sys.path += ['/venv/lib/site-packages', '/src']" in lines
    assert lines[-1] == "run()"
    daemon = launcher_text("/venv/bin/python", [], "pyvirtd").splitlines()
    assert daemon[0] == "#!/venv/bin/python -SP"
    assert daemon[-2:] == ["", "sys.exit(main())"]
    assert daemon.index("gc.disable()") < daemon.index("from pyvirt.pyvirtd import main")
    # a #! line too long for the kernel goes through /bin/sh
    long_python = "/" + "x" * 200 + "/python"
    assert launcher_text(long_python, []).startswith(
        f"#!/bin/sh\n'''exec' '{long_python}' -SP \"$0\" \"$@\"\n"
    )


def test_launcher_runs_pyvirsh(tmp_path: Path) -> None:
    dest = tmp_path / "pyvirsh"
    subprocess.run(
        [sys.executable, "-m", "pyvirt.launcher", str(tmp_path)],
        check=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert os.access(dest, os.X_OK)
    daemon = subprocess.run([str(tmp_path / "pyvirtd"), "--help"], capture_output=True, text=True)
    assert daemon.returncode == 0
    assert daemon.stdout.startswith("usage: pyvirtd")
    out = subprocess.run([str(dest), "--version"], capture_output=True, text=True, env=dict(os.environ))
    assert (out.returncode, out.stdout, out.stderr) == (0, "0.1.0\n", "")
    uri = f"qemu+unix:///system?socket={tmp_path}/no-sock"
    out = subprocess.run([str(dest), "-c", uri, "list"], capture_output=True, text=True)
    assert (out.returncode, out.stdout) == (1, "\n")  # virsh's blank line after a failed command
    assert out.stderr == (
        "error: failed to connect to the hypervisor\n"
        f"error: Failed to connect socket to '{tmp_path}/no-sock': No such file or directory\n"
    )


def test_site_paths_are_this_environments() -> None:
    paths = site_paths()
    assert all(os.path.isabs(p) for p in paths)
    assert not any(p == os.getcwd() for p in paths)
    # pyvirt itself is importable from them (editable or not)
    assert any((Path(p) / "pyvirt" / "__init__.py").exists() for p in paths) or str(SRC) in sys.path
