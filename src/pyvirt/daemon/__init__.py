"""pyvirtd: the daemon (server, dispatch, events, streams).

Importing this package loads asyncio without its TLS support when nothing has
loaded asyncio or ssl yet: asyncio imports ``ssl`` (and with it OpenSSL, about
4 MiB resident and 20 ms) for TLS transports pyvirtd never makes.  Hiding the
module only while asyncio loads leaves a later ``import ssl`` working as usual.
"""

import sys

if "asyncio" not in sys.modules and "ssl" not in sys.modules:
    sys.modules["ssl"] = None  # type: ignore[assignment]  # None: "import ssl" raises ImportError
    try:
        import asyncio  # noqa: F401
    finally:
        del sys.modules["ssl"]
