"""docs/configuration.md, written from the one Settings class (services/settings.py): each
setting's variable, default and the comment above it, so the reference cannot go stale.

    python -m services.settings_doc > docs/configuration.md

A unit test (tests/unit/test_settings_doc.py) fails when the committed page differs.
"""

from __future__ import annotations

import ast
import inspect
import re
from dataclasses import dataclass

from services import settings as settings_module

_SECRET_NOTE = "also read from the file named by `{name}_FILE`; never shown"


@dataclass(frozen=True)
class Setting:
    variable: str
    default: str
    why: str


def _variable(call: ast.Call) -> str | None:
    """The variable of an `env("NAME", ...)` call (services.settings.env)."""
    if not (isinstance(call.func, ast.Name) and call.func.id == "env" and call.args):
        return None
    first = call.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def _default(call: ast.Call, source: str) -> str:
    for kw in call.keywords:
        if kw.arg == "default_factory":
            text = ast.get_source_segment(source, kw.value) or ""
            return f"computed: `{' '.join(text.split())}`"
    if len(call.args) > 1:  # after the variable
        text = ast.get_source_segment(source, call.args[1]) or ""
        return f"`{' '.join(text.split())}`"
    return "(none)"


def settings() -> list[Setting]:
    source = inspect.getsource(settings_module)
    lines = source.splitlines()
    tree = ast.parse(source)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings")
    out: list[Setting] = []
    for node in cls.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.value, ast.Call)):
            continue
        variable = _variable(node.value)
        if variable is None:
            continue
        comment: list[str] = []
        i = node.lineno - 2
        while i >= 0 and lines[i].strip().startswith("#"):
            comment.insert(0, lines[i].strip().lstrip("#").strip())
            i -= 1
        why = " ".join(comment)
        if not why and out and lines[node.lineno - 2].strip():
            head = next(s.variable for s in reversed(out) if not s.why.startswith("with `"))
            why = f"with `{head}` above"
        if variable in settings_module.SECRETS:
            why = f"{why} ({_SECRET_NOTE.format(name=variable)})".strip()
        out.append(Setting(variable, _default(node.value, source), why))
    return out


def page() -> str:
    rows = [
        "| variable | default | what it does |",
        "|---|---|---|",
        *(
            f"| `{s.variable}` | {s.default} | {re.sub(r'[|]', '/', s.why) or '—'} |"
            for s in settings()
        ),
    ]
    return "\n".join(
        [
            "# Configuration",
            "",
            "Every setting of every process, read from the environment once, at start-up",
            "(`services/settings.py`). None is required: unset, the local stack's servers and",
            "these defaults are used. This page is written from that class",
            "(`python -m services.settings_doc > docs/configuration.md`); a test keeps it so.",
            "",
            *rows,
            "",
        ]
    )


if __name__ == "__main__":
    print(page(), end="")
