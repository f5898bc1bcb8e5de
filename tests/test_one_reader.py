"""One reader per input format and one copy of each shared helper (the issue's "duplicates" list):
a second implementation would let two commands read the same file differently again."""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "markupeval").rglob("*.py")) + sorted((ROOT / "baselines").rglob("*.py"))

#: helper -> the one module that may implement it
ONE_HOME = {
    "read_lines": "markupeval/textfiles.py",
    "read_formulas": "markupeval/textfiles.py",
    "read_names": "markupeval/textfiles.py",
    "read_split_list": "markupeval/textfiles.py",
    "image_key": "markupeval/textfiles.py",
    "load_grayscale": "markupeval/images/io.py",
    "diff_picture": "markupeval/images/diff.py",
    "bucket_batches": "markupeval/data/batches.py",
}
#: same-named wrappers kept for their callers; each must call the shared function
WRAPPERS = {("baselines/common/data.py", "bucket_batches"): "shared_bucket_batches",
            ("markupeval/data/reader.py", "bucket_batches"): "bucket_batches"}


@lru_cache(maxsize=None)
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _functions() -> list[tuple[str, ast.FunctionDef]]:
    out = []
    for path in SOURCES:
        tree = _tree(path)
        out.extend((str(path.relative_to(ROOT)), node) for node in ast.walk(tree) if isinstance(node, ast.FunctionDef))
    return out


@pytest.mark.parametrize("name", sorted(ONE_HOME))
def test_each_reader_and_helper_is_implemented_once(name: str) -> None:
    defs = [(path, node) for path, node in _functions() if node.name == name]
    homes = [path for path, _ in defs if path == ONE_HOME[name]]
    assert homes == [ONE_HOME[name]]
    for path, node in defs:
        if path == ONE_HOME[name]:
            continue
        called = {n.func.id if isinstance(n.func, ast.Name) else getattr(n.func, "attr", "")
                  for n in ast.walk(node) if isinstance(n, ast.Call)}
        assert (path, name) in WRAPPERS and WRAPPERS[(path, name)] in called, f"{path} implements {name} again"


def test_images_are_decoded_to_grayscale_in_one_place() -> None:
    # PIL's convert("L") is how the protocol reads an image; anywhere else it is a second reader.
    for path in SOURCES:
        for node in ast.walk(_tree(path)):
            if (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "convert" and node.args
                    and isinstance(node.args[0], ast.Constant) and node.args[0].value == "L"):
                assert path.relative_to(ROOT).as_posix() == "markupeval/images/io.py", f"{path}:{node.lineno}"
