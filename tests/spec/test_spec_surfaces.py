"""Drift tests: every spec operation has every surface, and no hand-written file restates a
spec fact.

1. Each operation of openapi.yaml (`sharkapi_spec.OPERATIONS`) needs a client method on both
   twins (`sharkapi_ext._operations.CLIENT_METHODS`), a CLI command
   (`sharkapi_ext.cli._fields.OPERATION_COMMANDS`), a sandbox route with the same method and
   path, and pricing (`x-sharkapi-paid`, and a priced `mode` when paid). The failure names
   each missing surface of each operation.
2. A literal in sharkapi_ext/ or scripts/ that equals a distinctive spec fact (a limit, a
   mode, a price, the poll interval or the 503 wait where they are meant) fails, naming the
   file, line and the fact to import instead.
"""

from __future__ import annotations

import ast
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click
import sharkapi_spec as spec
from starlette.routing import Route

from sharkapi_ext import AsyncSharkAPI, SharkAPI
from sharkapi_ext._operations import CLIENT_METHODS
from sharkapi_ext.cli import cli
from sharkapi_ext.cli._fields import OPERATION_COMMANDS
from sharkapi_ext.sandbox import create_app

ROOT = Path(__file__).resolve().parents[2]


def missing_surfaces() -> list[str]:
    """One line per operation that lacks a surface, naming each one missing."""
    routes = {
        (method, route.path)
        for route in create_app().routes
        if isinstance(route, Route)
        for method in route.methods or ()
    }
    problems = []
    for op_id, op in spec.OPERATIONS.items():
        missing = []
        methods = CLIENT_METHODS.get(op_id, ())
        if not methods or not all(
            hasattr(SharkAPI, name) and hasattr(AsyncSharkAPI, name) for name in methods
        ):
            missing.append(
                "client method (sharkapi_ext/_operations.py CLIENT_METHODS; until then "
                f"client.call({op_id!r}, ...) runs it)"
            )
        if OPERATION_COMMANDS.get(op_id) not in cli.list_commands(click.Context(cli)):
            missing.append("CLI command (sharkapi_ext/cli/_fields.py OPERATION_COMMANDS)")
        if (op["method"], op["path"]) not in routes:
            missing.append(f"sandbox route ({op['method']} {op['path']} in sandbox/_app.py)")
        if op["paid"] and not _priced_by_mode(op):
            missing.append(
                "pricing (a paid operation needs a `mode` the spec prices; contract-test "
                "charges it the highest price meanwhile)"
            )
        if missing:
            problems.append(
                f"operation {op_id} ({op['method']} {op['path']}) has no " + "; no ".join(missing)
            )
    return problems


def _priced_by_mode(op: spec.OperationFacts) -> bool:
    if op["request_schema"] != "GenerateRequest":
        return False
    mode = spec.GENERATE_REQUEST_SCHEMA["properties"].get("mode", {})
    return set(mode.get("enum", ())) <= set(spec.MODE_PRICES)


def test_every_operation_has_every_surface() -> None:
    problems = missing_surfaces()
    assert not problems, "\n".join(problems)


# -- restated facts ------------------------------------------------------------------------


#: Facts that are distinctive wherever they appear: any equal literal restates them.
def _distinctive() -> dict[object, str]:
    facts: dict[object, str] = {
        spec.SUCCESS_STATUS: "SUCCESS_STATUS",
        spec.IMAGE_MAX_BYTES: "IMAGE_MAX_BYTES",
        spec.IMAGE_MAX_BASE64_LENGTH: "IMAGE_MAX_BASE64_LENGTH",
        spec.IMAGE_BASE64_PATTERN: "IMAGE_BASE64_PATTERN",
        spec.JOB_ID_PATTERN: "JOB_ID_PATTERN",
        spec.JOB_ID_PATTERN.strip("^$"): "JOB_ID_PATTERN",
    }
    for mode in spec.MODES:
        facts[mode] = f"MODES / DEFAULT_MODE ({mode!r})"
    for mode, price in spec.MODE_PRICES.items():
        facts[f"${price}"] = f"MODE_PRICES[{mode!r}]"
        facts[str(price)] = f"MODE_PRICES[{mode!r}]"
    return facts


#: Facts that are plain numbers: a literal restates them only where a name says so.
CONTEXTUAL = {
    "prompt": (spec.PROMPT_MAX_LENGTH, "PROMPT_MAX_LENGTH"),
    "char": (spec.PROMPT_MAX_LENGTH, "PROMPT_MAX_LENGTH"),
    "poll": (spec.POLL_INTERVAL_SECONDS, "POLL_INTERVAL_SECONDS"),
    "retry_after": (spec.SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS, "SERVICE_UNAVAILABLE_..."),
    "503": (spec.SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS, "SERVICE_UNAVAILABLE_..."),
    "strength": (spec.IMAGE_STRENGTH_DEFAULT, "IMAGE_STRENGTH_DEFAULT"),
    "price": (None, "MODE_PRICES"),
}


