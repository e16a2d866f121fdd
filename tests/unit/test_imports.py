"""The import's pure core: reading, values, the mapping, planning and the dry run."""

from __future__ import annotations

import io
import tracemalloc
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.catalogue import (
    AssignmentEnded,
    AssignmentStarted,
    ContractSigned,
    Event,
    RatesAdjusted,
)
from events.messages import Submitter
from events.serialization import encode_event
from imports.dryrun import DryRun, stamped
from imports.ids import event_id, safe_id
from imports.mapping import MappingError, load_mapping
from imports.plan import Planned
from imports.problems import FileRefused, Problem
from imports.reading import open_lines
from imports.source import plan_file
from imports.values import BadValue, parse_date, parse_decimal
from tests.support.import_plans import AS_OF, MAPPING, NOW, plan
from writemodel.preview import Previewer

HEADER = (
    "id,clientCorporation.name,candidate.externalID,candidate.name,clientBillRate,payRate,"
    "markUpPercentage,dateBegin,dateEnd,dateEffective,status,hoursPerDay,employmentType,"
    "clientOvertimeRate,overtimeRate,otExemption"
)


def events(items: list[Planned | Problem]) -> list[Planned]:
    return [i for i in items if isinstance(i, Planned)]


def problems(items: list[Planned | Problem], severity: str = "error") -> list[Problem]:
    return [i for i in items if isinstance(i, Problem) and i.severity == severity]


def bullhorn(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


ROW = (
    "P1,Acme,cand-1,Ann Lee,50,35,,8/17/2016 0:00,12/31/2026 0:00,8/17/16 0:00,Approved,8,"
    "Contract,,,"
)


# Values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8/17/2016 0:00", date(2016, 8, 17)),
        ("8/17/16 0:00", date(2016, 8, 17)),
        ("12/31/16", date(2016, 12, 31)),
        ("2016-08-17", date(2016, 8, 17)),
        ("2016-08-17T00:00:00Z", date(2016, 8, 17)),
    ],
)
def test_dates_as_bullhorn_and_iso_write_them(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["13/45/2016", "yesterday", "2016-02-30", "17.8.2016"])
def test_a_date_that_is_no_date_says_so(text: str) -> None:
    with pytest.raises(BadValue, match="not a date"):
        parse_date(text)


@given(st.decimals(min_value=-(10**6), max_value=10**6, places=4, allow_nan=False))
def test_every_plain_decimal_reads_back_exactly(value: Decimal) -> None:
    assert parse_decimal(str(value)) == value


@pytest.mark.parametrize("text", ["1e5", "NaN", "12.5.1", "abc", "Infinity"])
def test_numbers_that_are_not_plain_decimals_are_refused(text: str) -> None:
    with pytest.raises(BadValue, match="not a number"):
        parse_decimal(text)


def test_money_with_a_dollar_sign_and_thousands() -> None:
    assert parse_decimal("$1,037.50") == Decimal("1037.50")


# Ids ------------------------------------------------------------------------------------------


@given(st.text(min_size=1, max_size=300), st.text(max_size=10))
def test_a_safe_id_is_always_a_catalogue_id(text: str, prefix: str) -> None:
    prefix = safe_id(prefix) if prefix else ""
    out = safe_id(text, prefix[:10])
    assert 1 <= len(out) <= 64
    assert all(ch.isascii() and (ch.isalnum() or ch in "._:-") for ch in out)


def test_names_that_slug_alike_stay_apart() -> None:
    assert safe_id("Acme Corp") != safe_id("Acme-Corp") != safe_id("Acme/Corp")
    assert safe_id("cand-1") == "cand-1"


@given(st.text(), st.text(), st.text())
def test_event_ids_are_a_function_of_source_record_and_what(s: str, r: str, w: str) -> None:
    assert event_id(s, r, w) == event_id(s, r, w)
    assert event_id(s, r, w) != event_id(s, r, w + "x")


# Reading --------------------------------------------------------------------------------------


