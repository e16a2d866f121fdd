-- The risk agent's generation in force per topic prefix (services/risk/generations.py): its
-- Faust app id, consumer group and table changelog are named after it (services/risk/names.py).
-- `ledger risk rebuild` judges the log into generation `attempted` beside the live agents, then
-- sets `generation` to it; running agents notice and restart into it. No row: generation 0.
-- Every statement may run again (IF NOT EXISTS).
CREATE TABLE IF NOT EXISTS risk_generations (
    topic_prefix text PRIMARY KEY,
    generation   int NOT NULL DEFAULT 0,
    -- The highest generation a rebuild began: an abandoned rebuild's topics are never reused.
    attempted    int NOT NULL DEFAULT 0,
    swapped_at   timestamptz
);
