"""The one exception root of pyvirt, carrying libvirt's error numbers.

Every error that crosses the wire is a :class:`VirtError`.  Its ``code`` is a
libvirt ``virErrorNumber`` and ``domain`` a ``virErrorDomain`` so that the real
libvirt clients (virsh, libvirt-python) see exactly what libvirtd would send.
The ``message`` is the full text with libvirt's prefix already applied
("Domain not found: ...") because virsh prints only that field.
"""

from __future__ import annotations

# ErrorNumber and ErrorDomain are plain classes of int constants, not IntEnums:
# building enums (and importing ``enum``) costs every pyvirsh run start-up time.


class ErrorNumber:
    """libvirt's ``virErrorNumber`` (include/libvirt/virterror.h), as int constants."""

    OK = 0
    INTERNAL_ERROR = 1
    NO_MEMORY = 2
    NO_SUPPORT = 3
    NO_CONNECT = 5
    INVALID_CONN = 6
    INVALID_DOMAIN = 7
    INVALID_ARG = 8
    OPERATION_FAILED = 9
    OS_TYPE = 16
    NO_NAME = 21
    XML_ERROR = 27
    DOM_EXIST = 28
    OPERATION_DENIED = 29
    OPEN_FAILED = 30
    READ_FAILED = 31
    WRITE_FAILED = 34
    XML_DETAIL = 35
    INVALID_NETWORK = 36
    NETWORK_EXIST = 37
    SYSTEM_ERROR = 38
    RPC = 39
    NO_DOMAIN = 42
    NO_NETWORK = 43
    INVALID_MAC = 44
    AUTH_FAILED = 45
    NO_SECURITY_MODEL = 54
    OPERATION_INVALID = 55
    CONFIG_UNSUPPORTED = 67
    OPERATION_TIMEOUT = 68
    INVALID_STREAM = 73
    ARGUMENT_UNSUPPORTED = 74
    OPERATION_ABORTED = 78
    OVERFLOW = 82
    OPERATION_UNSUPPORTED = 84
    RESOURCE_BUSY = 87
    ACCESS_DENIED = 88
    XML_INVALID_SCHEMA = 92
    DEVICE_MISSING = 99
    NO_HOSTNAME = 108
    MULTIPLE_DOMAINS = 110


class ErrorDomain:
    """libvirt's ``virErrorDomain``: which part of libvirt raised the error (int constants)."""

    NONE = 0
    XML = 5
    DOM = 6
    RPC = 7
    CONF = 9
    QEMU = 10
    NET = 11
    REMOTE = 13
    STORAGE = 18
    NETWORK = 19
    DOMAIN = 20
    SECURITY = 24
    STREAMS = 38
    CAPABILITIES = 44
    URI = 45
    DEVICE = 49
    ACCESS = 55
    FIREWALL = 59


# libvirt's message templates (src/util/virerror.c), keyed by code.  The first
# form is used when there is no detail, the second wraps the detail.
_TEMPLATES: dict[int, tuple[str, str]] = {
    ErrorNumber.INTERNAL_ERROR: ("internal error", "internal error: %s"),
    ErrorNumber.NO_SUPPORT: (
        "this function is not supported by the connection driver",
        "this function is not supported by the connection driver: %s",
    ),
    ErrorNumber.NO_CONNECT: (
        "no connection driver available",
        "no connection driver available for %s",
    ),
    ErrorNumber.INVALID_CONN: ("invalid connection pointer in", "invalid connection pointer in %s"),
    ErrorNumber.INVALID_ARG: ("invalid argument", "invalid argument: %s"),
    ErrorNumber.OPERATION_FAILED: ("operation failed", "operation failed: %s"),
    ErrorNumber.OS_TYPE: ("unknown OS type", "unknown OS type %s"),
    ErrorNumber.XML_ERROR: (
        "XML description is invalid or not well formed",
        "XML error: %s",
    ),
    ErrorNumber.DOM_EXIST: ("this domain exists already", "domain %s exists already"),
    ErrorNumber.OPERATION_DENIED: (
        "operation forbidden for read only access",
        "operation forbidden: %s",
    ),
    ErrorNumber.OPEN_FAILED: ("failed to open configuration file", "failed to open configuration file %s"),
    ErrorNumber.READ_FAILED: ("failed to read configuration file", "failed to read configuration file %s"),
    ErrorNumber.WRITE_FAILED: (
        "failed to write configuration file",
        "failed to write configuration file: %s",
    ),
    ErrorNumber.XML_DETAIL: ("parser error", "%s"),
    ErrorNumber.INVALID_NETWORK: ("invalid network pointer in", "invalid network pointer in %s"),
    ErrorNumber.NETWORK_EXIST: ("this network exists already", "network %s exists already"),
    ErrorNumber.SYSTEM_ERROR: ("system call error", "%s"),
    ErrorNumber.RPC: ("RPC error", "%s"),
    ErrorNumber.NO_DOMAIN: ("Domain not found", "Domain not found: %s"),
    ErrorNumber.NO_NETWORK: ("Network not found", "Network not found: %s"),
    ErrorNumber.INVALID_MAC: ("invalid MAC address", "invalid MAC address: %s"),
    ErrorNumber.AUTH_FAILED: ("authentication failed", "authentication failed: %s"),
    ErrorNumber.NO_SECURITY_MODEL: ("Security model not found", "Security model not found: %s"),
    ErrorNumber.OPERATION_INVALID: (
        "Requested operation is not valid",
        "Requested operation is not valid: %s",
    ),
    ErrorNumber.CONFIG_UNSUPPORTED: (
        "unsupported configuration",
        "unsupported configuration: %s",
    ),
    ErrorNumber.OPERATION_TIMEOUT: ("Timed out during operation", "Timed out during operation: %s"),
    ErrorNumber.INVALID_STREAM: ("invalid stream pointer in", "invalid stream pointer in %s"),
    ErrorNumber.ARGUMENT_UNSUPPORTED: ("argument unsupported", "argument unsupported: %s"),
    ErrorNumber.OPERATION_ABORTED: ("operation aborted", "operation aborted: %s"),
    ErrorNumber.OVERFLOW: ("numerical overflow", "numerical overflow: %s"),
    ErrorNumber.OPERATION_UNSUPPORTED: ("Operation not supported", "Operation not supported: %s"),
    ErrorNumber.RESOURCE_BUSY: ("resource busy", "resource busy: %s"),
    ErrorNumber.ACCESS_DENIED: ("access denied", "access denied: %s"),
    ErrorNumber.XML_INVALID_SCHEMA: (
        "XML document failed to validate against schema",
        "XML document failed to validate against schema: %s",
    ),
    ErrorNumber.DEVICE_MISSING: ("device not found", "device not found: %s"),
    ErrorNumber.NO_HOSTNAME: ("no hostname found", "no hostname found: %s"),
    ErrorNumber.MULTIPLE_DOMAINS: ("multiple matching domains found", "multiple matching domains found: %s"),
}


