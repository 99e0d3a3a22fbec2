"""Rules of the package's shape, read from its imports with `ast` (no module is run).

In force now:
- no import circle among the package's modules (function-local imports count: a
  circle dodged by importing inside a function is still a circle);
- the plan imports nothing of ours but `contact` and `normalize`, and of the rest
  only the standard library, pandas and numpy: it stays a pure value;
- no name starting with `_` is imported from another module (dunders aside): the
  comparison rules live in `normalize`, under public names, for every room that
  needs them;
- nothing imports `cli`;
- `api/` never imports `sandbox/`, and the reverse (the sandbox shares no code with
  the client, so it can catch the client's mistakes);
- `contact` imports nothing of ours.

Each rule is also run on a small synthetic package that breaks it, to show that it
fails when broken. (The rest of the layout's rules come with the move of the stages
into rooms of their own.)
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "connector"


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


def private_names(root: Path) -> list[str]:
    return [f"{mod} imports {name} from {target}" for mod, target, name in imports(root)
            if name.startswith("_") and not name.startswith("__")]


def importers_of(root: Path, module: str) -> list[str]:
    return sorted({mod for mod, target, name in imports(root)
                   if module in (target, f"{target}.{name}") and mod != module})


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


PLAN_MAY_IMPORT = {"__future__", "collections", "copy", "dataclasses", "json", "math", "re",
                   "typing", "numpy", "pandas", "functools", "itertools"}


def plan_imports(root: Path, module: str) -> list[str]:
    """What `module` imports that a pure plan may not: our modules but contact and
    normalize, and third-party or I/O modules."""
    path = dict(modules(root))[module]
    bad = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                if node.module not in ("contact", "normalize"):
                    bad.append(f".{node.module or ''}")
                continue
            names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        bad.extend(n for n in names if n.split(".")[0] not in PLAN_MAY_IMPORT)
    return bad


# ------------------------------------------------------------------ the package


def test_no_import_circle():
    assert circles(ROOT) == []


def test_the_plan_imports_only_contact_normalize_and_pure_libraries():
    assert plan_imports(ROOT, "connector.plan") == []


def test_no_private_name_crosses_a_module():
    assert private_names(ROOT) == []


def test_nothing_imports_the_cli():
    assert importers_of(ROOT, "connector.cli") == []


def test_the_client_and_the_sandbox_share_no_code():
    assert crossings(ROOT, "api", "sandbox") == []


def test_contact_imports_nothing_of_ours():
    assert own_imports_of(ROOT, "connector.contact") == []


# ------------------------------------------------------------------ each rule can fail


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """A package that breaks every rule once."""
    pkg = tmp_path / "connector"
    (pkg / "api").mkdir(parents=True)
    (pkg / "sandbox").mkdir()
    files = {
        "__init__.py": "",
        "cli.py": "",
        "contact.py": "from .errors import Oops\n",
        "errors.py": "class Oops(Exception):\n    pass\n",
        "plan.py": "import requests\nfrom .normalize import _secret\nfrom . import cli\n",
        "normalize.py": "def _secret():\n    from . import pipeline\n    return 1\n",
        "pipeline.py": "from .normalize import _secret\n",
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
    assert plan_imports(broken, "connector.plan") == ["requests", "."]
    assert sorted(private_names(broken)) == [
        "connector.pipeline imports _secret from connector.normalize",
        "connector.plan imports _secret from connector.normalize"]
    assert importers_of(broken, "connector.cli") == ["connector.plan"]
    assert crossings(broken, "api", "sandbox") == [
        "connector.api.client imports connector.sandbox.store.Store"]
    assert own_imports_of(broken, "connector.contact") == ["connector.errors"]