def test_a_bom_is_dropped_and_reported() -> None:
    items = plan(b"\xef\xbb\xbf" + bullhorn(ROW).encode())
    assert [e.event.type for e in events(items)] == ["ContractSigned", "AssignmentStarted"]
    assert any("byte-order mark" in p.reason for p in problems(items, "warning"))


def test_latin1_is_read_from_the_first_line_that_is_not_utf8() -> None:
    row = ROW.replace("Ann Lee", "Zoë Müller")
    items = plan(bullhorn(ROW.replace("P1", "P0"), row.replace("P1", "P2")).encode("latin-1"))
    started = [e.event for e in events(items) if isinstance(e.event, AssignmentStarted)]
    assert [e.staffer_name for e in started] == ["Ann Lee", "Zoë Müller"]
    (warning,) = [p for p in problems(items, "warning") if "Latin-1" in p.reason]
    assert warning.line == 3


def test_a_missing_required_column_is_named() -> None:
    header = HEADER.replace("payRate,", "")
    with pytest.raises(FileRefused, match="required column missing: payRate"):
        plan(header + "\n")


def test_a_file_of_another_shape_is_refused_with_what_would_do() -> None:
    with pytest.raises(FileRefused, match="unknown format"):
        plan("a,b,c\n1,2,3\n")


def test_a_file_without_line_breaks_is_refused_not_loaded() -> None:
    with pytest.raises(FileRefused, match="longer than"):
        plan(HEADER + "," + "x" * (1 << 20))


def test_a_row_of_the_wrong_width_names_its_line() -> None:
    (err,) = problems(plan(bullhorn(ROW, "P2,Acme,1")))
    assert (err.line, err.column) == (3, "")
    assert "3 cells" in err.reason


# Planning -------------------------------------------------------------------------------------


def test_a_placement_becomes_a_contract_and_an_assignment() -> None:
    signed, started = (e.event for e in events(plan(bullhorn(ROW))))
    assert isinstance(signed, ContractSigned) and isinstance(started, AssignmentStarted)
    assert signed.contract_id == started.contract_id == "C-ACME"
    assert signed.account_manager_id == "am-1"
    assert signed.burden_pct == Decimal("18.5") and signed.start_date == date(2016, 8, 17)
    assert (started.pay_rate, started.bill_rate) == (Decimal(35), Decimal(50))
    assert started.hours_per_week == Decimal(40)  # 8 a day, 5 days
    assert started.expected_end_date == date(2026, 12, 31)


def test_later_rate_rows_become_rate_changes_and_the_last_status_ends_it() -> None:
    later = ROW.replace("50,35", "55,38").replace("8/17/16 0:00,Approved", "1/1/17,Completed")
    types = [(e.line, e.event.type) for e in events(plan(bullhorn(ROW, later)))]
    assert types == [
        (2, "ContractSigned"),
        (2, "AssignmentStarted"),
        (3, "RatesAdjusted"),
        (3, "AssignmentEnded"),
    ]
    adjusted, ended = (e.event for e in events(plan(bullhorn(ROW, later)))[2:])
    assert isinstance(adjusted, RatesAdjusted) and isinstance(ended, AssignmentEnded)
    assert adjusted.effective_date == date(2017, 1, 1)
    assert (ended.end_date, ended.reason) == (date(2026, 12, 31), "completed")


def test_planning_twice_gives_the_same_events() -> None:
    text = bullhorn(ROW, ROW.replace("P1", "P2"))
    first = [encode_event(e.event) for e in events(plan(text))]
    assert first == [encode_event(e.event) for e in events(plan(text))]


def test_a_duplicated_row_is_skipped_with_a_warning() -> None:
    items = plan(bullhorn(ROW, ROW))
    assert len(events(items)) == 2
    (dup,) = [p for p in problems(items, "warning") if "duplicate" in p.reason]
    assert dup.line == 3 and "line 2" in dup.reason


