"""The mapping file (YAML): what a placements CSV does not say.

Which column names the client (and the placement, the account manager), the contract terms of
each client or one default for all, the account manager of each client (or a default, or a
column per row), and how the source's statuses read. Validated whole when loaded: a wrong key
or value is named by its path in the file (`clients.Acme.terms.burden_pct`).

Numbers in YAML are read as Decimal, never as float (`20.5` is `Decimal("20.5")`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date
from decimal import Decimal
from typing import Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from events.catalogue import AssignmentEndReason
from events.fields import FeePct, Hours, HoursPerWeek, Id, Months, Name, Pct, Weeks
from imports.problems import FileRefused, Problem


class MappingError(ValueError):
    """The mapping file is not valid; the message names each wrong key and why."""


class _MappingModel(BaseModel):
    """The mapping file, or a part of it: a key it does not know is refused (a misspelt one
    must not silently leave its default in place); frozen once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Terms(_MappingModel):
    """A contract's terms, as ContractSigned takes them. `start_date` absent: the contract
    starts on its first placement's start."""

    markup_floor_pct: Pct
    burden_pct: Pct
    msp_fee_pct: FeePct | None = None
    min_assignment_weeks: Weeks | None = None
    conversion_fee_pct: Pct
    conversion_fee_waived_after_hours: Hours | None = None
    non_solicit_months: Months
    start_date: date | None = None
    end_date: date | None = None


class Client(_MappingModel):
    contract_id: Id | None = None
    """Default: derived from the client's value in the file."""
    name: Name | None = None
    account_manager: Id | None = None
    terms: Terms | None = None


DEFAULT_ENDED: Final = ("Completed", "Terminated", "Ended", "Closed", "ended")
DEFAULT_SKIPPED: Final = ("Permanent", "Direct Hire", "Perm", "Direct")


class ImportMapping(_MappingModel):
    source: Id | None = None
    """Names the source in every derived event id; default: the file's format. Keep it the
    same from run to run, or a rerun appends everything again under new ids."""
    client_column: str | None = None
    placement_id_column: str | None = None
    account_manager_column: str | None = None
    job_title_column: str | None = None
    account_manager: Id | None = None
    """The account manager of every client the mapping gives none, when no column gives one."""
    default_terms: Terms | None = None
    """The terms of every client not listed in `clients` (absent: such a client is refused)."""
    clients: dict[str, Client] = Field(default_factory=dict)
    hours_per_week: HoursPerWeek = Decimal(40)
    """When a row gives no hours (Bullhorn: hoursPerDay × days_per_week)."""
    days_per_week: Decimal = Field(default=Decimal(5), gt=0, le=7)
    as_of: date | None = None
    """The date no event's occurred_at passes (default: the day of the run); pin it so that a
    rerun on a later day of a file with future-dated rows derives the same events."""
    ended_statuses: tuple[str, ...] = DEFAULT_ENDED
    skip_employment_types: tuple[str, ...] = DEFAULT_SKIPPED
    end_reasons: dict[str, AssignmentEndReason] = Field(default_factory=dict)
    """A status or termination reason of the source → the catalogue's end reason (default:
    completed, or ended_early_by_client for a Terminated placement)."""

    def client(self, key: str) -> Client | None:
        """The client `key` names in the file, as the mapping knows it; None when it does not
        know it and has no default terms."""
        known = self.clients.get(key)
        if known is not None:
            if known.terms is None and self.default_terms is None:
                return None
            return known
        if self.default_terms is None:
            return None
        return Client()

    def terms_of(self, client: Client) -> Terms:
        terms = client.terms or self.default_terms
        assert terms is not None  # `client` answered it
        return terms

    def columns_named(self, fields: Mapping[str, str], header: Collection[str]) -> dict[str, str]:
        """The columns this mapping names, by what each holds: `fields` maps what a column holds
        to the mapping's field naming it (`"client": "client_column"`). FileRefused when the
        header has no column of that name."""
        named: dict[str, str] = {}
        for name, field in fields.items():
            column: str | None = getattr(self, field)
            if column is None:
                continue
            if column not in header:
                problem = f"the mapping's {field} {column!r} is not in the header"
                raise FileRefused(Problem(1, column, problem))
            named[name] = column
        return named


class _DecimalLoader(yaml.SafeLoader):
    """YAML's floats as Decimal: money and percentages never pass through a float."""


def _decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    return Decimal(str(loader.construct_scalar(node)))  # type: ignore[arg-type]


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _decimal)


def load_mapping(text: str) -> ImportMapping:
    """The mapping in `text` (YAML), validated; MappingError names what is wrong."""
    try:
        raw: Any = yaml.load(text, Loader=_DecimalLoader)
    except yaml.YAMLError as exc:
        raise MappingError(f"the mapping is not valid YAML: {exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise MappingError("the mapping must be a YAML mapping of keys to values")
    try:
        return ImportMapping.model_validate(raw)
    except ValidationError as exc:
        lines = [
            f"{'.'.join(str(p) for p in e['loc']) or '(mapping)'}: {e['msg']}" for e in exc.errors()
        ]
        raise MappingError("the mapping is not valid: " + "; ".join(lines)) from exc


__all__ = ["Client", "ImportMapping", "MappingError", "Terms", "load_mapping"]
