"""The Import page's API (admin only): upload a file with its mapping, read its dry run, commit
it, follow its progress. The work is `services.importer.jobs`; these routes only parse, call
one function and answer."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from imports.reading import Format
from services.api.auth import Submitter
from services.api.errors import ApiError
from services.api.schemas import errors
from services.importer.jobs import ImportJobs, ImportRefused
from services.tokens import Principal

router = APIRouter(prefix="/v1", tags=["imports"])

Stage = Literal["checking", "checked", "importing", "imported", "failed"]


class ImportUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_name: Annotated[str, Field(min_length=1, max_length=200)]
    content_base64: Annotated[str, Field(min_length=1)]
    """The file's bytes, base64: any encoding the importer reads (UTF-8, BOM, Latin-1)."""
    mapping: Annotated[str, Field(max_length=200_000)] = ""
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
    if who.role != "admin":
        raise ApiError.field(403, "role", f"only an admin may import, not {who.role}")


def _jobs(request: Request) -> ImportJobs:
    jobs: ImportJobs = request.app.state.imports
    return jobs


async def _state(request: Request, import_id: uuid.UUID) -> ImportState:
    row = await _jobs(request).get(import_id)
    if row is None:
        raise ApiError.field(404, "import_id", f"no import {import_id}")
    return ImportState.model_validate(row)


@router.post(
    "/imports",
    summary="Upload a placements file (or an export) with its mapping; its dry run starts",
    status_code=202,
    response_model=ImportState,
    responses=errors(401, 403, 413, 415, 422),
)
async def upload(body: ImportUpload, request: Request, who: Submitter) -> ImportState:
    _admin(who)
    try:
        content = base64.b64decode(body.content_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError.field(422, "content_base64", "is not base64") from exc
    try:
        import_id = await _jobs(request).create(
            who.name, body.file_name, content, body.mapping, body.format
        )
    except ImportRefused as exc:
        raise ApiError.field(422, exc.field, exc.reason) from exc
    return await _state(request, import_id)


@router.get(
    "/imports/{import_id}",
    summary="An import's stage, progress, dry run and outcome",
    response_model=ImportState,
    responses=errors(401, 403, 404, 422),
)
async def state(import_id: uuid.UUID, request: Request, who: Submitter) -> ImportState:
    _admin(who)
    return await _state(request, import_id)


@router.post(
    "/imports/{import_id}/commit",
    summary="Import a checked upload through the writer",
    status_code=202,
    response_model=ImportState,
    responses=errors(401, 403, 404, 409, 422),
)
async def commit(import_id: uuid.UUID, request: Request, who: Submitter) -> ImportState:
    _admin(who)
    current = await _state(request, import_id)
    if not await _jobs(request).commit(import_id, who.submitter()):
        raise ApiError.field(
            409, "stage", f"the import is {current.stage}; only a checked import can be committed"
        )
    return await _state(request, import_id)
