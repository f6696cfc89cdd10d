"""`pip install .` gives a CI job the CLI alone: requests and websockets are all it needs.

Offline: the wheel is built from a copy of pyproject.toml and the CLI package (--no-index, no
build isolation), installed into a fresh virtualenv without dependencies, and run with only
requests, websockets and what they need on its path.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

from testing import ROOT

CLI_DEPENDENCIES = ("requests", "websockets")


def run(*argv, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=True, timeout=240, **kwargs)


def import_roots(dist_name: str) -> set[Path]:
    """The top-level packages and modules an installed distribution put into site-packages."""
    dist = importlib.metadata.distribution(dist_name)
    roots = set()
    for file in dist.files or []:
        top = file.parts[0]
        if top != ".." and not top.endswith(".dist-info") and top != "__pycache__":
            roots.add(Path(dist.locate_file(top)))
    return roots


def requirement_names(dist_name: str) -> set[str]:
    """What a distribution requires unconditionally (not its extras)."""
    return {
        re.match(r"[A-Za-z0-9_.-]+", req).group(0)
        for req in importlib.metadata.requires(dist_name) or []
        if "extra ==" not in req
    }


def test_pip_install_installs_only_the_cli_needing_only_requests_and_websockets(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(
        ROOT / "imagefactory" / "cli", source / "imagefactory" / "cli", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", source / "pyproject.toml")
    wheels = tmp_path / "wheels"
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "--no-index",
        "--no-build-isolation",
        "-w",
        wheels,
        source,
    )
    (wheel,) = wheels.glob("imagefactory-*.whl")

    fresh = tmp_path / "venv"
    venv.create(fresh, with_pip=True)
    run(fresh / "bin" / "pip", "install", "--quiet", "--no-deps", "--no-index", wheel)

    shown = run(fresh / "bin" / "pip", "show", "--files", "imagefactory").stdout
    requires = next(line for line in shown.splitlines() if line.startswith("Requires:"))
    assert sorted(name.strip() for name in requires.split(":", 1)[1].split(",")) == sorted(CLI_DEPENDENCIES)
    installed = [line.strip() for line in shown.split("Files:", 1)[1].splitlines() if line.strip()]
    packaged = {f for f in installed if not f.startswith(("imagefactory-", "../")) and "__pycache__" not in f}
    assert packaged and all(f.startswith("imagefactory/cli/") for f in packaged), packaged
    assert "imagefactory/__init__.py" not in packaged  # the server's package stays out

    # requests, websockets and their own dependencies only, taken from this virtualenv.
    deps = tmp_path / "deps"
    deps.mkdir()
    needed = set(CLI_DEPENDENCIES).union(*(requirement_names(name) for name in CLI_DEPENDENCIES))
    for name in needed:
        for root in import_roots(name):
            (deps / root.name).symlink_to(root)

    cli = fresh / "bin" / "imagefactory"
    help_text = run(cli, "--help", env={"PYTHONPATH": str(deps), "PATH": "/usr/bin:/bin"}).stdout
    assert "Exit codes: 0 success, 1 build failed" in help_text
    module = run(
        fresh / "bin" / "python",
        "-m",
        "imagefactory.cli",
        "builds",
        "list",
        "--help",
        env={"PYTHONPATH": str(deps), "PATH": "/usr/bin:/bin"},
    )
    assert "--status" in module.stdout
    # The server is absent there: its package cannot be imported.
    probe = run(
        fresh / "bin" / "python",
        "-c",
        "import importlib.util as u; print(u.find_spec('imagefactory.settings'))",
        env={"PYTHONPATH": str(deps), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert probe.stdout.strip() == "None"
