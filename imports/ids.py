"""Ids an import derives from its source, so that running it again derives the same ones.

An event's id is a UUID 5 of (source, the source record's id, what the event is): the second
run of an import submits the same ids, which the writer recognises as duplicates, and a run
stopped half-way finishes where it stopped. Ids of contracts, assignments and staffers are the
source's own when they fit the catalogue's id pattern, else a readable slug with a digest of
the original (so two names that slug alike stay apart).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Final

NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "markup-ledger:import")
_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_NOT_ID: Final = re.compile(r"[^A-Za-z0-9._:-]+")
_SEP: Final = "\x1f"  # a character no source id, record id or event name contains


def event_id(source: str, record: str, what: str) -> uuid.UUID:
    """The id of the event `what` of record `record` of `source`: the same inputs, the same id."""
    return uuid.uuid5(NAMESPACE, _SEP.join((source, record, what)))


def safe_id(text: str, prefix: str = "") -> str:
    """`prefix + text` when it is a valid catalogue id, else a slug of it with a digest."""
    whole = prefix + text
    if _ID.fullmatch(whole):
        return whole
    slug = _NOT_ID.sub("-", text).strip("-")[:40] or "x"
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return f"{prefix}{slug}-{digest}"[:64]


__all__ = ["NAMESPACE", "event_id", "safe_id"]
