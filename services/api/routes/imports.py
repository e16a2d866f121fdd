"""The Import page's API (admin only): upload a file with its mapping, read its dry run, commit
it, follow its progress. The work is `services.importer.jobs`; these routes only parse, call
one function and answer."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from imports.reading import Format
from services.api.deps import Imports
from services.api.http.auth import Submitter
from services.api.http.errors import ApiError
from services.api.http.ownership import ensure_admin
from services.api.schemas import errors
from services.importer.jobs import NotChecked
from services.tokens import Principal

router = APIRouter(prefix="/v1", tags=["imports"])

# Standard base64, padded: what FileReader.readAsDataURL gives after its comma.
BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"

# PostgreSQL's text holds no NUL character.
NO_NUL = r"^[^\x00]*$"

Stage = Literal["checking", "checked", "importing", "imported", "failed"]


class ImportUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_name: Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
    content_base64: Annotated[str, Field(min_length=4, pattern=BASE64)]
    """The file's bytes, base64: any encoding the importer reads (UTF-8, BOM, Latin-1)."""
    mapping: Annotated[str, Field(max_length=200_000, pattern=NO_NUL)] = ""
    """The mapping file (YAML); empty for JSON lines of events."""
    format: Format | None = None


class ImportState(BaseModel):
    import_id: uuid.UUID
    created_by: str
    created_at: datetime
    updated_at: datetime
    file_name: str
    format: str
    stage: Stage
    bytes_total: int
    bytes_read: int
    rows_read: int
    dry_run: dict[str, Any] | None = None
    """Once checked: events per type, errors, refusals, warnings, alerts, the portfolio."""
    outcome: dict[str, Any] | None = None
    """Once imported: events appended per type, duplicates, errors and refusals."""
    error: str | None = None


def _admin(who: Principal) -> None:
    ensure_admin(who, ApiError.field(403, "role", f"only an admin may import, not {who.role}"))


def _state(import_id: uuid.UUID, row: dict[str, Any] | None) -> ImportState:
    if row is None:
        raise ApiError.field(404, "import_id", f"no import {import_id}")
    return ImportState.model_validate(row)


@router.post(
    "/imports",
    summary="Upload a placements file (or an export) with its mapping; its dry run starts",
    description="Answers 202 with the import's state: `checking` while its dry run runs, or "
    "`failed` at once when the mapping or the file's header cannot be read (`error` names the "
    "line, the column and why; nothing is imported).",
    status_code=202,
    responses=errors(400, 401, 403, 413, 415, 422),
)
async def upload(body: ImportUpload, who: Submitter, jobs: Imports) -> ImportState:
    _admin(who)
    content = base64.b64decode(body.content_base64)  # the pattern admits only base64
    return ImportState.model_validate(
        await jobs.create(who.name, body.file_name, content, body.mapping, body.format)
    )


@router.get(
    "/imports/{import_id}",
    summary="An import's stage, progress, dry run and outcome",
    responses=errors(401, 403, 404, 422),
)
async def state(import_id: uuid.UUID, who: Submitter, jobs: Imports) -> ImportState:
    _admin(who)
    return _state(import_id, await jobs.get(import_id))


@router.post(
    "/imports/{import_id}/commit",
    summary="Import a checked upload through the writer",
    status_code=202,
    responses=errors(401, 403, 404, 409, 422),
)
async def commit(import_id: uuid.UUID, who: Submitter, jobs: Imports) -> ImportState:
    _admin(who)
    try:
        return _state(import_id, await jobs.commit(import_id, who.submitter()))
    except NotChecked as e:
        raise ApiError.field(
            409, "stage", f"the import is {e.stage}; only a checked import can be committed"
        ) from None
