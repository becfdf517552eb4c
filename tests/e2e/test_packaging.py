"""Packaging: ``python -m build`` makes an sdist and a wheel that carry everything, and the
wheel installed into a fresh virtualenv (what ``pipx install`` does) runs against QEMU.

Also checks that the shipped man page is what the argparse definitions generate,
and that groff renders it without a warning.
"""

from __future__ import annotations

import email
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

from qmpsh.cli.manpage import PAGE, render
from qmpsh.cli.parser import build_parser
from qmpsh.cli.shells import DIRECTORY, FILE_NAMES
from tests.support.places import ROOT
from tests.support.qemu import Qemu

SHARED = {
    "share/man/man1/qmpsh.1": PAGE,
    "share/bash-completion/completions/qmpsh.bash": DIRECTORY / FILE_NAMES["bash"],
    "share/zsh/site-functions/_qmpsh": DIRECTORY / FILE_NAMES["zsh"],
    "share/fish/vendor_completions.d/qmpsh.fish": DIRECTORY / FILE_NAMES["fish"],
}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build`` (the sdist, then the wheel from it) on a copy of the work tree,
    so that setuptools' scratch files never land in, or race with, the tree itself."""
    base = tmp_path_factory.mktemp("build")
    source, out = base / "src", base / "dist"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
        ),
    )
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    warnings = [line for line in done.stdout.splitlines() if "WARNING" in line.upper()]
    assert not [w for w in warnings if "byte-compiling is disabled" not in w], warnings
    return out


def only(directory: Path, pattern: str) -> Path:
    found = list(directory.glob(pattern))
    assert len(found) == 1, found
    return found[0]


def test_man_page_is_generated_from_the_options_and_renders_cleanly() -> None:
    assert PAGE.read_text() == render(build_parser()), (
        "qmpsh/man/qmpsh.1 is stale: run python -m qmpsh.cli.manpage --write"
    )
    text = PAGE.read_text()
    for action in build_parser()._actions:
        for flag in action.option_strings:
            assert flag.replace("-", "\\-") in text, flag
    groff = shutil.which("groff")
    if groff is None:
        pytest.fail("groff is not installed; the README's test command installs it")
    done = subprocess.run(
        [groff, "-man", "-Tutf8", "-ww", "-rLL=100n"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    shown = re.sub(".\x08", "", done.stdout).replace("\u2010", "-")  # overstrike bold
    assert "--print-config" in shown and "EXIT STATUS" in shown and "CONFIGURATION" in shown


def test_wheel_holds_the_package_completions_man_page_and_marker(dist: Path) -> None:
    wheel = only(dist, "qmpsh-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = f"{wheel.name.split('-py3')[0]}.data/data/"
    assert "qmpsh/py.typed" in names
    assert DIRECTORY == ROOT / "completions"  # the top-level copies are the ones shipped
    assert not [n for n in names if n.startswith("qmpsh/completions/")]  # once, under share/
    assert "qmpsh/man/qmpsh.1" in names
    assert {data + shared for shared in SHARED} <= names
    with zipfile.ZipFile(wheel) as archive:
        for shared, source in SHARED.items():
            assert archive.read(data + shared) == source.read_bytes(), shared
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = email.message_from_bytes(archive.read(info))
        entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert "qmpsh = qmpsh.cli.main:main" in entry_points
    classifiers = metadata.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers and "Environment :: Console" in classifiers
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["License-Expression"] == "GPL-2.0-or-later"
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL") or [])
    assert urls["QMP reference"].startswith("https://www.qemu.org/docs/")
    assert not [n for n in names if n.startswith("tests/")]


def test_sdist_holds_what_the_wheel_is_built_from(dist: Path) -> None:
    sdist = only(dist, "qmpsh-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {str(source.relative_to(ROOT)) for source in SHARED.values()} <= names
    assert {"pyproject.toml", "README.md", "qmpsh/py.typed"} <= names


@pytest.mark.qemu
def test_the_wheel_installed_in_a_fresh_venv_works(dist: Path, qemu: Qemu, tmp_path: Path) -> None:
    """What ``pipx install`` does: a new virtualenv, the wheel installed, its script run.

    The dependencies come from the test's own environment (added to the new
    venv's path), so nothing is fetched; qmpsh itself must come from the wheel.
    """
    target = tmp_path / "venv"
    venv.create(target, with_pip=False)
    python = str(target / "bin" / "python")
    wheel = str(only(dist, "qmpsh-*.whl"))
    pip = [sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check"]
    done = subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--quiet", wheel],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    env = {**os.environ, "PATH": f"{target / 'bin'}:/usr/bin:/bin"}
    env.pop("PYTHONPATH", None)

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
        )

    query = "import sysconfig; print(sysconfig.get_path('purelib'))"
    purelib = Path(run(python, "-c", query).stdout.strip())
    (purelib / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    where = run(python, "-c", "import qmpsh; print(qmpsh.__file__)").stdout
    assert where.startswith(str(purelib)), where  # the wheel's copy, not the work tree

    def qmpsh(*args: str) -> subprocess.CompletedProcess[str]:
        return run(str(target / "bin" / "qmpsh"), *args)

    assert qmpsh("--version").stdout.startswith("qmpsh ")
    for shared, source in SHARED.items():
        assert (target / shared).read_bytes() == source.read_bytes(), shared
    zsh = target / "share/zsh/site-functions/_qmpsh"
    assert qmpsh("--completions", "zsh").stdout == zsh.read_text()
    done = qmpsh(str(qemu.qmp), "-c", "query-name")
    assert (done.returncode, done.stdout, done.stderr) == (0, '{"name":"testvm"}\n', "")


def test_dev_setup_runs_pip_only_when_the_venv_is_not_current(tmp_path: Path) -> None:
    """dev/setup.sh on a copy, with a stand-in venv python that records each pip run."""
    shutil.copytree(ROOT / "dev", tmp_path / "dev")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    tools, venv_bin = tmp_path / "tools", tmp_path / "venv" / "bin"
    log = tmp_path / "pip.log"
    for directory, name, body in [
        (tools, "qemu-system-x86_64", "true"),  # present: nothing for apt-get to do
        (tools, "qemu-img", "true"),
        (venv_bin, "python", f'echo "$*" >>{log}'),
    ]:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(f"#!/bin/sh\n{body}\n")
        (directory / name).chmod(0o755)

    def setup(extra: str = "") -> str:
        env = {
            **os.environ,
            "PATH": f"{tools}:{os.environ['PATH']}",
            "QMPSH_VENV": str(tmp_path / "venv"),
            "QMPSH_EXTRA": extra,
            "PYTHON": sys.executable,
        }
        done = subprocess.run(
            ["bash", "-c", "source dev/setup.sh"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stderr

    def pip_runs() -> list[str]:
        return log.read_text().splitlines() if log.exists() else []

    assert "pip install -e . into" in setup()
    assert setup() == "" and len(pip_runs()) == 1  # current: pip not run again
    assert "pip install -e .[dev] into" in setup("[dev]")  # the test extra still installs
    assert setup("[dev]") == setup() == "" and len(pip_runs()) == 2
    with (tmp_path / "pyproject.toml").open("a") as pyproject:
        pyproject.write("\n# changed\n")
    assert "pip install -e .[dev] into" in setup("[dev]")
    assert pip_runs()[-1].endswith(f"-e {tmp_path}[dev]")
