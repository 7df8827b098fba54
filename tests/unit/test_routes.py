"""The shape of the REST layer (issue 15): one module per resource under
`web/routes/`, each a `Routes` list of small module-level handlers, all served."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

from trichat.web import rest
from trichat.web.api import Routes

WEB = Path(rest.__file__).parent
ROUTE_MODULES = sorted(p for p in (WEB / "routes").glob("*.py") if p.stem != "__init__")


def test_every_web_function_is_small() -> None:
    for path in sorted(WEB.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                length = node.end_lineno - node.lineno + 1
                where = f"{path.relative_to(WEB)}:{node.lineno} {node.name}"
                assert length < 60, f"{where} is {length} lines"


def test_every_resource_module_is_served() -> None:
    declared = []
    for path in ROUTE_MODULES:
        module = importlib.import_module(f"trichat.web.routes.{path.stem}")
        routes = getattr(module, "routes", None)
        if isinstance(routes, Routes):
            assert routes in rest.RESOURCES, f"{path.name} is not in rest.RESOURCES"
            declared.append(routes)
    assert len(declared) == len(rest.RESOURCES) >= 5


def test_handlers_are_module_functions_given_the_service() -> None:
    names = []
    for routes in rest.RESOURCES:
        for route in routes.routes:
            handler = route.handler
            assert "<locals>" not in handler.__qualname__, handler.__qualname__
            params = list(inspect.signature(handler).parameters)
            assert params[:2] == ["chat", "who"], (handler.__name__, params)
            names.append(handler.__name__)
    assert len(names) == len(set(names))  # an operationId each