def _python_files() -> list[Path]:
    files = sorted((ROOT / "sharkapi_ext").rglob("*.py"))
    for path in sorted((ROOT / "scripts").iterdir()):
        if path.is_file() and path.read_text(encoding="utf-8", errors="replace").startswith(
            "#!/usr/bin/env python"
        ):
            files.append(path)
    return files


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
        if isinstance(node, ast.JoinedStr):  # message text, not a fact in use
            ids.update(id(v) for v in node.values if isinstance(v, ast.Constant))
    return ids


def _context_names(tree: ast.AST) -> dict[int, str]:
    """For each constant, the names it is bound to: target, keyword, parameter, call."""
    names: dict[int, str] = {}

    def mark(value: ast.AST | None, name: str) -> None:
        if value is not None:
            for sub in ast.walk(value):
                if isinstance(sub, ast.Constant):
                    names[id(sub)] = names.get(id(sub), "") + " " + name.lower()

    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            mark(node.value, " ".join(ast.unparse(t) for t in targets))
        elif isinstance(node, ast.keyword) and node.arg:
            mark(node.value, node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            positional = args.posonlyargs + args.args
            for arg, default in zip(positional[::-1], args.defaults[::-1], strict=False):
                mark(default, arg.arg)
            for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
                mark(default, arg.arg)
        elif isinstance(node, ast.Call):
            for arg in node.args:
                mark(arg, ast.unparse(node.func))
        elif isinstance(node, ast.Compare):
            mark(node, ast.unparse(node.left))
    return names


def _as_decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return Decimal(str(value).removeprefix("$"))
    except InvalidOperation:
        return None


def restated_facts() -> list[str]:
    found = []
    for path in _python_files():
        where = path.relative_to(ROOT)
        found += scan_source(path.read_text(encoding="utf-8"), str(where))
    return found


def scan_source(text: str, where: str) -> list[str]:
    """The literals in one Python source that restate a spec fact."""
    distinctive = _distinctive()
    prices = {Decimal(p) for p in spec.MODE_PRICES.values()}
    found = []
    tree = ast.parse(text, where)
    skip = _docstrings(tree)
    context = _context_names(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or id(node) in skip:
            continue
        value = node.value
        if isinstance(value, bool) or value is None:
            continue
        fact = None
        if isinstance(value, str | int) and value in distinctive and value != "":
            fact = distinctive[value]
        names = context.get(id(node), "")
        for word, (number, name) in CONTEXTUAL.items():
            if fact is None and word in names:
                if number is None:
                    if _as_decimal(value) in prices:
                        fact = name
                elif isinstance(value, int | float) and float(value) == number:
                    fact = name
        if fact is not None:
            found.append(f"{where}:{node.lineno}: {value!r} restates sharkapi_spec.{fact}")
    return found


def test_no_hand_written_literal_restates_a_spec_fact() -> None:
    found = restated_facts()
    assert not found, "import these from sharkapi_spec instead:\n" + "\n".join(found)


WAIT_503, PROMPT_MAX = spec.SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS, spec.PROMPT_MAX_LENGTH
RESTATED = f"""
MAX_PROMPT_CHARS = {spec.PROMPT_MAX_LENGTH}
def submit(prompt, mode={spec.DEFAULT_MODE!r}, poll_interval: float = {spec.POLL_INTERVAL_SECONDS}):
    if len(prompt) > {spec.PROMPT_MAX_LENGTH}:
        raise ValueError("too long")
    if status == {spec.SUCCESS_STATUS!r}:
        return
DEFAULT_503_RETRY_AFTER = {spec.SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS}
PRICE_1K = Decimal({str(spec.MODE_PRICES[spec.DEFAULT_MODE])!r})
MAX_IMAGE_BYTES = {spec.IMAGE_MAX_BYTES}
"""
FINE = f"""
def request(timeout: float = {WAIT_503}, calls={PROMPT_MAX}):
    print(err[-{PROMPT_MAX}:], f"mode {{mode}} is not {spec.DEFAULT_MODE}")
"""


def test_the_scanner_finds_restated_facts_and_spares_look_alikes() -> None:
    found = scan_source(RESTATED, "example.py")
    lines = sorted(int(f.split(":")[1]) for f in found)
    assert lines == [2, 3, 3, 4, 6, 8, 9, 10], found
    assert scan_source(FINE, "fine.py") == []
