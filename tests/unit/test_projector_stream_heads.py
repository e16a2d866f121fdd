"""Events that only move their stream on are applied by the projector from their head, read from
their bytes without decoding the rest (`read_stream_head`, `ReadModel.move_on`): the rows, the
changes and the `event_log` rows must be exactly those of the decoded events."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings

from events import Event
from events.catalogue import ClientContactLogged, ContractSigned
from events.serialization import encode_event, event_id_text, head_types, read_stream_head
from projections.read_model import STREAM_ONLY, ReadModel
from services.projector.copy_text import event_log_text
from services.projector.store import audit_row
from tests.support.histories import histories
from tests.support.read_model import Stream, event, snapshot

TYPES = head_types(STREAM_ONLY)


def test_the_types_that_only_move_a_stream_on() -> None:
    assert {"ClientContactLogged", "ClientComplaintLogged"} == STREAM_ONLY


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(contracts=2))
def test_heads_apply_as_the_decoded_events(log: list[Event]) -> None:
    decoded, from_heads = ReadModel(), ReadModel()
    # Each event twice: a redelivery is refused alike.
    for offset, e in enumerate(e for e in log for _ in (1, 2)):
        data = encode_event(e)
        head = read_stream_head(data, TYPES)
        assert (head is not None) == (e.type in STREAM_ONLY)
        applied = decoded.apply(e)
        if head is None:
            assert from_heads.apply(e) == applied
            continue
        assert (head.type, head.contract_id, head.stream_version) == (
            e.type,
            e.contract_id,
            e.stream_version,
        )
        assert from_heads.move_on(head.contract_id, head.stream_version) == applied
        assert audit_row(head, data, 3, offset) == audit_row(e, data, 3, offset)
    assert snapshot(from_heads) == snapshot(decoded)
    assert from_heads.take_changes() == decoded.take_changes()


def test_a_head_of_a_contract_not_held_is_not_applied() -> None:
    contact = event("ClientContactLogged", 1)
    assert isinstance(contact, ClientContactLogged)
    head = read_stream_head(encode_event(contact), TYPES)
    assert head is not None
    model = ReadModel()
    assert model.move_on(head.contract_id, head.stream_version) is model.apply(contact) is False


def test_only_the_bytes_the_writer_writes_are_read_by_their_head() -> None:
    stream = Stream()
    signed = stream.sign()
    contact = stream.add("ClientContactLogged")
    data = encode_event(contact)
    assert read_stream_head(data, TYPES) is not None
    # Another type, even when asked for.
    assert read_stream_head(encode_event(signed), TYPES) is None
    assert read_stream_head(encode_event(signed), head_types({"ContractSigned"})) is not None
    # Written otherwise (spaces), or of an older schema version (to upcast): decoded instead.
    assert read_stream_head(json.dumps(json.loads(data)).encode(), TYPES) is None
    assert isinstance(signed, ContractSigned) and signed.schema_version == 2
    older = encode_event(signed).replace(b'"schema_version":2', b'"schema_version":1')
    assert read_stream_head(older, head_types({"ContractSigned"})) is None
    assert read_stream_head(b"", TYPES) is None
    assert read_stream_head(b"not json at all", TYPES) is None


def test_a_head_row_of_event_log_escapes_as_the_decoded_ones() -> None:
    stream = Stream()
    stream.sign()
    contact = stream.add("ClientContactLogged", note='a tab\there, a "quote" and a \\ backslash')
    data = encode_event(contact)
    head = read_stream_head(data, TYPES)
    assert head is not None
    row = event_log_text(list(audit_row(head, data, 0, 7)))
    assert row == event_log_text(list(audit_row(contact, data, 0, 7)))
    assert row.endswith(b"\n") and row.count(b"\n") == 1 and row.count(b"\t") == 8
    assert b"\\\\t" in row and b"\\\\\\\\" in row


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(contracts=2))
def test_ids_read_from_the_bytes_apply_as_the_decoded_ones(log: list[Event]) -> None:
    plain, from_bytes = ReadModel(), ReadModel()
    for e in log:
        data = encode_event(e)
        text = event_id_text(data)
        # Read whenever it has a letter (one of digits alone is left to `str`).
        assert text == (str(e.event_id) if e.event_id.hex.strip("0123456789") else None)
        assert from_bytes.apply(e, text) == plain.apply(e)
    assert snapshot(from_bytes) == snapshot(plain)
    assert from_bytes.take_changes() == plain.take_changes()


def test_an_id_is_read_from_the_bytes_only_as_str_writes_it() -> None:
    data = encode_event(event("ClientContactLogged", 1))
    at = data.index(b'"event_id":"') + 12
    assert event_id_text(data) == data[at : at + 36].decode()
    upper = data[:at] + data[at : at + 36].upper() + data[at + 36 :]
    assert event_id_text(upper) is None
    digits = data[:at] + b"12345678-1234-4234-8234-123456789012" + data[at + 36 :]
    assert event_id_text(digits) is None
    assert event_id_text(json.dumps(json.loads(data), indent=1).encode()) is None
    assert event_id_text(b"") is None
