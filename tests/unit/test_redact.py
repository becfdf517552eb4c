"""Redaction (``qmpsh.language.redact``) on plain data: what a secret is, where it goes, and that no
recognised secret survives, whatever line it is typed in (hypothesis).

Where secrets go at a real prompt and in real scripts is ``test_secrets.py``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from qmpsh.language.redact import REDACTED, is_secret, redact_hmp, redact_input, redact_message
from tests.support.fuzzcount import scaled


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (
            "set_password protocol=vnc password=hunter2 connected=keep",
            "set_password protocol=vnc password=<redacted> connected=keep",
        ),
        ("change-vnc-password password='hun ter2'", "change-vnc-password password=<redacted>"),
        (
            'change-vnc-password password="hun\\"ter2"',
            "change-vnc-password password=<redacted>",
        ),
        (
            "object-add qom-type=secret id=sec0 data=hunter2 format=raw",
            "object-add qom-type=secret id=sec0 data=<redacted> format=raw",
        ),
        (
            "migrate-set-parameters tls-creds=hunter2 max-bandwidth=100",
            "migrate-set-parameters tls-creds=<redacted> max-bandwidth=100",
        ),
        (
            'human-monitor-command command-line="change vnc password hunter2"',
            'human-monitor-command command-line="change vnc password <redacted>"',
        ),
        ("/hmp change vnc password hunter2", "/hmp change vnc password <redacted>"),
        ('/hmp change vnc password "hun ter2"', "/hmp change vnc password <redacted>"),
        ("/hmp set_password vnc hunter2 keep", "/hmp set_password vnc <redacted> keep"),
        (
            "/hmp object_add secret,id=s1,data=hun,,ter2,format=raw",
            "/hmp object_add secret,id=s1,data=<redacted>,format=raw",
        ),
        (
            "!set_password protocol=vnc password=hunter2",
            "!set_password protocol=vnc password=<redacted>",
        ),
        (
            "  /fd /tmp/f object-add qom-type=secret id=s data=hunter2",
            "  /fd /tmp/f object-add qom-type=secret id=s data=<redacted>",
        ),
        (
            "/help object-add qom-type=secret id=s data=hunter2",
            "/help object-add qom-type=secret id=s data=<redacted>",
        ),
        (
            "transaction( change-vnc-password password=hunter2 ; stop )",
            "transaction( change-vnc-password password=<redacted> ; stop )",
        ),
        (
            '{"execute": "object-add", "arguments": {"qom-type": "secret", "id": "s", '
            '"data": "hunter2"}}',
            '{"execute": "object-add", "arguments": {"qom-type": "secret", "id": "s", '
            '"data": "<redacted>"}}',
        ),
        (
            '!{"execute":"change-vnc-password","arguments":{"password":"hunter2"}}',
            '!{"execute": "change-vnc-password", "arguments": {"password": "<redacted>"}}',
        ),
        (
            "qom-set path=/objects/s0 property=data value=hunter2",
            "qom-set path=/objects/s0 property=data value=<redacted>",
        ),
        (
            "qom-set value=hunter2 property=password path=/objects/v0",
            "qom-set value=<redacted> property=password path=/objects/v0",
        ),
        (
            '{"execute": "qom-set", "arguments": {"path": "/objects/s0", "property": "data", '
            '"value": "hunter2"}}',
            '{"execute": "qom-set", "arguments": {"path": "/objects/s0", "property": "data", '
            '"value": "<redacted>"}}',
        ),
        (
            "/hmp migrate_set_parameter tls-creds hunter2",
            "/hmp migrate_set_parameter tls-creds <redacted>",
        ),
        ("/hmp qom-set /objects/s0 data hun ter2", "/hmp qom-set /objects/s0 data <redacted>"),
        # unparsable, but about a secret: kept nowhere
        ('set_password protocol=vnc password="hunter2', None),
        ('migrate-set-parameters tls-creds="hunter2', None),
        ('object-add qom-type=secret id=s data="hunter2', None),
        ('qom-set path=/objects/s0 property=data value="hunter2', None),
        # nothing secret: kept as typed (a key-secret is the id of a secret object)
        (
            "blockdev-add driver=luks node-name=l0 key-secret=sec0 file=f0",
            "blockdev-add driver=luks node-name=l0 key-secret=sec0 file=f0",
        ),
        (
            "object-add qom-type=memory-backend-ram id=data size=1M",
            "object-add qom-type=memory-backend-ram id=data size=1M",
        ),
        ('query-status x="oops', 'query-status x="oops'),
        ("/wait BLOCK_JOB_READY device=j0", "/wait BLOCK_JOB_READY device=j0"),
        ("/fd /tmp/f getfd fdname=f0", "/fd /tmp/f getfd fdname=f0"),
        ("/help query-block", "/help query-block"),
        (
            "qom-set path=/machine property=dump-guest-core value=false",
            "qom-set path=/machine property=dump-guest-core value=false",
        ),
        ("/hmp qom-set /machine graphics off", "/hmp qom-set /machine graphics off"),
        (
            "/hmp migrate_set_parameter downtime-limit 300",
            "/hmp migrate_set_parameter downtime-limit 300",
        ),
    ],
)
def test_redact_input_keeps_the_command_and_drops_the_secret(line: str, kept: str | None) -> None:
    assert redact_input(line) == kept
    if kept is not None and kept != line:
        assert "hun" in line and "ter2" in line
        assert "hun" not in kept and "ter2" not in kept


def test_redact_input_in_hmp_mode() -> None:
    assert redact_input("change vnc password hunter2", hmp_mode=True) == (
        "change vnc password <redacted>"
    )
    assert redact_input("info status", hmp_mode=True) == "info status"
    assert redact_input("/qmp", hmp_mode=True) == "/qmp"


def test_redact_message_in_every_place_a_secret_goes() -> None:
    message: dict[str, Any] = {
        "execute": "object-add",
        "arguments": {"qom-type": "secret", "id": "s0", "data": "hunter2", "format": "raw"},
        "id": "__qmp#00001",
    }
    assert redact_message(message) == {
        "execute": "object-add",
        "arguments": {"qom-type": "secret", "id": "s0", "data": REDACTED, "format": "raw"},
        "id": "__qmp#00001",
    }
    assert message["arguments"]["data"] == "hunter2"  # a copy: what is sent is untouched
    old_style = {  # before QEMU 6.0, object-add's properties sat under props
        "execute": "object-add",
        "arguments": {"qom-type": "secret", "id": "s0", "props": {"data": "hunter2"}},
    }
    assert redact_message(old_style)["arguments"] == {
        "qom-type": "secret",
        "id": "s0",
        "props": {"data": REDACTED},
    }
    hmp = {
        "execute": "human-monitor-command",
        "arguments": {"command-line": "object_add secret,id=s1,data=hunter2"},
    }
    assert redact_message(hmp)["arguments"] == {
        "command-line": "object_add secret,id=s1,data=<redacted>"
    }
    actions = {
        "execute": "transaction",
        "arguments": {
            "actions": [
                {"type": "x-secretive", "data": {"password": "hunter2", "node": "n0"}},
                {"type": "block-dirty-bitmap-add", "data": {"node": "n0", "name": "b0"}},
            ]
        },
    }
    assert redact_message(actions)["arguments"] == {
        "actions": [
            {"type": "x-secretive", "data": {"password": REDACTED, "node": "n0"}},
            {"type": "block-dirty-bitmap-add", "data": {"node": "n0", "name": "b0"}},
        ]
    }
    nested = {"execute": "x", "arguments": {"a": {"new-passphrase": "x", "b": [{"passwd": "y"}]}}}
    assert redact_message(nested)["arguments"] == {
        "a": {"new-passphrase": REDACTED, "b": [{"passwd": REDACTED}]}
    }
    untouched = {"execute": "query-name", "id": 3}
    assert redact_message(untouched) == untouched
    event = {"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}}
    assert redact_message(event) == event


@pytest.mark.parametrize(
    ("command", "path", "given", "secret"),
    [
        ("set_password", ("password",), {}, True),
        ("change-vnc-password", ("password",), {}, True),
        ("x", ("luks", "key-passphrase"), {}, True),  # suffix
        ("x", ("new-secret",), {}, True),
        ("object-add", ("data",), {"qom-type": "secret"}, True),
        ("object-add", ("data",), {"qom-type": "secret_keyring"}, True),
        ("object-add", ("data",), {"qom-type": "memory-backend-ram"}, False),
        ("migrate-set-parameters", ("tls-creds",), {}, True),
        ("migrate-set-parameters", ("max-bandwidth",), {}, False),
        ("blockdev-add", ("key-secret",), {}, False),  # an id, not the secret
        ("query-status", ("tls-creds",), {}, False),
        ("qom-set", ("value",), {"property": "data"}, True),
        ("qom-set", ("value",), {"property": "password"}, True),
        ("qom-set", ("value",), {"property": "tls-creds"}, True),
        ("qom-set", ("value",), {"property": "graphics"}, False),
    ],
)
def test_is_secret(
    command: str, path: tuple[str, ...], given: dict[str, object], secret: bool
) -> None:
    assert is_secret(command, path, given) is secret


def test_redact_hmp() -> None:
    assert redact_hmp("change vnc password hunter2") == "change vnc password <redacted>"
    assert redact_hmp("  set_password spice hunter2 fail") == "  set_password spice <redacted> fail"
    assert redact_hmp('change vnc password "hun\\"ter2"') == "change vnc password <redacted>"
    assert (
        redact_hmp("object_add secret,id=s,data=hunter2")
        == "object_add secret,id=s,data=<redacted>"
    )
    assert (
        redact_hmp("object_add secret,data=a,,b,,,id=s") == "object_add secret,data=<redacted>,id=s"
    )
    assert redact_hmp("drive_add 0 if=none,file=x,password=hunter2") == (
        "drive_add 0 if=none,file=x,password=<redacted>"
    )
    assert redact_hmp("change ide1-cd0 /tmp/data.iso") == "change ide1-cd0 /tmp/data.iso"
    assert redact_hmp("info vnc") == "info vnc"


SHORTHAND = [
    "set_password protocol=vnc password={} connected=keep",
    "change-vnc-password password={}",
    "object-add qom-type=secret id=sec0 data={}",
    "object-add id=sec0 data={} qom-type=secret_keyring serial=1",
    "migrate-set-parameters tls-creds={} max-bandwidth=100",
    "transaction( change-vnc-password password={} ; stop )",
    "!set_password protocol=vnc password={}",
    "/fd /tmp/f set_password protocol=vnc password={}",
    "qom-set path=/objects/s0 property=data value={}",
    "qom-set path=/objects/v0 property=password value={}",
]


RAW = [
    ("set_password", {"protocol": "vnc", "password": "{}"}),
    ("object-add", {"qom-type": "secret", "id": "s", "data": "{}"}),
    ("migrate-set-parameters", {"tls-authz": "{}"}),
    ("qom-set", {"path": "/objects/s0", "property": "data", "value": "{}"}),
]


HMP = [
    "/hmp change vnc password {}",
    "/hmp set_password vnc {} keep",
    "/hmp object_add secret,id=s0,data={},format=raw",
    "/hmp migrate_set_parameter tls-creds {}",
    "/hmp qom-set /objects/s0 data {}",
]


def quoted(value: str) -> str:
    """The shorthand's double-quoted form: only backslash and quote are escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def lines_holding(value: str) -> list[tuple[str, str]]:
    """(line with ``value`` written in, the same line with ``<redacted>`` instead)."""
    written: list[tuple[str, str]] = []

    def fill(template: str, as_written: str) -> None:
        written.append((template.replace("{}", as_written), template.replace("{}", REDACTED)))

    for template in SHORTHAND:
        fill(template, quoted(value))
        if re.fullmatch(r"[\w.:/@+-]+", value):  # also bare, where the parser reads it whole
            fill(template, value)
    for command, arguments in RAW:
        line, skeleton = (
            {"execute": command, "arguments": {k: v.replace("{}", x) for k, v in arguments.items()}}
            for x in (value, REDACTED)
        )
        written.append((json.dumps(line), json.dumps(skeleton)))
    hmp = value.replace(",", ",,")  # QemuOpts' escape for a comma inside a value
    if value.strip() and not re.search(r"[\s\"]", value):
        for template in HMP:
            fill(template, hmp)
        hmp_line = HMP[0].replace("{}", hmp).removeprefix("/hmp ")
        hmp_skeleton = HMP[0].replace("{}", REDACTED).removeprefix("/hmp ")
        written.append(
            (
                f"human-monitor-command command-line={quoted(hmp_line)}",
                f"human-monitor-command command-line={quoted(hmp_skeleton)}",
            )
        )
    return written


@settings(max_examples=scaled(400), deadline=None)
@given(st.text(min_size=4, max_size=40))
@example("hunter2,,x")
@example('a"b c')
@example("S3 x,data=y")
@example("\\\\")
@example("name")
def test_no_secret_value_survives_redact_input(value: str) -> None:
    for line, skeleton in lines_holding(value):
        assume(value not in skeleton)  # else it is there whatever happens to the secret
        kept = redact_input(line)
        assert kept is None or value not in kept, (line, kept)
        if kept is not None:  # what is kept is the command without the secret
            assert kept == skeleton.strip() or kept == skeleton
