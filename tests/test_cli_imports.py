"""The CLI is one package that builds its parser without the heavy modules, and that nothing
else in hipsense imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import hipsense
from hipsense.cli.args import FILTER_NAMES
from hipsense.fusion import FILTERS

SRC = Path(hipsense.__file__).resolve().parent
HEAVY = {"fastapi", "uvicorn", "scipy", "bumble", "bleak", "hipsim"}


def test_building_the_parser_imports_no_heavy_module() -> None:
    code = (
        "import sys; from hipsense.cli import build_parser; build_parser(); "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(HEAVY)!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout


def _package_of(path: Path) -> str:
    """The package a module of ``src/hipsense`` is in (a package's ``__init__``: itself)."""
    parts = ("hipsense", *path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1])


def imported_modules(source: str, package: str) -> list[str]:
    """Absolute names of what ``source`` (of a module in ``package``) imports, relative
    imports resolved: each module, and each ``module.name`` of a ``from`` import."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([module] if module else [])])
            names.append(module)
            names.extend(f"{module}.{alias.name}" for alias in node.names)
    return names


def _is_cli(name: str) -> bool:
    return name == "hipsense.cli" or name.startswith("hipsense.cli.")


def test_nothing_outside_the_cli_package_imports_it() -> None:
    cli = SRC / "cli"
    offenders = [
        f"{path.relative_to(SRC)}: {name}"
        for path in sorted(SRC.rglob("*.py"))
        if cli not in path.parents
        for name in imported_modules(path.read_text(encoding="utf-8"), _package_of(path))
        if _is_cli(name)
    ]
    assert offenders == []


def test_the_scan_sees_absolute_and_relative_imports() -> None:
    assert _package_of(SRC / "api" / "server.py") == "hipsense.api"
    assert _package_of(SRC / "cli" / "__init__.py") == "hipsense.cli"
    for source in (
        "import hipsense.cli",
        "from hipsense.cli.args import placement_arg",
        "from hipsense import cli",
        "from .. import cli",
        "from ..cli import main",
        "from ..cli.serve import make_source",
    ):
        assert any(_is_cli(n) for n in imported_modules(source, "hipsense.api")), source
    for source in ("from . import client", "import hipsense.clinic", "from .cli import x"):
        assert not any(_is_cli(n) for n in imported_modules(source, "hipsense.api")), source


def test_filter_choices_are_the_filters() -> None:
    assert tuple(sorted(FILTERS)) == FILTER_NAMES
