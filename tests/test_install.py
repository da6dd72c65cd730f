"""Installing the project is quiet and complete: `pip install -e .` prints no setuptools warning,
and a built wheel carries every template, static file, catalogue and config the code reads.

Both run on a copy of the project's files (what git tracks or would track), so the working tree
is left alone, into a throwaway virtualenv without dependencies (`--no-deps`): seconds, not the
minutes of a full install.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _packages() -> set[str]:
    """The top-level packages setup.cfg ships (its `packages.find` include patterns)."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    patterns = config["options.packages.find"]["include"].split()
    return {pattern.rstrip("*").rstrip(".") for pattern in patterns}


PACKAGES = _packages()


def _project_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to know the project's files")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    return [name for name in listed if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("project")
    for name in _project_files():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, copy / name)
    return copy


def _pip(*args: str, cwd: Path) -> str:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONWARNINGS": ""}
    done = subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def _warnings(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if "warn" in line.lower()]


def test_editable_install_prints_no_warning_and_imports_from_the_tree(project, tmp_path):
    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    output = _pip("--python", str(python), "install", "--no-deps", "-e", str(project), cwd=tmp_path)
    assert _warnings(output) == []

    # The rules core needs nothing else installed; imported from elsewhere, it comes from the tree.
    found = subprocess.run([str(python), "-c", "import tablerules; print(tablerules.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(found) == project / "tablerules" / "__init__.py"


def test_the_wheel_carries_every_data_file_of_the_packages(project, tmp_path):
    output = _pip("wheel", "--no-deps", "--wheel-dir", str(tmp_path), str(project), cwd=tmp_path)
    assert _warnings(output) == []
    (wheel,) = tmp_path.glob("tableloop-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())

    data = {str(path.relative_to(project)) for package in PACKAGES for path in (project / package).rglob("*")
            if path.is_file() and path.suffix != ".py" and "__pycache__" not in path.parts}
    assert data, "no data files found: the package list is out of date"
    assert sorted(data - shipped) == []
    # And no test or tooling file slips into the installed packages.
    assert {name.split("/")[0] for name in shipped if not name.startswith("tableloop-")} == PACKAGES
