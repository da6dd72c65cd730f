"""The package import graph of `app/`: domains publish, channels subscribe, and domains depend in
one direction.

Every module of `app/` is read with `ast` (no import runs), and every import counts: at the top,
inside a function, or under `if TYPE_CHECKING:`.

The nodes:
- a package's core: every module of `app/<package>/` except its web layer (models, state,
  services, ledgers, jobs…) — node `<package>`;
- a package's web layer: `routes`, `pages`, `forms`, `schemas`, `callback` and `cli` modules —
  node `<package>:web`. A page or route may import several domains (a member's page shows
  payments), so the web layer is a node of its own;
- each shared module beside the packages (`app.db`, `app.errors`, `app.actor`…) — its own node.

The composition roots wire everything together and are left out as importers: the app factory
(`app/__init__.py`), the model registry (`app.models`), the command line (`app.cli`), the
scheduler (`app.scheduler`), the demo data (`app.demo`) and the dispatch table of domain
events (`app.events.subscriptions`, the one place a channel is attached to a domain).

The rules:
1. No module of a domain package (orders, members, coupons, tables, menu, inbox, crm) imports `app.wechat`:
   domains publish events, WeChat subscribes to them.
2. The graph of nodes has no cycle (a cycle means two packages cannot be understood, tested or
   moved apart).
3. A core never imports a web layer (routes → service → models, never back).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
DOMAINS = ("orders", "members", "coupons", "tables", "menu", "inbox", "crm", "campaigns")
CHANNELS = ("wechat",)
WEB_MODULES = frozenset({"routes", "pages", "forms", "schemas", "callback", "cli"})
ROOTS = ("app", "app.models", "app.cli", "app.scheduler", "app.demo", "app.events.subscriptions")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(APP.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(APP.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """(imported app module, line) for every import of `app…` in the module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                # `from app.members import service` imports the module app.members.service
                submodule = f"{source}.{alias.name}"
                found.append((submodule if submodule in known else source, node.lineno))
    return [(target, line) for target, line in found if target == "app" or target.startswith("app.")]


def _is_root(name: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in ROOTS if root != "app") or name == "app"


def node_of(name: str) -> str:
    parts = name.split(".")
    if len(parts) == 2:
        return name.removeprefix("app.")  # a shared module beside the packages, or a package itself
    package, leaf = parts[1], parts[2]
    # A package with more than one page blueprint names the others `<what>_pages`.
    return f"{package}:web" if leaf in WEB_MODULES or leaf.endswith("_pages") else package


def _edges() -> dict[tuple[str, str], list[str]]:
    """(node, node) -> the imports that make the edge, as "module:line -> module"."""
    modules = _modules()
    known = set(modules)
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, path in modules.items():
        if _is_root(name):
            continue
        for target, line in _imports(name, path, known):
            source_node, target_node = node_of(name), node_of(target)
            if source_node != target_node:
                edges[(source_node, target_node)].append(f"{name}:{line} -> {target}")
    return edges


def _cycles(edges: dict[tuple[str, str], list[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target in edges:
        graph[source].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(set(graph) | {t for targets in graph.values() for t in targets}):
        if node not in index:
            visit(node)
    return components


def test_the_walk_sees_the_app():
    edges = _edges()
    # Imports inside functions count too (wechat's subscribers read orders and members).
    assert ("wechat", "orders") in edges and ("orders:web", "orders") in edges
    assert node_of("app.members.routes") == "members:web" and node_of("app.members.ledger") == "members"
    assert node_of("app.db") == "db"


def test_no_domain_imports_a_channel():
    offending = [
        f"{name}:{line} imports {target}"
        for name, path in _modules().items()
        if name.split(".")[1:2] and name.split(".")[1] in DOMAINS
        for target, line in _imports(name, path, set(_modules()))
        if target.split(".")[1:2] and target.split(".")[1] in CHANNELS
    ]
    assert offending == [], "domains publish events; channels subscribe (app.events.subscriptions)"


def test_no_cycle_between_packages():
    edges = _edges()
    report = []
    for component in _cycles(edges):
        inside = set(component)
        report.append(" <-> ".join(component) + ":\n" + "\n".join(
            f"    {source} -> {target}: {', '.join(edges[(source, target)][:3])}"
            for source, target in sorted(edges) if source in inside and target in inside))
    assert report == [], "import cycles:\n" + "\n".join(report)


def test_no_core_imports_a_web_layer():
    offending = [f"{pair}: {', '.join(found)}" for pair, found in sorted(_edges().items())
                 if not pair[0].endswith(":web") and pair[1].endswith(":web")]
    assert offending == []


def test_the_cycle_finder_finds_a_cycle():
    edges = {("a", "b"): ["x"], ("b", "c"): ["y"], ("c", "a"): ["z"], ("c", "d"): ["w"]}
    assert _cycles(edges) == [["a", "b", "c"]]
    assert _cycles({("a", "b"): ["x"]}) == []
