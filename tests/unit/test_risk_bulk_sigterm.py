"""A bulk pass in child processes (LEDGER_RISK_BULK_PROCESSES > 1) is stopped with its children:
while it runs, SIGTERM ends the parent by SystemExit (its `finally`, or multiprocessing's exit
handler, then terminates and waits for the children) instead of killing it at once and leaving
them judging and committing as orphans."""

from __future__ import annotations

import signal

import pytest

from services.risk.bulk import _StopChildren


def test_sigterm_while_children_judge_exits_cleanly_then_the_handler_is_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    stopping = _StopChildren()
    try:
        with pytest.raises(SystemExit) as stopped:
            signal.raise_signal(signal.SIGTERM)
        assert stopped.value.code == 128 + signal.SIGTERM
    finally:
        stopping.close()
    assert signal.getsignal(signal.SIGTERM) == before