def test_a_rate_row_out_of_date_order_is_refused() -> None:
    earlier = ROW.replace("50,35", "55,38").replace("8/17/16 0:00", "8/1/16")
    (err,) = problems(plan(bullhorn(ROW, earlier)))
    assert (err.line, err.column) == (3, "dateEffective")


def test_an_unknown_client_is_refused_and_others_go_on() -> None:
    items = plan(bullhorn(ROW.replace("Acme", "Zed"), ROW.replace("P1", "P2")))
    (err,) = problems(items)
    assert (err.line, err.column) == (2, "clientCorporation.name")
    assert "'Zed' is not in the mapping" in err.reason
    assert len(events(items)) == 2


def test_default_terms_take_any_client() -> None:
    mapping = MAPPING + "default_terms: {markup_floor_pct: 15, burden_pct: 10, " \
        "conversion_fee_pct: 0, non_solicit_months: 0}\n"  # fmt: skip
    (signed, _) = (e.event for e in events(plan(bullhorn(ROW.replace("Acme", "Zed")), mapping)))
    assert isinstance(signed, ContractSigned) and signed.markup_floor_pct == 15


def test_bad_cells_name_line_column_and_reason() -> None:
    bad = ROW.replace("50,35", "abc,35").replace("8/17/2016 0:00", "13/45/2016")
    errs = problems(plan(bullhorn(bad)))
    assert {(e.line, e.column) for e in errs} == {(2, "clientBillRate"), (2, "dateBegin")}


def test_end_before_start_is_refused() -> None:
    (err,) = problems(plan(bullhorn(ROW.replace("12/31/2026 0:00", "1/1/2016"))))
    assert err.column == "dateEnd" and "before start" in err.reason


def test_a_later_row_of_a_refused_placement_is_refused_too() -> None:
    bad = ROW.replace("50,35", "abc,35")
    later = ROW.replace("8/17/16 0:00", "1/1/17").replace("50,35", "55,38")
    errs = problems(plan(bullhorn(bad, later)))
    assert [e.line for e in errs] == [2, 3]
    assert "first row (line 2) was refused" in errs[1].reason


def test_warnings_below_pay_and_below_floor() -> None:
    warnings = problems(plan(bullhorn(ROW.replace("50,35", "30,35"))), "warning")
    reasons = " | ".join(w.reason for w in warnings)
    assert "below pay rate" in reasons and "below the contract's floor of 20 %" in reasons


def test_a_bill_rate_from_the_markup() -> None:
    row = ROW.replace("50,35,", ",35,20")
    started = events(plan(bullhorn(row)))[1].event
    assert isinstance(started, AssignmentStarted) and started.bill_rate == Decimal("42.00")


def test_formula_like_names_are_kept_as_text() -> None:
    row = ROW.replace("Ann Lee", '=HYPERLINK("x")')
    started = events(plan(bullhorn(row)))[1].event
    assert isinstance(started, AssignmentStarted) and started.staffer_name == '=HYPERLINK("x")'


def test_overtime_columns_become_the_assignments_overtime() -> None:
    started = events(plan(bullhorn(ROW.replace(",,,", ",75,52.5,0"))))[1].event
    assert isinstance(started, AssignmentStarted)
    assert (started.ot_bill_rate, started.ot_pay_rate, started.ot_exempt) == (
        Decimal("75"), Decimal("52.5"), False
    )  # fmt: skip
    exempt = events(plan(bullhorn(ROW.replace(",,,", ",75,52.5,1"))))[1].event
    assert isinstance(exempt, AssignmentStarted)
    assert (exempt.ot_exempt, exempt.ot_pay_rate, exempt.ot_bill_rate) == (True, None, None)
    bad = problems(plan(bullhorn(ROW.replace(",,,", ",x,52.5,1"))))
    assert [(e.column, e.line) for e in bad] == [("clientOvertimeRate", 2)]


def test_the_mapping_names_a_wrong_key_by_its_path() -> None:
    with pytest.raises(MappingError, match=r"clients\.Acme\.terms\.burden_pct"):
        load_mapping("clients: {Acme: {terms: {burden_pct: lots}}}")
    with pytest.raises(MappingError, match="clientz"):
        load_mapping("clientz: {}")


