"""The read model's rows: the facts `projections.read_model.ReadModel` holds and the projector
stores, one dataclass per table, and the pricing terms in force on a date (`terms_in_force`).

Plain data with no I/O: what each event changes in them is `ReadModel`'s; figures that depend on
the day asked about are derived from them when read (`projections.margin`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from events.alerts import Basis
from events.catalogue import OVERTIME_RATES
from projections import margin

ZERO = Decimal(0)
OpenKind = Literal["negotiation", "raise_request", "bypass_threat"]


@dataclass(slots=True)
class ContractRow:
    contract_id: str
    stream_version: int
    client_id: str
    client_name: str
    account_manager_id: str
    status: str  # active | terminated
    start_date: date
    end_date: date | None
    markup_floor_pct: Decimal
    burden_pct: Decimal
    msp_fee_pct: Decimal
    min_assignment_weeks: int | None
    conversion_fee_pct: Decimal
    conversion_fee_waived_after_hours: Decimal | None
    non_solicit_months: int
    ot_bill_multiplier: Decimal
    dt_bill_multiplier: Decimal
    terminated_on: date | None = None


TermsKind = Literal["signed", "amended"]
PRICING_TERMS: tuple[str, ...] = (
    "burden_pct",
    "msp_fee_pct",
    "markup_floor_pct",
    "conversion_fee_pct",
    "conversion_fee_waived_after_hours",
    "ot_bill_multiplier",
    "dt_bill_multiplier",
)


@dataclass(slots=True)
class TermsRow:
    """The contract's pricing terms as signed, or what one amendment changed from its
    effective date on (None: a term it left alone). `terms_in_force` folds them for a date."""

    contract_id: str
    effective_date: date
    stream_version: int
    kind: TermsKind
    burden_pct: Decimal | None
    msp_fee_pct: Decimal | None  # as signed: 0 when the contract has none
    markup_floor_pct: Decimal | None
    conversion_fee_pct: Decimal | None
    conversion_fee_waived_after_hours: Decimal | None  # as signed: None is no waiver
    ot_bill_multiplier: Decimal | None = None  # as signed: 1.5 when the contract named none
    dt_bill_multiplier: Decimal | None = None  # as signed: 2 when the contract named none

    @classmethod
    def of(
        cls,
        contract_id: str,
        effective_date: date,
        stream_version: int,
        kind: TermsKind,
        source: object,
    ) -> TermsRow:
        """The pricing terms `source` holds by their names: a contract row as signed, or an
        amendment (None where it leaves a term alone)."""
        terms = {name: getattr(source, name) for name in PRICING_TERMS}
        return cls(contract_id, effective_date, stream_version, kind, **terms)


@dataclass(frozen=True, slots=True)
class Terms:
    """The pricing terms in force on a date."""

    burden_pct: Decimal
    msp_fee_pct: Decimal
    markup_floor_pct: Decimal
    conversion_fee_pct: Decimal
    conversion_fee_waived_after_hours: Decimal | None
    ot_bill_multiplier: Decimal = margin.DEFAULT_OT_BILL_MULTIPLIER
    dt_bill_multiplier: Decimal = margin.DEFAULT_DT_BILL_MULTIPLIER


def terms_in_force(history: Iterable[TermsRow], on: date) -> Terms | None:
    """The terms in force on `on`: as signed, then every amendment in effect by then in the
    order of its effective date (of recording, for one date), each changing only the terms it
    names. A back-dated amendment thus counts from its date, beneath a later-dated one recorded
    before it. None without a signing."""
    signed: TermsRow | None = None
    amendments: list[TermsRow] = []
    for t in history:
        if t.kind == "signed":
            signed = t
        elif t.effective_date <= on:
            amendments.append(t)
    if signed is None:
        return None
    terms = {name: getattr(signed, name) for name in PRICING_TERMS}
    for t in sorted(amendments, key=lambda t: (t.effective_date, t.stream_version)):
        for name in PRICING_TERMS:
            value = getattr(t, name)
            if value is not None:
                terms[name] = value
    # A signing stored before the multipliers existed has none: the defaults.
    for name in ("ot_bill_multiplier", "dt_bill_multiplier"):
        if terms[name] is None:
            del terms[name]
    return Terms(**terms)


@dataclass(slots=True)
class AssignmentRow:
    contract_id: str
    assignment_id: str
    stream_version: int
    staffer_id: str
    staffer_name: str | None
    job_title: str
    status: str  # active | ended
    pay_rate: Decimal  # the latest rates recorded (by effective date)
    bill_rate: Decimal
    rates_effective: date
    burden_pct: Decimal | None  # the assignment's own; None: the contract's
    hours_per_week: Decimal
    start_date: date
    expected_end_date: date
    end_date: date | None = None
    end_reason: str | None = None
    planned_ot_hours_per_week: Decimal = ZERO
    ot_exempt: bool = False


@dataclass(slots=True)
class RateRow:
    """The rates one event put in force from its effective date. The OT and DT rates as the
    event gave them; None: derived from its pay and bill with the multipliers in force on the
    day asked about (`margin.ot_rates`, `margin.dt_rates`)."""

    contract_id: str
    assignment_id: str
    effective_date: date
    stream_version: int
    pay_rate: Decimal
    bill_rate: Decimal
    event_id: str
    ot_pay_rate: Decimal | None = None
    ot_bill_rate: Decimal | None = None
    dt_pay_rate: Decimal | None = None
    dt_bill_rate: Decimal | None = None

    def overtime(self) -> dict[str, Decimal | None]:
        """The OT and DT rates as given, by the names of `margin.Rates`."""
        return {name: getattr(self, name) for name in OVERTIME_RATES}


@dataclass(slots=True)
class ImpactRow:
    """The margin impact of one event on one assignment, as the facts it is computed from.

    Both sides share the assignment's terms (burden, MSP fee, hours a week, dates); only the
    rates differ. The figures (`impact`) are derived from these facts when read, by the one
    formula in `margin.impact`: a replay stores facts only, which is what keeps it fast.
    """

    event_id: str
    assignment_id: str
    contract_id: str
    stream_version: int
    event_type: str
    basis: Basis
    counted_from: date
    occurred_at: datetime
    before_pay_rate: Decimal
    before_bill_rate: Decimal
    after_pay_rate: Decimal
    after_bill_rate: Decimal
    burden_pct: Decimal  # the assignment's own, else the contract's in force on counted_from
    msp_fee_pct: Decimal
    hours_per_week: Decimal
    start_date: date
    expected_end_date: date
    # The OT rates of each side as in force (given or derived when recorded; None when
    # ot_exempt), and the planned OT hours the weekly figures count them for.
    planned_ot_hours_per_week: Decimal = ZERO
    ot_exempt: bool = False
    before_ot_pay_rate: Decimal | None = None
    before_ot_bill_rate: Decimal | None = None
    after_ot_pay_rate: Decimal | None = None
    after_ot_bill_rate: Decimal | None = None

    @property
    def impact(self) -> margin.Impact:
        def side(
            pay: Decimal, bill: Decimal, ot_pay: Decimal | None, ot_bill: Decimal | None
        ) -> margin.Rates:
            return margin.Rates(
                pay_rate=pay,
                bill_rate=bill,
                burden_pct=self.burden_pct,
                msp_fee_pct=self.msp_fee_pct,
                hours_per_week=self.hours_per_week,
                ot_pay_rate=ot_pay,
                ot_bill_rate=ot_bill,
                planned_ot_hours_per_week=self.planned_ot_hours_per_week,
                ot_exempt=self.ot_exempt,
            )

        return margin.impact(
            side(
                self.before_pay_rate,
                self.before_bill_rate,
                self.before_ot_pay_rate,
                self.before_ot_bill_rate,
            ),
            side(
                self.after_pay_rate,
                self.after_bill_rate,
                self.after_ot_pay_rate,
                self.after_ot_bill_rate,
            ),
            margin.Term(self.start_date, self.expected_end_date),
            self.counted_from,
        )


@dataclass(slots=True)
class HoursRow:
    """The hours one assignment worked in one week, as last reported: a later report of the
    week replaces the earlier (a correction). `reports` counts the reports the row stands for:
    the store adds those of a batch to the stored row's, so above 1 the week was corrected."""

    contract_id: str
    assignment_id: str
    week: date
    stream_version: int
    regular_hours: Decimal
    ot_hours: Decimal
    dt_hours: Decimal
    source: str
    event_id: str
    reports: int = 1


