"""config.toml from a temporary XDG_CONFIG_HOME, as a user writes it, read by the real qmpsh.

What a setting does is checked where it shows: aliases and the default target
connect to a real QEMU, ``pretty``/``verbose`` change a real script's output,
``--print-config`` is read back as TOML, a wrong file is one line naming the key.
Reading the file into settings, on its own, is ``test_settings.py``.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest

from qmpsh.cli.settings import ConfigError, config_path, load
from tests.support.places import write_config
from tests.support.qemu import Qemu
from tests.support.qmpsh_process import lines, no_traceback, run_qmpsh


@pytest.mark.parametrize(
    "text",
    [
        "colour = 1",
        "[targets.web]\nsocket = 3",
        "pretty = ",
        "a = " + "[" * 100_000 + "]" * 100_000,
    ],
    ids=["wrong type", "wrong key", "no value", "nested 100,000 deep"],
)
def test_qmpsh_stops_on_a_wrong_file_with_one_line_and_status_2(tmp_path: Path, text: str) -> None:
    env = write_config(tmp_path, text + "\n")
    with pytest.raises(ConfigError) as raised:
        load(config_path(env))
    done = run_qmpsh("/nonexistent.sock", "-c", "query-status", env=env)
    no_traceback(done.stderr)
    assert (done.returncode, done.stdout) == (2, ""), done
    assert lines(done.stderr) == [f"qmpsh: {raised.value}"]
    # --version and --completions need no config: a broken one is no bar to them.
    assert run_qmpsh("--version", env=env).returncode == 0
    assert run_qmpsh("--completions", "fish", env=env).returncode == 0


def test_an_unreadable_or_undecodable_file_is_one_line(tmp_path: Path) -> None:
    env = write_config(tmp_path, "")
    path = tmp_path / "qmpsh" / "config.toml"
    path.write_bytes(b"style = '\xff'\n")
    done = run_qmpsh("--print-config", env=env)
    assert (done.returncode, lines(done.stderr)) == (2, [f"qmpsh: {path}: not UTF-8 text"])
    path.unlink()
    path.mkdir()  # a directory where the file should be
    done = run_qmpsh("--print-config", env=env)
    assert done.returncode == 2 and lines(done.stderr)[0].startswith(f"qmpsh: {path}: cannot read")


@pytest.mark.parametrize("how", ["fifo", "symlink to a fifo", "character device"])
def test_a_config_that_is_not_a_regular_file_is_one_line_not_a_hang(
    tmp_path: Path, how: str
) -> None:
    env = write_config(tmp_path, "")
    path = tmp_path / "qmpsh" / "config.toml"
    path.unlink()
    if how == "character device":
        path.symlink_to("/dev/zero")  # endless: read whole, it would never end either
    else:
        fifo = tmp_path / "fifo"
        os.mkfifo(fifo if how != "fifo" else path)
        if how != "fifo":
            path.symlink_to(fifo)
    done = run_qmpsh("/nonexistent.sock", "-c", "query-status", env=env, timeout=20)
    assert (done.returncode, done.stdout) == (2, ""), done
    assert lines(done.stderr) == [f"qmpsh: {path}: cannot read: not a regular file"]


def test_print_config_shows_each_value_and_where_it_came_from(tmp_path: Path) -> None:
    env = write_config(
        tmp_path,
        'target = "web"\nhistory_size = 7\n[targets.web]\nsocket = "/run/web.sock"\n',
    )
    done = run_qmpsh(
        "--print-config", "-p", "--color", "always", env={**env, "NO_COLOR": "1", "PAGER": "most"}
    )
    assert done.returncode == 0 and done.stderr == "", done
    printed = tomllib.loads(done.stdout)  # what it prints is a config file itself
    assert printed["target"] == "web" and printed["history_size"] == 7
    assert printed["pretty"] is True and printed["color"] == "always"
    assert printed["targets"] == {"web": {"socket": "/run/web.sock", "skip_negotiation": False}}
    where = {line.split(" = ")[0]: line.split("  # ")[-1] for line in lines(done.stdout)}
    config = f"config file {tmp_path / 'qmpsh' / 'config.toml'}"
    assert where["target"] == where["history_size"] == config
    assert where["pretty"] == "command line (-p)"
    assert where["color"] == "command line (--color)"  # --color beats NO_COLOR
    assert where["key_bindings"] == "default"
    assert "# pager command: most ($PAGER)" in done.stdout

    done = run_qmpsh("--print-config", "--no-pager", env={**env, "NO_COLOR": "1"})
    assert 'color = "never"  # environment (NO_COLOR)' in done.stdout
    assert "pager = false  # command line (--no-pager)" in done.stdout

    # A colour set in the file beats NO_COLOR; the command line beats the file.
    env = write_config(tmp_path, 'color = "always"\n')
    done = run_qmpsh("--print-config", env={**env, "NO_COLOR": "1"})
    assert tomllib.loads(done.stdout)["color"] == "always"


@pytest.mark.qemu
def test_an_alias_connects_to_its_socket(qemu: Qemu, tmp_path: Path) -> None:
    env = write_config(tmp_path, f'[targets.vm1]\nsocket = "{qemu.qmp}"\n')
    done = run_qmpsh("vm1", "-c", "query-name", env=env)
    assert (done.returncode, done.stderr) == (0, ""), done
    assert json.loads(done.stdout) == {"name": "testvm"}


@pytest.mark.qemu
def test_default_target_pretty_and_verbose_come_from_the_file(qemu: Qemu, tmp_path: Path) -> None:
    env = write_config(
        tmp_path,
        f'target = "vm1"\npretty = true\nverbose = true\n[targets.vm1]\nsocket = "{qemu.qmp}"\n',
    )
    done = run_qmpsh("-c", "query-name", env=env)
    assert done.returncode == 0, done
    assert done.stdout == '{\n  "name": "testvm"\n}\n'  # pretty
    assert '"execute":"query-name"' in done.stderr  # verbose: what was sent, on stderr

    # A script file given alone runs on the default target.
    script = tmp_path / "names.qmp"
    script.write_text("query-name\nquery-status\n")
    done = run_qmpsh(str(script), env=env)
    assert done.returncode == 0, done
    assert '"name": "testvm"' in done.stdout and '"running": true' in done.stdout

    # The command line still wins: another TARGET, --launch ignores the default.
    done = run_qmpsh(str(qemu.qmp), "-c", "query-name", env=env)
    assert done.returncode == 0 and '"testvm"' in done.stdout


def test_no_target_and_no_default_is_still_a_usage_error(tmp_path: Path) -> None:
    done = run_qmpsh("-c", "query-name", env=write_config(tmp_path, "pretty = true\n"))
    assert done.returncode == 2 and "no TARGET given" in done.stderr
