"""The core stays pure: `events/`, `projections/`, `writemodel/` and `imports/` import no Kafka,
PostgreSQL, HTTP or `services/`, and never read the clock (`now` is passed in). A plain ast walk
over their sources, so that the import that would break it fails here, named with its line.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ("events", "projections", "writemodel", "imports")

# Top-level modules the core must not import: the shell's transports and the shell itself.
FORBIDDEN = frozenset(
    {
        "aiokafka", "kafka", "faust", "mode",  # Kafka
        "asyncpg", "psycopg", "psycopg2",  # PostgreSQL
        "fastapi", "starlette", "httpx", "requests", "aiohttp", "urllib3",  # HTTP
        "time",  # the clock (and sleeping)
        "services",  # the shell
    }
)  # fmt: skip

# The one stated exception: the partition of a key must be the one the Kafka client's producer
# picks, so `events/topics.py` calls the client's own murmur2 rather than a copy that could drift.
ALLOWED = frozenset({("events/topics.py", "aiokafka.partitioner")})

# Reading the clock: `datetime.now()`, `datetime.utcnow()`, `date.today()` (however imported).
CLOCK_READS = frozenset({"now", "utcnow", "today"})
CLOCK_OWNERS = frozenset({"datetime", "date"})


def _absolute_imports(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules an import statement names; a relative import names none outside the tree."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return [node.module] if node.level == 0 and node.module else []


def violations(source: str, path: str) -> list[str]:
    """What in `source` (the file at `path`, relative to the repository) breaks the core's rule."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, path)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for module in _absolute_imports(node):
                if module.split(".")[0] in FORBIDDEN and (path, module) not in ALLOWED:
                    found.append((node.lineno, f"{path}:{node.lineno} imports {module}"))
        if (
            isinstance(node, ast.Attribute)
            and node.attr in CLOCK_READS
            and _name_of(node.value) in CLOCK_OWNERS
        ):
            clock = f"{_name_of(node.value)}.{node.attr}"
            found.append((node.lineno, f"{path}:{node.lineno} reads the clock ({clock})"))
    return [message for _, message in sorted(found)]


def _name_of(node: ast.expr) -> str | None:
    """`datetime` for `datetime` and `dt.datetime`; None for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def core_sources() -> list[Path]:
    return sorted(p for package in CORE for p in (ROOT / package).rglob("*.py"))


def test_the_core_imports_no_transport_no_shell_and_reads_no_clock() -> None:
    sources = core_sources()
    assert len(sources) > 50  # the walk found the packages
    found = [v for p in sources for v in violations(p.read_text(), p.relative_to(ROOT).as_posix())]
    assert found == []


def test_the_check_fails_on_each_kind_of_breach() -> None:
    # What a careless edit to a core module would add: each line is caught, with its line.
    source = "\n".join(
        [
            "from datetime import date, datetime",
            "import datetime as dt",
            "import asyncpg",
            "from aiokafka import AIOKafkaProducer",
            "from fastapi import Request",
            "import httpx.client",
            "from services.settings import Settings",
            "from time import monotonic",
            "now = datetime.now()",
            "today = date.today()",
            "then = dt.datetime.utcnow()",
            "from aiokafka.partitioner import murmur2",
        ]
    )
    assert violations(source, "projections/example.py") == [
        "projections/example.py:3 imports asyncpg",
        "projections/example.py:4 imports aiokafka",
        "projections/example.py:5 imports fastapi",
        "projections/example.py:6 imports httpx.client",
        "projections/example.py:7 imports services.settings",
        "projections/example.py:8 imports time",
        "projections/example.py:9 reads the clock (datetime.now)",
        "projections/example.py:10 reads the clock (date.today)",
        "projections/example.py:11 reads the clock (datetime.utcnow)",
        "projections/example.py:12 imports aiokafka.partitioner",
    ]
    # The stated exception holds for topics.py alone; relative imports stay inside a package.
    assert violations("from aiokafka.partitioner import murmur2", "events/topics.py") == []
    assert violations("from . import state\nfrom .time import x", "writemodel/x.py") == []
    # A date passed in, or a field named `now`, is no clock read.
    assert violations("def f(now):\n    return now.date(), event.now", "events/x.py") == []
