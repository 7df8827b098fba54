"""Sizes that show the design (STYLE.md): modules under 400 lines, functions under 60."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]
CODE = [*sorted((ROOT / "src").rglob("*.py")), *sorted((ROOT / "bench").rglob("*.py"))]
CODE += sorted((ROOT / "tests").rglob("*.py"))


def test_no_module_is_over_400_lines() -> None:
    lines = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in CODE}
    assert not {name: n for name, n in lines.items() if n > 400}


def test_no_function_is_over_60_lines() -> None:
    long: dict[str, int] = {}
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > 60:
                    long[f"{path.relative_to(ROOT)}:{node.name}"] = lines
    assert not long
