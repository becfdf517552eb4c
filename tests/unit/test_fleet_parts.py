"""The pure parts of ``--all`` on plain data: target expansion (aliases, globs, libvirt patterns),
short names, the table of results, the fleet's status.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from qmpsh.errors import ExitStatus
from qmpsh.fleet.fleet import Fleet as FleetRunner
from qmpsh.fleet.fleet import Member, Result, expand
from qmpsh.fleet.view import FleetView
from qmpsh.session.outcomes import Reply
from qmpsh.session.session import Session
from qmpsh.transport.targets import fleet_domains, make_transport


def test_expand_aliases_globs_duplicates_and_short_names(tmp_path: Path) -> None:
    for name in ("b.qmp", "a.qmp"):
        (tmp_path / name).touch()
    members = expand(
        [str(tmp_path / "*.qmp"), "web", str(tmp_path / "a.qmp"), "host:4444"],
        {"web": "/run/web.sock"},
    )
    assert [(m.name, m.target) for m in members] == [
        ("a", str(tmp_path / "a.qmp")),
        ("b", str(tmp_path / "b.qmp")),
        ("web", "/run/web.sock"),
        ("host:4444", "host:4444"),
    ]


def test_short_names_only_when_unique() -> None:
    members = expand(["/one/vm.qmp", "/two/vm.qmp"], {})
    assert [m.name for m in members] == ["/one/vm.qmp", "/two/vm.qmp"]


def test_libvirt_patterns_go_through_the_domain_lister() -> None:
    def domains(pattern: str) -> list[str]:
        return [f"qemu:///system/{n}" for n in ("web-1", "web-2") if pattern == "web-*"]

    members = expand(["web-*", "db-*"], {}, domains=domains)
    assert [(m.name, m.stopped) for m in members] == [
        ("web-1", ""),
        ("web-2", ""),
        ("db-*", "db-*: matches no target"),
    ]


def test_libvirt_targets_are_tagged_by_host_and_domain() -> None:
    ssh = "qemu+ssh://root@127.0.0.1:2222/system?keyfile=/k&no_verify=1"
    members = expand([f"{ssh}/vm", "qemu:///system/vm", "qemu:///system/db"], {})
    assert [m.name for m in members] == ["127.0.0.1:2222/vm", "vm", "db"]
    members = expand(["vm"], {}, domains=fleet_domains(ssh))
    assert [(m.name, m.target) for m in members] == [
        ("127.0.0.1:2222/vm", "qemu+ssh://root@127.0.0.1:2222/system/vm?keyfile=/k&no_verify=1")
    ]
    same = ["qemu:///system/vm", "qemu+unix:///system/vm?socket=/s"]  # one name, two URIs
    assert [m.name for m in expand(same, {})] == same


def test_a_target_not_understood_is_reported_never_dropped() -> None:
    async def opener(target: str) -> Session:
        make_transport(target)  # what the real opener does first
        raise AssertionError(target)

    bad = "qemu+ssh://root@127.0.0.1:2222/system?keyfile=/k"
    fleet_view, _, err = view()
    runner = FleetRunner(expand([bad], {}), fleet_view)
    asyncio.run(runner.connect(opener))
    assert err.getvalue() == f"qmpsh: {bad}: a libvirt TARGET is URI/DOMAIN, e.g. " + (
        "qemu+ssh://root@127.0.0.1:2222/system/DOMAIN?keyfile=/k (or use --connect URI DOMAIN)\n"
    )
    assert runner.status == ExitStatus.USAGE


def view() -> tuple[FleetView, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return FleetView(out=out, err=err), out, err


def test_table_fills_missing_columns_and_aligns() -> None:
    fleet_view, out, _ = view()
    fleet_view.results(
        [
            Result("a", Reply("x", {"return": {"k": 1, "name": "long-value"}})),
            Result("bbbb", Reply("x", {"return": {"k": None, "extra": True}})),
        ]
    )
    assert out.getvalue().splitlines() == [
        "target  k     name        extra",
        "a       1     long-value  -",
        "bbbb    null  -           true",
    ]


def test_no_table_for_a_single_target_or_errors() -> None:
    fleet_view, out, err = view()
    fleet_view.results(
        [
            Result("a", Reply("x", {"return": {"k": 1}})),
            Result("b", Reply("x", {"error": {"class": "GenericError", "desc": "no"}})),
            Result("c", problem="connection closed by QEMU"),
        ]
    )
    assert out.getvalue() == 'a: {"k":1}\n'
    assert err.getvalue() == "b: GenericError: no\nc: connection closed by QEMU\n"


def test_fleet_status_is_the_worst_of_its_members() -> None:
    statuses = [ExitStatus.OK, ExitStatus.LOST, ExitStatus.FAILED, ExitStatus.CONNECT]
    members = [Member(str(n), str(n), status=s) for n, s in enumerate(statuses)]
    assert FleetRunner(members, view()[0]).status == ExitStatus.LOST
    assert FleetRunner(members[:1], view()[0]).status == ExitStatus.OK
