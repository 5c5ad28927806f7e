"""The rules of the test suite itself (the marks are checked at collection, in conftest.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

TESTS = Path(__file__).resolve().parent


def test_no_test_imports_conftest() -> None:
    """What tests share besides fixtures lives in `tests/helpers/` (`from helpers.configs import ...`):
    conftest.py is pytest's, and a test importing it loads it a second time under another name."""
    wrong = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any(name.split(".")[0] == "conftest" for name in names):
                wrong.append(f"{path.relative_to(TESTS)}:{node.lineno}")
    assert not wrong, f"conftest imported at {wrong}"
