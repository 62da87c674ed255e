"""The package layout: our `fs` and `lxd` (not PyPI's), and imports that flow one way."""

import ast
from pathlib import Path

import fs
import lxd

ROOT = Path(__file__).resolve().parent.parent


def test_fs_and_lxd_are_this_repositorys_packages():
    assert Path(fs.__file__).resolve().parent == ROOT / "fs"
    assert Path(lxd.__file__).resolve().parent == ROOT / "lxd"


def imported_modules(package: str) -> set[str]:
    names = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
    return names


def test_lxd_imports_nothing_of_ours():
    assert not {
        name for name in imported_modules("lxd") if name.split(".")[0] in ("snakepit", "fs")
    }


def test_only_the_api_imports_quart():
    for path in (ROOT / "snakepit").rglob("*.py"):
        if "api" in path.relative_to(ROOT / "snakepit").parts:
            continue
        source = path.read_text()
        assert "import quart" not in source, path
        assert "from quart" not in source, path
