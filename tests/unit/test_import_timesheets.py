"""The timesheet CSV: a row per assignment and week into one HoursReported (source `import`),
each bad cell named by line and column; and a Bullhorn rate row's OT rates carried into its
rate change."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from events.catalogue import HoursReported, RatesAdjusted
from events.messages import Submitter
from imports.dryrun import DryRun
from imports.plan import Planned
from imports.problems import FileRefused, Problem
from imports.reading import open_lines
from tests.support.import_plans import NOW, plan

SHEET = "assignment_id,client,week,regular_hours,ot_hours,dt_hours\n"


def reports(items: list[Planned | Problem]) -> list[HoursReported]:
    out = []
    for i in items:
        if isinstance(i, Planned):
            assert isinstance(i.event, HoursReported)
            out.append(i.event)
    return out


def errors(items: list[Planned | Problem]) -> list[tuple[int, str]]:
    return [(i.line, i.column) for i in items if isinstance(i, Problem) and i.severity == "error"]


def test_a_row_is_one_report_of_the_weeks_hours() -> None:
    (h,) = reports(plan(SHEET + "P1,Acme,2026-11-02,40,5,1.5\n"))
    assert (h.contract_id, h.assignment_id, h.week) == ("C-ACME", "P1", date(2026, 11, 2))
    assert (h.regular_hours, h.ot_hours, h.dt_hours) == (Decimal(40), Decimal(5), Decimal("1.5"))
    assert h.source == "import"
    assert h.occurred_at == datetime(2026, 11, 8, tzinfo=UTC)  # the week's Sunday


def test_the_format_is_told_from_the_header_or_named() -> None:
    assert open_lines(io.BytesIO(SHEET.encode())).format == "timesheet"
    text = "placement_id,contract_id,week,regular_hours\nP1,C-9,11/2/2026,38\n"
    (h,) = reports(plan(text, fmt="timesheet"))
    assert (h.contract_id, h.assignment_id, h.ot_hours) == ("C-9", "P1", Decimal(0))


def test_a_client_the_mapping_does_not_name_is_its_derived_contract() -> None:
    (h,) = reports(plan(SHEET + "P1,Globex Inc,2026-11-02,40,,\n"))
    assert h.contract_id.startswith("C-Globex-Inc-")


def test_the_same_row_gives_the_same_id_and_a_correction_a_new_one() -> None:
    first = reports(plan(SHEET + "P1,Acme,2026-11-02,40,5,0\n"))[0]
    again = reports(plan(SHEET + "P1,Acme,11/2/2026,40.00,5.0,\n"))[0]
    fixed = reports(plan(SHEET + "P1,Acme,2026-11-02,38,5,0\n"))[0]
    assert first.event_id == again.event_id
    assert fixed.event_id != first.event_id


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("P1,Acme,2026-11-04,40,0,0", "week", "Monday"),
        ("P1,Acme,2026-13-02,40,0,0", "week", "not a date"),
        ("P1,Acme,2026-11-02,-1,0,0", "regular_hours", "greater than or equal to 0"),
        ("P1,Acme,2026-11-02,100,60,10", "dt_hours", "168"),
        ("P1,Acme,2026-11-02,forty,0,0", "regular_hours", "not a number"),
        ("P1,Acme,2026-11-02,,0,0", "regular_hours", "required"),
        (",Acme,2026-11-02,40,0,0", "assignment_id", "required"),
        ("P1,,2026-11-02,40,0,0", "client", "required"),
    ],
)
def test_a_bad_cell_is_named_by_line_and_column(row: str, column: str, reason: str) -> None:
    items = plan(SHEET + "P0,Acme,2026-11-02,40,0,0\n" + row + "\n")
    assert len(reports(items)) == 1  # the good row goes on
    bad = [i for i in items if isinstance(i, Problem)]
    assert [(p.line, p.column) for p in bad] == [(3, column)]
    assert reason in bad[0].reason


def test_a_sheet_without_its_contract_or_a_required_column_is_refused_whole() -> None:
    with pytest.raises(FileRefused, match="contract_id or client"):
        plan("assignment_id,week,regular_hours\nP1,2026-11-02,40\n")
    with pytest.raises(FileRefused, match="required column missing: week"):
        plan("assignment_id,client,regular_hours\nP1,Acme,40\n", fmt="timesheet")


def test_the_dry_run_judges_reports_against_the_assignments_of_the_file_before() -> None:
    placements = (
        "placement_id,client,staffer_id,pay_rate,bill_rate,hours_per_week,start_date,end_date\n"
        "P1,Acme,s-1,30,45,40,2026-10-05,2027-06-30\n"
        "P2,Acme,s-2,20,30,40,2026-10-05,2027-06-30\n"
    )
    dry = DryRun(Submitter(role="admin", principal="import"), NOW)
    for item in plan(placements):
        dry.feed(item)
    sheet = SHEET + (
        "P1,Acme,2026-11-02,40,5,0\n"
        "P2,Acme,2026-11-02,30,2,0\n"
        "P2,Acme,2026-09-07,30,0,0\n"  # before P2 started
        "P9,Acme,2026-11-02,40,0,0\n"  # no such assignment
    )
    for item in plan(sheet):
        dry.feed(item)
    assert dry.accepted["HoursReported"] == 2
    assert [(p.line, p.column) for p in dry.refused] == [(4, "week"), (5, "assignment_id")]
    assert "week_outside_term" in dry.refused[0].reason


# A Bullhorn rate row's OT rates -------------------------------------------------------------

HEADER = (
    "id,clientCorporation.name,candidate.externalID,clientBillRate,payRate,dateBegin,dateEnd,"
    "dateEffective,clientOvertimeRate,overtimeRate,overtimeMarkUpPercentage\n"
)
FIRST = "P1,Acme,cand-1,45,30,1/5/2026,12/31/2026,1/5/2026,63,45,\n"


def test_a_later_rate_row_carries_its_ot_rates_into_the_rate_change() -> None:
    later = "P1,Acme,cand-1,48,32,1/5/2026,12/31/2026,6/1/2026,67.2,48,\n"
    adjusted = [i.event for i in plan(HEADER + FIRST + later) if isinstance(i, Planned)][-1]
    assert isinstance(adjusted, RatesAdjusted)
    assert (adjusted.pay_rate, adjusted.bill_rate) == (Decimal(32), Decimal(48))
    assert (adjusted.ot_pay_rate, adjusted.ot_bill_rate) == (Decimal(48), Decimal("67.2"))


def test_a_later_row_changing_only_the_ot_rates_is_a_rate_change() -> None:
    # Only an OT markup of 50 %: OT bill 67.50 on the derived OT pay (30 × 1.5 = 45); the OT
    # pay no longer given is derived again.
    later = "P1,Acme,cand-1,45,30,1/5/2026,12/31/2026,6/1/2026,,,50\n"
    adjusted = [i.event for i in plan(HEADER + FIRST + later) if isinstance(i, Planned)][-1]
    assert isinstance(adjusted, RatesAdjusted)
    assert (adjusted.pay_rate, adjusted.bill_rate) == (Decimal(30), Decimal(45))
    assert (adjusted.ot_pay_rate, adjusted.ot_bill_rate) == (None, Decimal("67.50"))


def test_a_later_row_with_the_same_rates_is_no_rate_change() -> None:
    later = "P1,Acme,cand-1,45,30,1/5/2026,12/31/2026,6/1/2026,63,45,\n"
    types = [i.event.type for i in plan(HEADER + FIRST + later) if isinstance(i, Planned)]
    assert types == ["ContractSigned", "AssignmentStarted"]