def test_a_future_start_is_recorded_as_of_the_import() -> None:
    row = ROW.replace("8/17/2016 0:00", "3/1/2027").replace("8/17/16 0:00", "")
    row = row.replace("12/31/2026", "12/31/2028")
    started = events(plan(bullhorn(row)))[1].event
    assert started.occurred_at == datetime(2026, 12, 7, tzinfo=UTC)


GENERIC = (
    "placement_id,client,staffer_id,job_title,pay_rate,bill_rate,markup_pct,hours_per_week,"
    "start_date,end_date,effective_date,status\n"
    "G1,Acme,s-1,Welder,30,,25,37.5,2026-01-05,2026-12-31,,active\n"
)


def test_the_generic_csv() -> None:
    _, started = (e.event for e in events(plan(GENERIC)))
    assert isinstance(started, AssignmentStarted)
    assert (started.bill_rate, started.hours_per_week) == (Decimal("37.50"), Decimal("37.5"))


def test_json_lines_keep_their_stamps_and_expect_their_version() -> None:
    signed = ContractSigned.model_validate(
        {"event_id": "0b0a8f2e-8f4e-4a43-9d3e-1d2f4c8a7e61", "contract_id": "C-1",
         "occurred_at": "2026-01-01T00:00:00Z", "client_id": "c", "client_name": "C",
         "account_manager_id": "am", "start_date": "2026-01-01", "markup_floor_pct": "20",
         "burden_pct": "18", "conversion_fee_pct": "15", "non_solicit_months": 12,
         "recorded_by": "am", "recorded_at": "2026-01-01T00:00:01Z", "stream_version": 1}
    )  # fmt: skip
    (planned,) = events(plan(encode_event(signed) + b"\n\n{bad\n"[:1]))
    assert planned.expected_stream_version == 0
    assert planned.event.recorded_by == "am" and planned.event.stream_version is None
    (err,) = problems(plan(encode_event(signed) + b'\n{"type": 1}\n'))
    assert err.line == 2


# Dry run --------------------------------------------------------------------------------------


def test_the_dry_run_counts_refuses_and_rolls_up() -> None:
    later = ROW.replace("50,35", "55,38").replace("8/17/16 0:00", "1/1/17")
    losing = ROW.replace("P1", "P2").replace("50,35", "36,35")
    dry = DryRun(Submitter(role="admin", principal="import"), NOW)
    for item in plan(bullhorn(ROW, later, losing)):
        dry.feed(item)
    assert dict(dry.accepted) == {"ContractSigned": 1, "AssignmentStarted": 2, "RatesAdjusted": 1}
    assert not dry.refused
    p = dry.portfolio(AS_OF)
    # P1: 55 − 38 × 1.185 = 9.97 an hour; P2: 36 − 35 × 1.185 = −5.475; 40 hours a week.
    assert p.active_assignments == 2
    assert p.weekly_gross_profit == (Decimal("9.97") + Decimal("-5.475")) * 40
    assert [x.assignment_id for x in p.loss_making] == ["P2"]
    assert any("LOSS_POSITION" in k for k in dry.alert_counts)


def test_the_dry_run_reports_the_writers_refusal_at_its_line() -> None:
    dry = DryRun(Submitter(role="admin", principal="import"), NOW)
    for item in plan(bullhorn(ROW)):
        dry.feed(item)
    again = plan(bullhorn(ROW.replace("P1", "P9")).replace("Acme", "Acme"))
    # The same contract id signed under another source record: the writer refuses it.
    other = load_mapping(MAPPING + "source: other\n")
    for item in plan_file(open_lines(io.BytesIO(bullhorn(ROW).encode())), other, AS_OF):
        dry.feed(item)
    assert again
    codes = [r.reason.split("(")[1].split(")")[0] for r in dry.refused]
    assert codes[0] == "contract_exists" and dry.refused[0].line == 2
    assert dry.refused[0].column == "clientCorporation.name"