@dataclass(slots=True)
class OpenItem:
    contract_id: str
    kind: OpenKind
    item_id: str
    assignment_id: str | None  # None: every active assignment of the contract
    opened_version: int


@dataclass
class Changes:
    """What a batch of events changed: rows to upsert, rows to add, open items to drop."""

    contracts: dict[str, ContractRow] = field(default_factory=dict)
    assignments: dict[tuple[str, str], AssignmentRow] = field(default_factory=dict)
    terms: list[TermsRow] = field(default_factory=list)
    rates: list[RateRow] = field(default_factory=list)
    impacts: list[ImpactRow] = field(default_factory=list)
    opened: dict[tuple[str, str, str], OpenItem] = field(default_factory=dict)
    closed: set[tuple[str, str, str]] = field(default_factory=set)
    hours: dict[tuple[str, str, date], HoursRow] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(
            self.hours
            or self.contracts
            or self.assignments
            or self.terms
            or self.rates
            or self.impacts
            or self.opened
            or self.closed
        )


@dataclass(frozen=True, slots=True)
class StoredContract:
    """Everything the model holds of one contract, as stored: what `ReadModel.install` takes."""

    contract: ContractRow
    assignments: list[AssignmentRow]
    rates: list[RateRow]  # by (effective_date, stream_version) within each assignment
    terms: list[TermsRow]  # by stream_version
    open_items: list[OpenItem]
