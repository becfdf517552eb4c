"""Settings from config.toml (``qmpsh.cli.settings``) read from a temporary directory: every key
with its source, and a wrong file as one line naming the key.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qmpsh.cli.settings import ConfigError, Settings, config_path, load
from tests.support.places import write_config


def test_config_path_follows_xdg_and_ignores_a_relative_one(tmp_path: Path) -> None:
    assert config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "qmpsh/config.toml"
    home = Path(os.path.expanduser("~"))
    assert config_path({"XDG_CONFIG_HOME": "relative"}) == home / ".config/qmpsh/config.toml"
    assert config_path({}) == home / ".config/qmpsh/config.toml"


def test_every_key_is_read_with_its_source(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        """
target = "web"
style = "monokai"
key_bindings = "vi"
history_size = 50
pretty = true
verbose = true
color = "never"
pager = false

[events]
mute = ["RTC_CHANGE", "BLOCK_JOB_*"]

[targets.web]
socket = "/run/web.sock"

[targets."guest agent"]
socket = "/run/ga.sock"
skip_negotiation = true
""",
    )
    settings = load(config_path({"XDG_CONFIG_HOME": str(tmp_path)}))
    assert (settings.target, settings.style, settings.key_bindings) == ("web", "monokai", "vi")
    assert (settings.history_size, settings.pretty, settings.verbose) == (50, True, True)
    assert (settings.color, settings.pager) == ("never", False)
    assert settings.events_mute == ("RTC_CHANGE", "BLOCK_JOB_*")
    assert settings.targets["web"].socket == "/run/web.sock"
    assert settings.targets["guest agent"].skip_negotiation
    assert settings.source("style").startswith("config file ")
    assert load(tmp_path / "missing.toml") == Settings(path=tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour = 1", "unknown key colour (did you mean color?)"),
        ("key_bindings = 'vim'", 'key_bindings: expected "emacs" or "vi", got "vim"'),
        ("history_size = -1", "history_size: expected a whole number >= 0, got -1"),
        ("history_size = true", "history_size: expected a whole number >= 0, got true"),
        ("pretty = 'yes'", 'pretty: expected true or false, got "yes"'),
        ("style = 'no-such-style'", 'style: no pygments style "no-such-style"'),
        ("color = 'sometimes'", 'color: expected "auto" or "always" or "never"'),
        ("[events]\nmute = 'STOP'", "events.mute: expected a list of event names"),
        ("[events]\nhide = []", "unknown key events.hide"),
        (
            "[targets.web]\npath = '/x'",
            "unknown key targets.web.path; known: socket, skip_negotiation",
        ),
        ("[targets.web]\nskip_negotiation = true", "targets.web: missing socket"),
        ("[targets.'a/b']\nsocket = '/x'", 'targets."a/b": an alias name cannot'),
        ("targets = 3", "targets: expected a table"),
        ("pretty = true\npretty = false", "not valid TOML: Cannot overwrite a value"),
        ("target = ", "not valid TOML: Invalid value (at line 1, column 10)"),
    ],
)
def test_a_wrong_file_is_one_line_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    env = write_config(tmp_path, text + "\n")
    with pytest.raises(ConfigError) as raised:
        load(config_path(env))
    assert message in str(raised.value)
    assert str(raised.value).startswith(f"{tmp_path / 'qmpsh' / 'config.toml'}: ")
    assert "\n" not in str(raised.value)
