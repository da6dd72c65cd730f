"""The agent runs on a till PC without the server's stack, and the rules core runs on both.

`pos_agent` imports nothing of `app`, Flask or SQLAlchemy; `tablerules` imports only the
standard library and itself. Every module is read with `ast` (nothing is imported), and every
import counts: at the top, inside a function, under `if TYPE_CHECKING:`. Then the agent's
command line is started for real and `-X importtime` lists what it loaded.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER_STACK = ("app", "flask", "sqlalchemy")


def imported_modules(source: str, package: str) -> set[str]:
    """Absolute names of everything a module imports; relative imports resolve inside `package`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names.add(f"{package}.{node.module or ''}".rstrip("."))
            elif node.module:
                names.add(node.module)
    return names


def _is_server_stack(name: str) -> bool:
    top = name.split(".")[0]
    return top in SERVER_STACK or top.startswith("flask_")


def _modules(package: str) -> list[Path]:
    paths = sorted((ROOT / package).rglob("*.py"))
    assert len(paths) > 3, f"no modules found under {package}/"
    return paths


def test_the_walker_sees_imports_hidden_in_functions():
    source = "import json\ndef f():\n    from flask import g\n    import sqlalchemy.orm\nfrom . import x\n"
    names = imported_modules(source, "pos_agent")
    assert {"json", "flask", "sqlalchemy.orm", "pos_agent"} <= names
    assert sorted(n for n in names if _is_server_stack(n)) == ["flask", "sqlalchemy.orm"]


def test_pos_agent_imports_nothing_of_the_server():
    offenders = {}
    for path in _modules("pos_agent"):
        bad = sorted(n for n in imported_modules(path.read_text(encoding="utf-8"), "pos_agent") if _is_server_stack(n))
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert offenders == {}


def test_tablerules_imports_only_the_standard_library_and_itself():
    allowed = set(sys.stdlib_module_names) | {"tablerules"}
    offenders = {}
    for path in _modules("tablerules"):
        bad = sorted(n for n in imported_modules(path.read_text(encoding="utf-8"), "tablerules")
                     if n.split(".")[0] not in allowed)
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert offenders == {}


def test_starting_the_agent_loads_no_server_module():
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "pos_agent", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout
    # "import time: self [us] | cumulative | imported package", the name indented by nesting.
    loaded = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()
              if line.startswith("import time:") and line.count("|") == 2}
    assert {"pos_agent.agent", "tablerules.documents", "escpos"} <= loaded  # the listing is read right
    assert sorted(name for name in loaded if _is_server_stack(name)) == []