def test_a_header_that_is_not_csv_is_refused_whole() -> None:
    # Found by Schemathesis: a bare carriage return in the header's line.
    with pytest.raises(FileRefused, match="the header is not readable as CSV"):
        plan(b"!\x1c\x08\xa4\xfb\xf0\xddS\r`\xa5\xcc")


def test_the_dry_run_judges_against_what_the_log_holds() -> None:
    submitter = Submitter(role="admin", principal="import")
    previewer = Previewer()
    logged: list[Event] = []  # what a first import of ROW appended, as the log holds it
    for planned in events(plan(bullhorn(ROW))):
        appended = previewer.judge(stamped(planned, submitter, NOW, uuid.uuid4()), NOW).appended
        assert appended is not None
        logged.append(appended)
    later = ROW.replace("50,35", "55,38").replace("8/17/16 0:00", "1/1/17")
    again = DryRun(submitter, NOW)
    for item in plan(bullhorn(ROW, later)):
        cid = again.meets(item)
        if cid is not None:
            again.remember(cid, [e for e in logged if e.contract_id == cid])
        again.feed(item)
    assert again.duplicates == 2 and dict(again.accepted) == {"RatesAdjusted": 1}


def test_the_dry_runs_portfolio_counts_the_planned_overtime_of_what_the_log_holds() -> None:
    # Logged before, through the API: ROW's placement planning 5 OT hours a week (the file
    # itself plans none). The portfolio page counts them; the dry run's portfolio must too.
    submitter = Submitter(role="admin", principal="import")
    previewer = Previewer()
    logged: list[Event] = []
    for planned in events(plan(bullhorn(ROW))):
        event = planned.event
        if isinstance(event, AssignmentStarted):
            event = event.model_copy(update={"planned_ot_hours_per_week": Decimal(5)})
        submission = stamped(Planned(planned.line, event, {}), submitter, NOW, uuid.uuid4())
        appended = previewer.judge(submission, NOW).appended
        assert appended is not None
        logged.append(appended)
    dry = DryRun(submitter, NOW)
    dry.remember("C-ACME", logged)
    # 40 hours at 50 − 35 × 1.185, and 5 OT hours at 1.5 × 50 − 1.5 × 35 × 1.185.
    regular, ot = Decimal(50) - Decimal(35) * Decimal("1.185"), Decimal("75") - Decimal("62.2125")
    assert dry.portfolio(AS_OF).weekly_gross_profit == 40 * regular + 5 * ot


class _Rows(io.RawIOBase):
    """A CSV made as it is read: `rows` rate rows of one placement, never all in memory."""

    def __init__(self, rows: int) -> None:
        self.rows, self.made = rows, -1
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.pending and self.made < self.rows:
            if self.made < 0:
                self.pending = (HEADER + "\n").encode()
            else:
                day = date(2000, 1, 1) + timedelta(days=self.made)
                pay = 20 + self.made % 7
                self.pending = (
                    f"P1,Acme,cand-1,Ann Lee,{pay + 10},{pay},,1/1/2000,1/1/2200,"
                    f"{day.month}/{day.day}/{day.year},Approved,8,Contract,,,\n"
                ).encode()
            self.made += 1
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


def _peak(rows: int) -> int:
    """The peak of memory allocated while planning a made-up file of `rows` rows."""
    tracemalloc.start()
    try:
        stream = open_lines(io.BufferedReader(_Rows(rows)))
        seen = sum(1 for _ in plan_file(stream, load_mapping(MAPPING), AS_OF))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen > rows // 2  # the rate changes were planned
    return peak


def test_a_file_streams_through_without_being_held() -> None:
    # Four times the rows (0.15 MB, then 0.6 MB of CSV), about the same memory: one row at a
    # time, and one placement's state. (A first run warms what is made once: compiled
    # patterns, pydantic's validators.)
    _peak(6_000)
    assert _peak(6_000) < _peak(1_500) * 1.5