def format_message(code: int, detail: str | None) -> str:
    """Return libvirt's full message text for ``code`` with ``detail``."""
    bare, wrapped = _TEMPLATES.get(code, ("unknown error", "%s"))
    if detail is None:
        return bare
    return wrapped.replace("%s", detail, 1)


class VirtError(Exception):
    """An error with libvirt's numbers, as sent in a ``remote_error``.

    Raise it with a detail string; the message is built from libvirt's
    template for the code, exactly as libvirtd builds it.  ``raw_message``
    lets the decoding side keep the server's text verbatim.
    """

    def __init__(
        self,
        code: int,
        domain: int,
        detail: str | None = None,
        *,
        raw_message: str | None = None,
        str1: str | None = None,
        str2: str | None = None,
        str3: str | None = None,
        int1: int = -1,
        int2: int = -1,
        level: int = 2,
    ) -> None:
        self.code = int(code)
        self.domain = int(domain)
        self.detail = detail
        if raw_message is not None:
            self.message: str | None = raw_message
        else:
            self.message = format_message(self.code, detail)
        bare, wrapped = _TEMPLATES.get(self.code, ("unknown error", "%s"))
        self.str1 = (
            str1 if str1 is not None or raw_message is not None else (wrapped if detail is not None else bare)
        )
        self.str2 = str2 if str2 is not None or raw_message is not None else detail
        self.str3 = str3
        self.int1 = int1
        self.int2 = int2
        self.level = level
        super().__init__(self.message or "Unknown error")

    # libvirt-python compatible accessors
    def get_error_code(self) -> int:
        return self.code

    def get_error_domain(self) -> int:
        return self.domain

    def get_error_message(self) -> str | None:
        return self.message

    def get_error_level(self) -> int:
        return self.level

    def get_str1(self) -> str | None:
        return self.str1

    def get_str2(self) -> str | None:
        return self.str2

    def get_str3(self) -> str | None:
        return self.str3

    def get_int1(self) -> int:
        return self.int1

    def get_int2(self) -> int:
        return self.int2

    def __repr__(self) -> str:
        return f"VirtError(code={self.code}, domain={self.domain}, message={self.message!r})"


# Short constructors for the errors raised all over the daemon.  Each names
# libvirt's own wording so that virsh prints what users know.


def internal_error(detail: str, domain: int = ErrorDomain.NONE) -> VirtError:
    return VirtError(ErrorNumber.INTERNAL_ERROR, domain, detail)


def operation_invalid(detail: str, domain: int) -> VirtError:
    return VirtError(ErrorNumber.OPERATION_INVALID, domain, detail)


def operation_failed(detail: str, domain: int) -> VirtError:
    return VirtError(ErrorNumber.OPERATION_FAILED, domain, detail)


def xml_error(detail: str, domain: int = ErrorDomain.DOMAIN) -> VirtError:
    return VirtError(ErrorNumber.XML_ERROR, domain, detail)


def config_unsupported(detail: str, domain: int = ErrorDomain.DOMAIN) -> VirtError:
    return VirtError(ErrorNumber.CONFIG_UNSUPPORTED, domain, detail)


def invalid_arg(detail: str, domain: int = ErrorDomain.NONE) -> VirtError:
    return VirtError(ErrorNumber.INVALID_ARG, domain, detail)


def no_domain(detail: str) -> VirtError:
    return VirtError(ErrorNumber.NO_DOMAIN, ErrorDomain.QEMU, detail)


def no_network(detail: str) -> VirtError:
    return VirtError(ErrorNumber.NO_NETWORK, ErrorDomain.NETWORK, detail)


def no_support(detail: str, domain: int = ErrorDomain.NONE) -> VirtError:
    return VirtError(ErrorNumber.NO_SUPPORT, domain, detail)


def system_error(detail: str, err: OSError | None = None, domain: int = ErrorDomain.NONE) -> VirtError:
    """A failed system call, worded like libvirt's virReportSystemError."""
    if err is not None and err.strerror:
        detail = f"{detail}: {err.strerror}"
    return VirtError(ErrorNumber.SYSTEM_ERROR, domain, detail)
