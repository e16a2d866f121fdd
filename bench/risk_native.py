"""The risk rules compiled with mypyc against the same rules in CPython: the measurement behind
bench/RESULTS.md "The risk agent's first pass, fourth round" (mypyc was measured, not adopted).

    .venv/bin/python -m bench.risk_native [--modules projections/risk,...] [--keep DIR]
                                          [--rounds R] [--instructions] [--catch-up]

1. copies this checkout's tracked files (`git ls-files`, as they are on disk) to a temporary
   directory (or DIR): nothing is compiled or edited here, so no extension module is ever left
   beside a .py file of the checkout (Python would import it before the edited .py);
2. makes there the three edits mypyc needs, each checked to apply (`EDITS`);
3. compiles `--modules` with mypyc (`python -m mypyc`: gcc, Python's headers; its wall and CPU
   time printed);
4. runs `bench.risk_step --few-gcs` (the realistic mix, best of R, then `--mix every`) in the
   copy, compiled, and in this checkout, pure, alternately, and prints both; the md5s of the
   alerts and states must be the same (it fails otherwise);
5. with --instructions, the instructions of the step (valgrind's cachegrind, which a loaded
   machine does not move): 4,000 events over 80 contracts, seed 1, each mix, the same run
   without the fold subtracted;
6. with --catch-up, `bench.catch_up --sizes 200000 --only bare,risk` in the copy (its
   `ledger serve risk` imports the compiled rules: the processes start in its directory) and
   then here, back to back (Kafka and PostgreSQL of `make up`).
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = "projections/risk,projections/margin.py,projections/health.py"

_REGISTERED = re.compile(r"@_apply\.register\ndef \w+\(e: ev\.(\w+),")


def _import_registered(text: str) -> str:
    # mypyc compiles `functools.singledispatch` natively, and looks the type a handler is
    # registered for up by its bare name among the module's globals: `ev.MarkupProposed` fails
    # the import with KeyError 'MarkupProposed' unless the name is imported as well.
    names = sorted(set(_REGISTERED.findall(text)))
    anchor = "from events import catalogue as ev\n"
    return text.replace(anchor, f"{anchor}from events.catalogue import {', '.join(names)}\n", 1)


def _non_native(text: str) -> str:
    # A mypyc native class has no __dict__ and its own allocator: the state's `replace` (slot
    # setters, `object.__new__`), `_measured`'s in-place update and `Rates.of_checked` write
    # through them. Python classes whose methods are compiled keep those paths (as a native
    # class copied by `dataclasses.replace`, a copy took 3.9 µs instead of 0.45).
    text = re.sub(
        r"^@dataclass\(frozen=True(, slots=True)?\)\nclass (RiskState|ContractTerms|ReportedWeek|"
        r"AssignmentState|OpenRaiseRequest|MarkupCut|Contact|Rates)\b",
        r"@mypyc_attr(native_class=False)\n\g<0>",
        text,
        flags=re.MULTILINE,
    )
    future = "from __future__ import annotations\n"
    return text.replace(future, f"{future}\nfrom mypy_extensions import mypyc_attr\n", 1)


def _replacing(old: str, new: str) -> Callable[[str], str]:
    return lambda text: text.replace(old, new)


EDITS: dict[str, list[tuple[str, Callable[[str], str]]]] = {
    "projections/risk/state.py": [
        ("import the registered types by name", _import_registered),
        # Compiled, the registry maps types to ints (mypyc's own dispatch): call the function.
        (
            "dispatch through the compiled singledispatch",
            _replacing(
                "_apply.registry.get(type(event), _apply)(event, state)", "_apply(event, state)"
            ),
        ),
        ("state classes stay Python classes", _non_native),
    ],
    "projections/margin.py": [("Rates stays a Python class", _non_native)],
}


def _edit(copy: Path) -> None:
    for name, edits in EDITS.items():
        path = copy / name
        text = path.read_text()
        for what, edit in edits:
            edited = edit(text)
            if edited == text:
                sys.exit(
                    f"{name}: the edit '{what}' no longer applies; update bench/risk_native.py"
                )
            text = edited
        path.write_text(text)


def _copy(into: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.split(b"\0")
    for raw in files:
        if not raw:
            continue
        name = raw.decode()
        source = ROOT / name
        if not source.is_file() or name.startswith("web/"):
            continue
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    (into / "var" / "log").mkdir(parents=True, exist_ok=True)


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _compile(copy: Path, modules: list[str]) -> None:
    cpu, t0 = _children_cpu(), time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mypyc", *modules], cwd=copy, capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(f"mypyc failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    print(
        f"mypyc {' '.join(modules)}: {time.monotonic() - t0:.1f} s wall, "
        f"{_children_cpu() - cpu:.1f} s CPU"
    )
    where = subprocess.run(
        [sys.executable, "-c", "import projections.risk.state as s; print(s.__file__)"],
        cwd=copy, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    if not where.endswith(".so"):
        sys.exit(f"the copy imports {where}, not the compiled module")


def _step(cwd: Path, *args: str) -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.risk_step", "--few-gcs", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    found = dict(re.findall(r"^(judge|decode|alerts md5|states md5)\s+(\S+)", out, re.MULTILINE))
    return found


# The step over one seed's log, or (argv[2] "none") the same run without it.
_COUNTED = """
import gc, sys
gc.set_threshold(50_000, 20, 20)
from bench.risk_step import MIXES, step
from events.serialization import decode_event
from simulation.histories import generate
log = generate(4_000, 80, 1, False, MIXES[sys.argv[1]]).records
events = [decode_event(value) for _, value in log]
if sys.argv[2] == "step":
    step(events)
