"""The production package stands alone: nothing under ``server/`` imports the emulators or the demo.

Read from the source (an AST walk over every module), so an import inside a function, under
``TYPE_CHECKING`` or through ``importlib.import_module("...")`` counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "server"
FORBIDDEN = {"emulators", "demo"}


def forbidden_imports(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """``(line, module)`` of every import of a ``FORBIDDEN`` package (or a module inside one) in ``source``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in ("import_module", "__import__"):
                names = [node.args[0].value]
        found += [(node.lineno, name) for name in names if name.split(".")[0] in FORBIDDEN]
    return found


def test_the_checker_sees_every_kind_of_import():
    source = "\n".join([
        "import emulators.trello",
        "from emulators.common import serve_in_thread",
        "import demo",
        "from demo.world import DemoWorld",
        "def f():",
        "    import importlib",
        "    importlib.import_module('emulators.sheets')",
        "    __import__('demo.run')",
        "from . import demonstration",
        "from .emulators import x",
        "import emulatorsx, server.demo_text",
    ])
    assert forbidden_imports(source) == [
        (1, "emulators.trello"), (2, "emulators.common"), (3, "demo"), (4, "demo.world"),
        (7, "emulators.sheets"), (8, "demo.run")]


def test_server_never_imports_the_emulators_or_the_demo():
    modules = sorted(SERVER.rglob("*.py"))
    assert len(modules) > 50, "the server package was not found"
    offenders = [f"{path.relative_to(ROOT)}:{line} imports {name}"
                 for path in modules for line, name in forbidden_imports(path.read_text(), str(path))]
    assert offenders == []
