"""Bullhorn-shaped placement exports, made up: the committed fixture of the import's tests
(`tests/fixtures/bullhorn_placements.csv`) and the import benchmark's files.

The columns are those of Bullhorn's data loader placement file (`examples/load/Placement.csv`
of bullhorn/dataloader: `candidate.externalID`, `clientBillRate`, `clientOvertimeRate`,
`payRate`, `overtimeRate`, `markUpPercentage`, `overtimeMarkUpPercentage`, `dateBegin`,
`dateEnd`, `dateEffective`, `employmentType`, `status`, `hoursPerDay`, `otExemption`,
`terminationReason`, `customText1`, dates written `8/17/2016 0:00`), plus the read-only
columns a Bullhorn REST export of Placement adds (`id`, `clientCorporation.name`,
`candidate.firstName`/`lastName`, `jobOrder.title`).

    python -m simulation.bullhorn --rows 1000 --seed 24 --bad \
        > tests/fixtures/bullhorn_placements.csv

A placement is one row; some have later rate rows (same `id`, later `dateEffective`), some end
(their last row `Completed` or `Terminated`). The first rows are hand-written ones whose
figures the tests check by hand (`GOLDEN`); `--bad` adds a few rows each import must refuse or
warn about (`BAD`), at fixed places.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Final, TextIO

HEADER: Final = (
    "id",
    "customText1",
    "candidate.externalID",
    "candidate.firstName",
    "candidate.lastName",
    "clientCorporation.name",
    "jobOrder.externalID",
    "jobOrder.title",
    "clientBillRate",
    "clientOvertimeRate",
    "payRate",
    "overtimeRate",
    "markUpPercentage",
    "overtimeMarkUpPercentage",
    "dateBegin",
    "dateEnd",
    "dateEffective",
    "employmentType",
    "status",
    "hoursPerDay",
    "otExemption",
    "terminationReason",
)

AS_OF: Final = date(2026, 12, 1)
"""The fixture's mapping pins this as_of: the figures the tests check are as of it."""