"""


def _instructions(cwd: Path, mix: str) -> float:
    """Instructions of the step an event: cachegrind's count with it, less without it."""

    def counted(what: str) -> int:
        out = subprocess.run(
            ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
             sys.executable, "-c", _COUNTED, mix, what],
            cwd=cwd, check=True, capture_output=True, text=True,
        ).stderr  # fmt: skip
        found = re.search(r"I\s+refs:\s+([\d,]+)", out)
        if found is None:
            sys.exit(f"no instruction count in valgrind's output:\n{out[-2000:]}")
        return int(found.group(1).replace(",", ""))

    return (counted("step") - counted("none")) / 4_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modules", default=MODULES, help="comma-separated, as mypyc takes them")
    parser.add_argument(
        "--keep", type=Path, help="build here (new or empty) and leave it (default: a temp dir)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instructions", action="store_true", help="count them (valgrind)")
    parser.add_argument("--catch-up", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="risk-native-") as tmp:
        copy = args.keep or Path(tmp)
        if args.keep and args.keep.exists() and any(args.keep.iterdir()):
            # mypyc's incremental build kept C generated before an edit here once: start empty.
            sys.exit(f"{args.keep} is not empty: --keep builds into a new or empty directory")
        _copy(copy)
        _edit(copy)
        _compile(copy, args.modules.split(","))
        for mix in ("realistic", "every"):
            extra = ["--mix", mix, "--rounds", str(args.rounds if mix == "realistic" else 1)]
            compiled, pure = _step(copy, *extra), _step(ROOT, *extra)
            print(
                f"{mix}: judge {compiled['judge']} µs compiled, {pure['judge']} µs pure "
                f"({float(pure['judge']) / float(compiled['judge']):.2f}x); decode "
                f"{compiled['decode']} / {pure['decode']} µs; alerts md5 {compiled['alerts md5']}, "
                f"states md5 {compiled['states md5']}"
            )
            for digest in ("alerts md5", "states md5"):
                if compiled[digest] != pure[digest]:
                    sys.exit(f"{mix}: {digest} differs: {compiled[digest]} against {pure[digest]}")
        if args.instructions:
            if shutil.which("valgrind") is None:
                sys.exit("--instructions needs valgrind (apt-get install valgrind)")
            for mix in ("realistic", "every"):
                compiled_i, pure_i = _instructions(copy, mix), _instructions(ROOT, mix)
                print(
                    f"{mix}: {compiled_i:,.0f} instructions/event compiled, {pure_i:,.0f} pure "
                    f"({pure_i / compiled_i:.2f}x)"
                )
        if args.catch_up:
            for where, cwd in (("compiled", copy), ("pure", ROOT)):
                out = subprocess.run(
                    [sys.executable, "-m", "bench.catch_up", "--sizes", "200000",
                     "--only", "bare,risk"],
                    cwd=cwd, check=True, capture_output=True, text=True,
                ).stdout  # fmt: skip
                for line in out.splitlines():
                    if "bare consumer:" in line or "first pass (bulk):" in line:
                        print(f"{where}: {line.strip()}")


if __name__ == "__main__":
    main()
