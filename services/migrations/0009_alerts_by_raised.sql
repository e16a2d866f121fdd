-- The alert board lists alerts in the order they were raised, newest first (issue #21: they
-- were listed in the order they were stored, which a replay or an event dated back differs from).
CREATE INDEX IF NOT EXISTS alerts_by_raised ON alerts (raised_at DESC, seq DESC);
