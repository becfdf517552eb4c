"""TARGET as written on the command line: a socket path, HOST:PORT, [IPv6]:PORT, a libvirt URI
and domain; parsed and put back together without connecting anywhere.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qmpsh.errors import UsageError
from qmpsh.transport.address import parse_target
from qmpsh.transport.targets import libvirt_target, split_libvirt_target, tag


@pytest.mark.parametrize(
    ("target", "address"),
    [
        ("/run/qemu/qmp.sock", "/run/qemu/qmp.sock"),
        ("qmp.sock", "qmp.sock"),
        ("vm/qmp.sock", "vm/qmp.sock"),
        ("./qmp.sock", "./qmp.sock"),
        ("localhost:4444", ("localhost", 4444)),
        ("127.0.0.1:4444", ("127.0.0.1", 4444)),
        ("[::1]:4444", ("::1", 4444)),
        ("[fe80::1%eth0]:4444", ("fe80::1%eth0", 4444)),
        ("[::ffff:127.0.0.1]:1", ("::ffff:127.0.0.1", 1)),
        ("/tmp/vm:1/qmp.sock", "/tmp/vm:1/qmp.sock"),
        ("/tmp/qmp:4444", "/tmp/qmp:4444"),
        ("./vm:4444", "./vm:4444"),  # how to name a socket file that looks like HOST:PORT
        ("vm:qmp.sock", "vm:qmp.sock"),
        ("localhost:", "localhost:"),
        ("::1:4444", "::1:4444"),  # IPv6 needs brackets
    ],
)
def test_parse_target(target: str, address: str | tuple[str, int]) -> None:
    assert parse_target(target) == address


@given(st.text(), st.text())
def test_anything_with_a_slash_is_a_path(before: str, after: str) -> None:
    target = f"{before}/{after}"
    assert parse_target(target) == target


@given(
    st.ip_addresses(v=4).map(str) | st.from_regex(r"[a-z][a-z0-9.-]{0,20}", fullmatch=True),
    st.integers(0, 65535),
)
def test_host_and_port(host: str, port: int) -> None:
    assert parse_target(f"{host}:{port}") == (host, port)


@given(st.ip_addresses(v=6).map(str), st.integers(0, 65535))
def test_bracketed_v6_and_port(host: str, port: int) -> None:
    assert parse_target(f"[{host}]:{port}") == (host, port)


def test_target_spellings_round_trip() -> None:
    assert split_libvirt_target("/tmp/vm.sock") is None
    assert split_libvirt_target("localhost:4444") is None
    assert split_libvirt_target("qemu:///system/web1") == ("qemu:///system", "web1")
    assert split_libvirt_target("qemu+ssh://root@host:22/system/web1?keyfile=/k") == (
        "qemu+ssh://root@host:22/system?keyfile=/k",
        "web1",
    )
    target = libvirt_target("qemu+ssh://host/system?no_tty=1", "a b?c")
    assert target == "qemu+ssh://host/system/a b%3Fc?no_tty=1"
    assert split_libvirt_target(target) == ("qemu+ssh://host/system?no_tty=1", "a b?c")
    env = {"LIBVIRT_DEFAULT_URI": "qemu:///session"}
    assert libvirt_target(None, "web1", env=env) == "qemu:///session/web1"
    assert libvirt_target(None, "web1", env={}) == "qemu:///system/web1"
    for wrong in ("qemu:///web1", "qemu+ssh://host/system", "qemu:///system/"):
        with pytest.raises(UsageError, match="URI/DOMAIN"):
            split_libvirt_target(wrong)
    with pytest.raises(UsageError, match="needs a path"):
        libvirt_target("qemu+ssh://host", "web1")
    with pytest.raises(UsageError, match="no DOMAIN"):
        libvirt_target(None, None)


SSH = "qemu+ssh://root@127.0.0.1:2222/system"


@pytest.mark.parametrize(
    ("target", "uri", "domain"),
    [
        (f"{SSH}?keyfile=/k&no_verify=1/vm", f"{SSH}?keyfile=/k&no_verify=1", "vm"),
        (f"{SSH}/vm?keyfile=/k&no_verify=1", f"{SSH}?keyfile=/k&no_verify=1", "vm"),
        (f"{SSH}?no_tty=1/vm", f"{SSH}?no_tty=1", "vm"),
        ("qemu+unix:///system?no_tty=1/a%20b", "qemu+unix:///system?no_tty=1", "a b"),
        ("qemu:///system/vm?socket=/x/y", "qemu:///system?socket=/x/y", "vm"),  # the path's
    ],
)
def test_the_domain_may_follow_the_query(target: str, uri: str, domain: str) -> None:
    assert split_libvirt_target(target) == (uri, domain)


@pytest.mark.parametrize(
    "wrong",
    [
        f"{SSH}?keyfile=/k",
        f"{SSH}?keyfile=/k&x=/",
        f"{SSH}?command=/usr/bin/ssh",  # a path: never read as a domain "ssh"
        f"{SSH}?socket=/run/l.sock/vm",  # the same: the domain goes before the query
        "qemu+ssh://host?a=b/vm",
        f"{SSH}?a/",
    ],
)
def test_a_query_without_a_domain_after_it_is_one_usage_error(wrong: str) -> None:
    with pytest.raises(UsageError, match="URI/DOMAIN") as raised:
        split_libvirt_target(wrong)
    assert str(raised.value).startswith(f"{wrong}: ")


def test_tags_name_the_host_and_the_domain() -> None:
    assert tag(f"{SSH}/vm?keyfile=/k&no_verify=1") == "127.0.0.1:2222/vm"
    assert tag(libvirt_target(f"{SSH}?keyfile=/k&no_verify=1", "vm")) == "127.0.0.1:2222/vm"
    assert tag("qemu+ssh://[::1]/system?no_tty=1/web") == "[::1]/web"
    assert tag("qemu:///system/vm") == tag("qemu+unix:///system/vm?socket=/s") == "vm"
    assert tag("/run/vm.sock") == "/run/vm.sock" and tag("h:4444") == "h:4444"
    assert tag(f"{SSH}?keyfile=/k") == f"{SSH}?keyfile=/k"  # not understood: as written
