"""From parsed options to what a run uses: settings, target, renderer; and the options that exit.

``cli`` parses; this module applies the config file, the environment
(``NO_COLOR``) and the command line, in that order of strength, and answers
``--version``, ``--completions`` and ``--print-config`` before anything
connects. Keeping it here leaves ``cli`` to choose the mode and map failures
to exit statuses.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from qmpsh import __version__
from qmpsh.cli.settings import OWN_STYLE, Settings, config_path, load, toml_key
from qmpsh.render.escape import is_terminal
from qmpsh.render.output import Output
from qmpsh.render.plain import plain_renderer

CLI = "command line"


def version_text() -> str:
    """``qmpsh --version``: qmpsh, qemu.qmp and Python, what a bug report needs."""
    # Here, not at the top: every run but --version would pay 10 + 50 ms for them.
    import platform
    from importlib.metadata import PackageNotFoundError, version

    try:
        qmp = version("qemu.qmp")
    except PackageNotFoundError:  # pragma: no cover - a dependency
        qmp = "unknown"
    python = platform.python_version()
    if platform.python_implementation() != "CPython":
        python += f" ({platform.python_implementation()})"
    return f"qmpsh {__version__} (qemu.qmp {qmp}, Python {python})"


def settle(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> None:
    """Apply config and environment to freshly parsed ``args``, in place.

    Sets ``args.settings`` and resolves ``args.target`` (an alias, or the
    configured default). ``--version``, ``--completions`` and ``--print-config``
    print and raise ``SystemExit(0)``, as argparse's own ``--help`` does.
    """
    if args.version:
        print(version_text())
        raise SystemExit(0)
    if args.completions:
        from qmpsh.cli.shells import completion_script  # 2 ms: --completions only

        sys.stdout.write(completion_script(args.completions))
        raise SystemExit(0)
    configured = load(config_path(env))
    settings = effective(configured, args, env)
    if args.print_config:
        sys.stdout.write(describe(settings, env))
        raise SystemExit(0)
    args.settings = settings
    args.pretty, args.verbose = settings.pretty, settings.verbose
    if args.target is None and not args.launch:
        args.target = configured.target
    elif (
        args.target
        and not args.launch
        and args.script is None
        and configured.target
        and args.target not in settings.targets
        and Path(args.target).is_file()
    ):  # qmpsh script.qmp, on the default target
        args.script, args.target = Path(args.target), configured.target
    alias = settings.targets.get(args.target or "")
    if alias is not None:
        args.target = alias.socket
        args.skip_negotiation = args.skip_negotiation or alias.skip_negotiation


def effective(settings: Settings, args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """The config's settings with the environment and the command line applied."""
    if args.pretty:
        settings = settings.with_value("pretty", True, f"{CLI} (-p)")
    if args.verbose:
        settings = settings.with_value("verbose", True, f"{CLI} (-v)")
    if args.color:
        settings = settings.with_value("color", args.color, f"{CLI} (--color)")
    elif settings.source("color") == "default" and env.get("NO_COLOR"):
        settings = settings.with_value("color", "never", "environment (NO_COLOR)")
    if args.pager is False:
        settings = settings.with_value("pager", False, f"{CLI} (--no-pager)")
    if args.target and not args.launch:
        settings = settings.with_value("target", args.target, CLI)
    return settings


def describe(settings: Settings, env: Mapping[str, str] = os.environ) -> str:
    """``--print-config``: the effective settings as TOML, each with where it came from."""
    from qmpsh.render.pager import pager_command  # 6 ms (shlex, shutil): --print-config only

    path = settings.path
    found = "found" if path is not None and path.is_file() else "not found"
    lines = [f"# qmpsh {__version__}; config file: {path} ({found})"]

    def row(key: str, value: object, source_key: str | None = None) -> None:
        lines.append(f"{key} = {_toml(value)}  # {settings.source(source_key or key)}")

    for key in ("target", "style", "key_bindings", "history_size", "pretty", "verbose"):
        value = getattr(settings, key)
        if value is None:
            lines.append(f"# {key} is not set  # {settings.source(key)}")
        else:
            row(key, value)
    row("color", settings.color)
    row("pager", settings.pager)
    pager = pager_command(env)
    origin = "$PAGER" if pager == env.get("PAGER", "").strip() else "the default; $PAGER is unset"
    lines += [f"# pager command: {pager} ({origin})", "", "[events]"]
    row("mute", list(settings.events_mute), "events_mute")
    for name, alias in settings.targets.items():
        lines += ["", f"[targets.{toml_key(name)}]  # {settings.source('targets')}"]
        lines.append(f"socket = {_toml(alias.socket)}")
        lines.append(f"skip_negotiation = {_toml(alias.skip_negotiation)}")
    return "\n".join(lines) + "\n"


def _toml(value: object) -> str:
    """A TOML value: JSON's spelling is TOML's for strings, numbers, booleans and lists."""
    return json.dumps(value)


def make_renderer(args: argparse.Namespace, *, interactive: bool) -> Output:
    """The renderer for this run: one line per kind of output, each built below."""
    if interactive:
        return _terminal_renderer(args)
    if args.settings.color == "always":
        return _colour_script_renderer(args)
    return plain_renderer(
        pretty=args.settings.pretty,
        json_lines=args.json,
        verbose=args.settings.verbose,
        events=args.events,
        progress=_script_progress(args),
    )


def _script_progress(args: argparse.Namespace) -> bool:
    """A script shows progress on stderr when it is a terminal, or with ``--progress``."""
    return bool(args.progress) or is_terminal(sys.stderr)


def _terminal_renderer(args: argparse.Namespace) -> Output:
    """A person at a terminal: rich, colour unless told not, pretty but for ``--return-value``;
    arrays of flat objects as tables unless JSON was asked for (``-p``, ``--return-value``)."""
    # rich costs 60 ms of start-up: only a terminal (or --color=always) pays it.
    from qmpsh.render.pager import page
    from qmpsh.render.rich_terminal import rich_renderer

    settings: Settings = args.settings
    return rich_renderer(
        pretty=not args.return_value,
        json_lines=args.json,
        verbose=settings.verbose,
        color={"always": True, "never": False}.get(settings.color),
        pager=page if settings.pager else None,
        syntax_style=_syntax_style(settings),
        tables=not (settings.pretty or args.return_value),
    )


def _colour_script_renderer(args: argparse.Namespace) -> Output:
    """``--color=always`` in a script: its output keeps its shape, in colour."""
    from qmpsh.render.rich_terminal import script_color_renderer  # rich: as above

    settings: Settings = args.settings
    return script_color_renderer(
        pretty=settings.pretty,
        json_lines=args.json,
        verbose=settings.verbose,
        events=args.events,
        syntax_style=_syntax_style(settings),
        progress=_script_progress(args),
    )


def _syntax_style(settings: Settings) -> str | None:
    """The pygments style for JSON; None for qmpsh's own colours."""
    return None if settings.style == OWN_STYLE else settings.style


def history_file(settings: Settings) -> Path | None:
    """Where the REPL keeps its history, trimmed to ``history_size`` (None: keep none)."""
    from qmpsh.files import history_path, trim_history  # the prompt's only

    if settings.history_size == 0:
        return None
    path = history_path()
    trim_history(path, settings.history_size)
    return path
