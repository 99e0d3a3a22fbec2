"""Rules of the package's shape, read from its imports with `ast` (no module is run).

In force now:
- no name starting with `_` is imported from another module (dunders aside): the
  comparison rules live in `normalize`, under public names, for every room that
  needs them;
- nothing imports `cli`;
- `api/` never imports `sandbox/`, and the reverse (the sandbox shares no code with
  the client, so it can catch the client's mistakes);
- `contact` imports nothing of ours.

Each rule is also run on a small synthetic package that breaks it, to show that it
fails when broken. (The rest of the layout's rules, no import circle and a pure
`plan/`, come with the move of the stages into rooms of their own.)
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


# ------------------------------------------------------------------ the package


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
        "plan.py": "from .normalize import _secret\nfrom . import cli\n",
        "normalize.py": "def _secret():\n    return 1\n",
        "api/__init__.py": "",
        "api/client.py": "from ..sandbox.store import Store\n",
        "sandbox/__init__.py": "",
        "sandbox/store.py": "class Store:\n    pass\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text, encoding="utf-8")
    return pkg


def test_each_rule_fails_when_broken(broken: Path):
    assert private_names(broken) == ["connector.plan imports _secret from connector.normalize"]
    assert importers_of(broken, "connector.cli") == ["connector.plan"]
    assert crossings(broken, "api", "sandbox") == [
        "connector.api.client imports connector.sandbox.store.Store"]
    assert own_imports_of(broken, "connector.contact") == ["connector.errors"]
