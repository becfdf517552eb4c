"""Which transport serves a TARGET: the one place new kinds of target plug in.

``cli`` asks here for a transport (at start and again when reconnecting), so
a libvirt domain or anything else that speaks the ``Transport`` protocol only
needs an entry here, not changes across the program.

TARGET is a QMP socket (``/path``, ``HOST:PORT``, ``[v6addr]:PORT``) or a libvirt
domain written as its connection URI plus the domain name as one more path
component: ``qemu:///system/web1``, ``qemu+ssh://host/system/web1``, with any
query after it (``qemu+ssh://host/system/web1?keyfile=/k``) or the domain after
the query (``qemu+ssh://host/system?keyfile=/k/web1``). ``--libvirt DOMAIN``
and ``--connect URI DOMAIN`` are spelled into that form by ``libvirt_target``, so
a reconnect, a transcript header or a config alias sees one string.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Mapping
from urllib.parse import quote, unquote, urlsplit

from qmpsh.errors import UsageError
from qmpsh.transport.interface import Transport

DEFAULT_URI = "qemu:///system"
#: A URI scheme: what no socket path or HOST:PORT starts with.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
#: A domain name written after a URI's query: no more of the query in it.
_NAME = re.compile(r"[^/?&=#]+")


def make_transport(target: str, *, negotiate: bool = True, blocking: bool = False) -> Transport:
    """A not-yet-connected transport for TARGET (a socket path, HOST:PORT, [v6]:PORT,
    or URI/DOMAIN for a libvirt domain); ``blocking``: one that needs no event loop
    (for a QMP socket; libvirt's binding always runs on asyncio)."""
    domain = split_libvirt_target(target)
    if domain is not None:
        if not negotiate:
            raise UsageError("-N is for a guest agent's socket, not a libvirt domain")
        # libvirt-python is optional (qmpsh[libvirt]), and costs only who uses it.
        from qmpsh.transport.libvirt import LibvirtTransport

        uri, name = domain
        return LibvirtTransport(target, uri, name)
    if blocking:  # 14 ms (socket, select, json) the prompt would not need at once
        from qmpsh.transport.blocking import BlockingTransport

        return BlockingTransport(target, negotiate=negotiate)
    # Imported only here: qemu.qmp and asyncio cost a script's start-up (benchmarks, P1).
    from qmpsh.transport.qemu_qmp import QmpTransport

    return QmpTransport(target, negotiate=negotiate)


def is_libvirt_target(target: str) -> bool:
    return _SCHEME.match(target) is not None


def split_libvirt_target(target: str) -> tuple[str, str] | None:
    """``URI/DOMAIN`` -> (URI, DOMAIN); None for a QMP socket target.

    The domain is the last path component (percent-decoded); a query or
    fragment stays with the URI. A domain may also follow the whole URI, query
    and all (``qemu+ssh://host/system?keyfile=/k&no_verify=1/web1``): when the
    path holds none, the text after the query's last ``/`` is the domain, unless
    the last parameter's value is a path (``?keyfile=/k/web1`` is a key file).
    """
    if not is_libvirt_target(target):
        return None
    scheme, rest = target.split("://", 1)
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    location, tail = rest[:cut], rest[cut:]
    slash = location.rfind("/")
    host = location.find("/")
    if slash >= 0 and slash != host and location[slash + 1 :]:
        return f"{scheme}://{location[:slash]}{tail}", unquote(location[slash + 1 :])
    after = tail.rfind("/")
    name = tail[after + 1 :]
    value = tail.rpartition("&")[2].partition("=")[2]  # the last parameter's, and the rest
    if host >= 0 and after > 0 and _NAME.fullmatch(name) and not value.startswith(("/", "?")):
        return f"{scheme}://{location}{tail[:after]}", unquote(name)
    # With a query, the example is the user's own URI: where its DOMAIN goes.
    example = (
        f"{scheme}://{location}/DOMAIN{tail}" if tail and host >= 0 else DEFAULT_URI + "/DOMAIN"
    )
    raise UsageError(
        f"{target}: a libvirt TARGET is URI/DOMAIN, e.g. {example} (or use --connect URI DOMAIN)"
    )


def tag(target: str) -> str:
    """How ``--all`` names a target in its output: a libvirt domain by its name, after
    its host for a remote URI (``10.0.0.2:2222/web1``; no user, no query); anything
    else as written."""
    try:
        domain = split_libvirt_target(target)
    except UsageError:
        return target
    if domain is None:
        return target
    uri, name = domain
    host = urlsplit(uri).netloc.rpartition("@")[2]
    return f"{host}/{name}" if host else name


def default_uri(env: Mapping[str, str] = os.environ) -> str:
    """``--libvirt``'s connection: ``$LIBVIRT_DEFAULT_URI``, else qemu:///system."""
    return env.get("LIBVIRT_DEFAULT_URI", "").strip() or DEFAULT_URI


def libvirt_target(
    uri: str | None,
    domain: str | None,
    *,
    launch: bool = False,
    env: Mapping[str, str] = os.environ,
) -> str:
    """The TARGET for DOMAIN at URI (``--connect``), or at the default URI (``--libvirt``)."""
    if launch:
        raise UsageError("--launch starts its own QEMU: not with --libvirt or --connect")
    if not domain:
        raise UsageError("no DOMAIN given (--libvirt DOMAIN, --connect URI DOMAIN)")
    uri = uri or default_uri(env)
    if not is_libvirt_target(uri):
        raise UsageError(f"{uri}: not a libvirt URI (e.g. {DEFAULT_URI}, qemu+ssh://host/system)")
    scheme, rest = uri.split("://", 1)
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    location, tail = rest[:cut].rstrip("/"), rest[cut:]
    if "/" not in location:
        raise UsageError(f"{uri}: a libvirt URI needs a path, e.g. {DEFAULT_URI}")
    return f"{scheme}://{location}/{quote(domain, safe=' +:@,=!$&()*;~')}{tail}"


def connect_warnings(transport: Transport) -> list[str]:
    """What a user must hear once per session about this kind of target (after connecting)."""
    domain = split_libvirt_target(transport.target)
    if domain is None:
        return []
    from qmpsh.transport.libvirt import taint_warning  # optional binding: libvirt targets only

    return [taint_warning(domain[1])]


def fleet_domains(uri: str | None) -> Callable[[str], list[str]]:
    """``--all`` with ``--libvirt``/``--connect``: each item a domain name or a glob of names."""

    def targets(pattern: str) -> list[str]:
        if not set(pattern) & set("*?["):
            return [libvirt_target(uri, pattern)]
        from qmpsh.transport.libvirt import domain_names  # as above

        names = fnmatch.filter(domain_names(uri or default_uri()), pattern)
        return [libvirt_target(uri, name) for name in sorted(names)]

    return targets
