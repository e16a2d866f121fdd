from __future__ import annotations

import pytest

from services.settings import Settings


def test_environment_points_the_service_at_other_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.internal:9092")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:s3cret@db.internal/ledger")
    s = Settings()
    assert s.kafka_bootstrap_servers == "kafka.internal:9092"
    assert s.dsn == "postgresql://u:s3cret@db.internal/ledger"
    # The password must never reach a log line through the settings' repr.
    assert "s3cret" not in repr(s)
