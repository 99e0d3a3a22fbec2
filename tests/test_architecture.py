"""The rules of the package's shape (docs/architecture.md), read from its imports with
`ast` (no module is run):

- no import circle among the package's modules (function-local imports count: a
  circle dodged by importing inside a function is still a circle);
- every module lives in a room of the table below, and a room imports only the
  foundations and the rooms the table names (the stages do not import each
  other; only the pipeline sequences them);
- `plan/` imports nothing of ours but `contact` and `normalize` (and itself), and of
  the rest only the standard library, pandas and numpy: it stays a pure value;
- no name starting with `_` is imported from another module (dunders aside);
- nothing imports `cli`; only `cli`, `demo` (a second porch: the demo command's
  story) and `pipeline` itself import `pipeline`;
- `api/` never imports `sandbox/`, and the reverse (the sandbox shares no code with
  the client, so it can catch the client's mistakes);
- `contact` imports nothing of ours;
- at most a handful of function-local imports outside `cli.py` (the porch keeps
  `--help` fast by importing late), each with a comment saying why.

Each rule is also run on a small synthetic package that breaks it, to show that it
fails when broken.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "connector"

#: shared by every room: declarations, comparison rules and small utilities; they
#: import only each other
FOUNDATIONS = frozenset({"connector", "contact", "normalize", "errors", "config", "fileio",
                         "privacy", "logs", "runtime"})
#: room -> the rooms (besides the foundations) it may import
ROOMS: dict[str, frozenset[str]] = {
    "extract": frozenset(),
    "validate": frozenset({"extract"}),          # the mapping it applies
    "plan": frozenset(),                         # and see PLAN_MAY_IMPORT
    "state": frozenset(),
    "api": frozenset(),
    "sandbox": frozenset(),
    "incremental": frozenset({"extract", "validate", "plan", "state"}),
    # load/review.py lays a steward's decisions (read by extract/decisions.py) on writes
    "load": frozenset({"api", "extract", "plan", "state"}),
    "report": frozenset({"plan"}),
    "pipeline": frozenset({"api", "extract", "validate", "incremental", "plan", "load",
                           "state", "report"}),
    "demo": frozenset({"api", "extract", "load", "pipeline", "plan", "report", "sandbox",
                       "state"}),
    "cli": frozenset({"api", "extract", "validate", "load", "pipeline", "plan", "report",
                      "sandbox", "state", "demo"}),
}
#: how many function-local imports outside cli.py are allowed
HANDFUL = 5


def modules(root: Path) -> Iterator[tuple[str, Path]]:
    """(dotted name, path) of every module of the package at `root`."""
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def imports(root: Path) -> list[tuple[str, str, str]]:
    """(importing module, imported module, name or "") of every import of our own."""
    top = root.name
    found = []
    for name, path in modules(root):
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                elif node.module and node.module.split(".")[0] == top:
                    target = node.module
                else:
                    continue
                found.extend((name, target, alias.name) for alias in node.names)
            elif isinstance(node, ast.Import):
                found.extend((name, alias.name, "") for alias in node.names
                             if alias.name.split(".")[0] == top)
    return found


def room(root: Path, dotted: str) -> str:
    """The room of a module (or of a name imported from the package itself)."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else root.name


def room_breaches(root: Path) -> list[str]:
    """Imports that cross into a room the table does not allow, and modules in no room."""
    names = {name for name, _ in modules(root)}
    out = []
    for name in sorted(names):
        here = room(root, name)
        if here not in FOUNDATIONS and here not in ROOMS:
            out.append(f"{name} is in no room: add it to the table (docs/architecture.md)")
    for mod, target, name in imports(root):
        full = f"{target}.{name}" if name else target
        there = room(root, full if full in names else target)
        here = room(root, mod)
        if there == here or there in FOUNDATIONS:
            continue
        if here in FOUNDATIONS or there not in ROOMS.get(here, frozenset()):
            out.append(f"{mod} ({here}) imports {full} ({there})")
    return out


def private_names(root: Path) -> list[str]:
    return [f"{mod} imports {name} from {target}" for mod, target, name in imports(root)
            if name.startswith("_") and not name.startswith("__")]


def importers_of(root: Path, module: str) -> list[str]:
    """The modules outside `module` (and its package) that import it."""
    return sorted({mod for mod, target, name in imports(root)
                   if module in (target, f"{target}.{name}")
                   and mod != module and not mod.startswith(f"{module}.")})


def crossings(root: Path, a: str, b: str) -> list[str]:
    out = []
    for mod, target, name in imports(root):
        full = f"{target}.{name}" if name else target
        for x, y in ((a, b), (b, a)):
            if mod.startswith(f"{root.name}.{x}") and (
                    target.startswith(f"{root.name}.{y}") or full.startswith(f"{root.name}.{y}")):
                out.append(f"{mod} imports {full}")
    return out


def own_imports_of(root: Path, module: str) -> list[str]:
    return [target for mod, target, _ in imports(root) if mod == module]


def graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of ours it imports (a name imported from a package is
    the submodule when there is one, else the package)."""
    names = {name for name, _ in modules(root)}
    out: dict[str, set[str]] = {name: set() for name in names}
    for mod, target, name in imports(root):
        found = f"{target}.{name}" if name and f"{target}.{name}" in names else target
        while found not in names and "." in found:
            found = found.rpartition(".")[0]
        if found != mod:
            out[mod].add(found)
    return out


def circles(root: Path) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    edges = graph(root)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


PLAN_MAY_IMPORT = {"__future__", "collections", "copy", "dataclasses", "hashlib", "json", "math",
                   "re",
                   "typing", "numpy", "pandas", "functools", "itertools"}


def plan_imports(root: Path) -> list[str]:
    """What the modules of `plan/` import that a pure plan may not: our modules but
    contact, normalize and plan's own, and third-party or I/O modules."""
    bad = []
    for name, path in modules(root):
        if room(root, name) != "plan":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    if node.level == 1 and path.parent.name == "plan":
                        continue  # plan's own modules
                    if node.module not in ("contact", "normalize"):
                        bad.append(f"{name}: {'.' * node.level}{node.module or ''}")
                    continue
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            bad.extend(f"{name}: {n}" for n in names if n.split(".")[0] not in PLAN_MAY_IMPORT)
    return bad


def local_imports(root: Path) -> tuple[list[str], list[str]]:
    """(every import inside a function outside cli.py, those without a comment on their
    line or the line above saying why)."""
    found, silent = [], []
    for name, path in modules(root):
        if name == f"{root.name}.cli":
            continue
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for func in ast.walk(ast.parse(text)):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    where = f"{name}:{node.lineno}"
                    found.append(where)
                    line, above = lines[node.lineno - 1], lines[node.lineno - 2].strip()
                    if "#" not in line and not above.startswith("#"):
                        silent.append(where)
    return sorted(set(found)), sorted(set(silent))


# ------------------------------------------------------------------ the package


def test_no_import_circle():
    assert circles(ROOT) == []


def test_each_room_imports_only_the_rooms_below_it():
    assert room_breaches(ROOT) == []


def test_the_plan_imports_only_contact_normalize_and_pure_libraries():
    assert plan_imports(ROOT) == []


def test_no_private_name_crosses_a_module():
    assert private_names(ROOT) == []


def test_nothing_imports_the_cli():
    assert importers_of(ROOT, "connector.cli") == []


def test_only_the_porch_imports_the_pipeline():
    assert importers_of(ROOT, "connector.pipeline") == ["connector.cli", "connector.demo"]


def test_the_client_and_the_sandbox_share_no_code():
    assert crossings(ROOT, "api", "sandbox") == []


def test_contact_imports_nothing_of_ours():
    assert own_imports_of(ROOT, "connector.contact") == []


def test_a_handful_of_function_local_imports_each_saying_why():
    found, silent = local_imports(ROOT)
    assert len(found) <= HANDFUL, found
    assert silent == []


# ------------------------------------------------------------------ each rule can fail


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """A package that breaks every rule once."""
    pkg = tmp_path / "connector"
    for folder in ("api", "sandbox", "plan", "load", "report"):
        (pkg / folder).mkdir(parents=True)
    files = {
        "__init__.py": "",
        "cli.py": "",
        "contact.py": "from .errors import Oops\n",
        "errors.py": "class Oops(Exception):\n    pass\n",
        "plan/__init__.py": "from .model import Plan\n",
        "plan/model.py": "import requests\nfrom ..normalize import _secret\nfrom .. import cli\n"
                         "class Plan:\n    pass\n",
        "normalize.py": "def _secret():\n    from . import pipeline\n    return 1\n",
        "pipeline.py": "from .normalize import _secret\n",
        "load/__init__.py": "def run():\n    import json\n    from ..report import html\n",
        "report/__init__.py": "",
        "report/html.py": "from ..pipeline import x\n",
        "gadget.py": "",
        "api/__init__.py": "",
        "api/client.py": "from ..sandbox.store import Store\n",
        "sandbox/__init__.py": "",
        "sandbox/store.py": "class Store:\n    pass\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text, encoding="utf-8")
    return pkg


def test_each_rule_fails_when_broken(broken: Path):
    # normalize -> pipeline inside a function, pipeline -> normalize at the top
    assert circles(broken) == [["connector.normalize", "connector.pipeline"]]
    assert sorted(room_breaches(broken)) == [
        "connector.api.client (api) imports connector.sandbox.store.Store (sandbox)",
        "connector.gadget is in no room: add it to the table (docs/architecture.md)",
        "connector.load (load) imports connector.report.html (report)",
        "connector.normalize (normalize) imports connector.pipeline (pipeline)",
        "connector.plan.model (plan) imports connector.cli (cli)",
        "connector.report.html (report) imports connector.pipeline.x (pipeline)"]
    assert plan_imports(broken) == ["connector.plan.model: requests",
                                    "connector.plan.model: .."]
    assert sorted(private_names(broken)) == [
        "connector.pipeline imports _secret from connector.normalize",
        "connector.plan.model imports _secret from connector.normalize"]
    assert importers_of(broken, "connector.cli") == ["connector.plan.model"]
    assert importers_of(broken, "connector.pipeline") == ["connector.normalize",
                                                          "connector.report.html"]
    assert crossings(broken, "api", "sandbox") == [
        "connector.api.client imports connector.sandbox.store.Store"]
    assert own_imports_of(broken, "connector.contact") == ["connector.errors"]
    found, silent = local_imports(broken)
    assert found == ["connector.load:2", "connector.load:3", "connector.normalize:2"]
    assert silent == found