CLIENTS: Final = tuple(f"Client {n:02d}" for n in range(1, 21))
TITLES: Final = ("Welder", "Forklift Operator", "Nurse", "Accountant", "Developer", "Driver")
FIRST: Final = ("Ann", "Bob", "Chloé", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun")
LAST: Final = ("Lee", "Smith", "Núñez", "Patel", "Kim", "Olsen", "Ruiz", "Khan", "Berg", "Wu")


def us_date(d: date) -> str:
    return f"{d.month}/{d.day}/{d.year} 0:00"


def row(
    pid: str,
    client: str,
    pay: str,
    bill: str,
    begin: date,
    end: date,
    status: str = "Approved",
    effective: date | None = None,
    markup: str = "",
    first: str = "Ann",
    last: str = "Lee",
    hours_per_day: str = "8",
    ot: tuple[str, str, str, str] = ("", "", "", ""),
    kind: str = "Contract",
    termination: str = "",
) -> list[str]:
    """One placement row. `effective` (`dateEffective`): when its rates take effect; a
    placement's first row is effective from its begin date, the default."""
    ot_bill, ot_pay, ot_markup, exempt = ot
    return [
        pid,
        f"ext-{pid}",
        f"cand-{pid}",
        first,
        last,
        client,
        f"jo-{pid}",
        "Welder",
        bill,
        ot_bill,
        pay,
        ot_pay,
        markup,
        ot_markup,
        us_date(begin),
        us_date(end),
        us_date(effective or begin),
        kind,
        status,
        hours_per_day,
        exempt,
        termination,
    ]


D = date
GOLDEN: Final = (
    # G1: 45 − 30 × 1.20 = 9.00 an hour, 40 hours: 360.00 a week (Client 01: burden 20 %).
    row("G1", "Client 01", "30.00", "45.00", D(2026, 1, 5), D(2027, 6, 30)),
    # G2: 25/40, then 27/42 from 2026-06-01: 42 − 27 × 1.20 = 9.60 an hour, 384.00 a week.
    row("G2", "Client 01", "25.00", "40.00", D(2026, 2, 2), D(2027, 2, 1)),
    # G3: ended (Completed) on 2026-09-30: not active on the as-of day.
    row("G3", "Client 01", "20.00", "30.00", D(2026, 3, 2), D(2026, 9, 30), status="Completed"),
    # G4: 44 − 40 × 1.20 = −4.00 an hour, −160.00 a week: loss-making (bill under burden).
    row("G4", "Client 01", "40.00", "44.00", D(2026, 4, 6), D(2027, 4, 5)),
    # G5: a markup only: 20 × 1.50 = 30.00 billed; 30 − 24 = 6.00 an hour, 6 hours a day × 5:
    # 180.00 a week.
    row(
        "G5", "Client 01", "20.00", "", D(2026, 5, 4), D(2027, 5, 3), markup="50", hours_per_day="6"
    ),
)
GOLDEN_LATER: Final = (
    row("G2", "Client 01", "27.00", "42.00", D(2026, 2, 2), D(2027, 2, 1), effective=D(2026, 6, 1)),
)


def _with(cells: list[str], column: str, value: str) -> list[str]:
    out = list(cells)
    out[HEADER.index(column)] = value
    return out


BAD: Final = (
    # An unparseable date, an unparseable number, a client the mapping does not know, an end
    # before its start, a duplicated row (a warning), a name a spreadsheet would run (kept as
    # text), a rate row out of date order.
    _with(
        row("B1", "Client 02", "30.00", "45.00", D(2026, 1, 5), D(2027, 1, 4)),
        "dateBegin",
        "31/1/2026 0:00",
    ),
    row("B2", "Client 02", "30,00", "4O.00", D(2026, 1, 5), D(2027, 1, 4)),
    row("B3", "Acme Unknown", "30.00", "45.00", D(2026, 1, 5), D(2027, 1, 4)),
    row("B4", "Client 02", "30.00", "45.00", D(2026, 6, 1), D(2026, 1, 4)),
    row("B5", "Client 02", "30.00", "45.00", D(2026, 1, 5), D(2027, 1, 4)),
    row("B5", "Client 02", "30.00", "45.00", D(2026, 1, 5), D(2027, 1, 4)),
    row(
        "B6",
        "Client 02",
        "30.00",
        "45.00",
        D(2026, 1, 5),
        D(2027, 1, 4),
        first='=HYPERLINK("http://x","y")',
        last="Doe",
    ),
    row("B7", "Client 02", "30.00", "45.00", D(2026, 3, 2), D(2027, 1, 4)),
    row("B7", "Client 02", "31.00", "46.00", D(2026, 3, 2), D(2027, 1, 4), effective=D(2026, 2, 2)),
)


def _money(x: Decimal) -> str:
    return str(x.quantize(Decimal("0.01")))


def placements(
    rows: int,
    seed: int,
    bad: bool = False,
    start: int = 1,
    changes: int = 0,
    clients: int = len(CLIENTS),
) -> Iterator[list[str]]:
    """`rows` data rows: the golden ones, then made-up placements with some later rate rows
    and ends, then (with `bad`) the bad ones in the middle. Deterministic for a seed.
    `changes` 0: one placement in five has one later rate row; else each has 1 to `changes`.
    `clients`: how many clients the placements are spread over."""
    rng = random.Random(seed)
    fixed = list(GOLDEN) + list(GOLDEN_LATER)
    bad_rows = list(BAD) if bad else []
    yield from fixed
    made = len(fixed) + len(bad_rows)
    later: list[list[str]] = []  # rate rows of placements already written, written further on
    n = start
    while made < rows:
        if bad_rows and made >= rows // 2:
            yield from bad_rows
            bad_rows = []
            continue
        if later and (rng.random() < 0.15 or made + len(later) >= rows):
            yield later.pop(0)
            made += 1
            continue
        pid = f"P{n:07d}"
        n += 1
        client = (
            CLIENTS[rng.randrange(len(CLIENTS))]
            if clients == len(CLIENTS)
            else (f"Client {rng.randrange(clients) + 1:04d}")
        )
        pay = Decimal(rng.randrange(1500, 6000)) / 100
        markup = Decimal(rng.randrange(10, 80))
        bill = pay * (1 + markup / 100)
        begin = date(2025, 1, 6) + timedelta(days=rng.randrange(0, 600))
        end = begin + timedelta(weeks=rng.randrange(13, 79))
        ended = end < AS_OF and rng.random() < 0.6
        status = rng.choice(("Completed", "Terminated")) if ended else "Approved"
        termination = "Client ended the assignment" if status == "Terminated" else ""
        ot = ("", "", "", "1")
        if rng.random() < 0.7:
            ot = (_money(bill * Decimal("1.5")), _money(pay * Decimal("1.5")), str(markup), "0")
        base: dict[str, Any] = dict(
            first=rng.choice(FIRST),
            last=rng.choice(LAST),
            ot=ot,
            hours_per_day=rng.choice(("8", "8", "8", "7.5", "6")),
        )
        count = rng.randint(1, changes) if changes else (1 if rng.random() < 0.2 else 0)
        first_status = "Approved" if count else status
        yield row(
            pid,
            client,
            _money(pay),
            _money(bill),
            begin,
            end,
            status=first_status,
            termination="" if count else termination,
            **base,
        )
        made += 1
        for k in range(count):
            when = begin + timedelta(weeks=4 * (k + 1))
            raise_pct = 1 + Decimal(rng.randrange(2, 8)) / 100
            later.append(
                row(
                    pid,
                    client,
                    _money(pay * raise_pct),
                    _money(bill * raise_pct),
                    begin,
                    end,
                    status=status,
                    effective=when,
                    termination=termination,
                    **base,
                )
            )
    yield from later[: max(0, rows - made)]


def write(
    out: TextIO, rows: int, seed: int, bad: bool = False, changes: int = 0, clients: int = 20
) -> None:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(HEADER)
    for r in placements(rows, seed, bad, changes=changes, clients=clients):
        w.writerow(r)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1000)
    p.add_argument("--seed", type=int, default=24)
    p.add_argument("--bad", action="store_true", help="add the rows an import must refuse")
    args = p.parse_args(argv)
    write(sys.stdout, args.rows, args.seed, args.bad)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
