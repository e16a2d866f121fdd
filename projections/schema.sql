-- The margin read models. {schema} is `proj` for the live tables, or `proj_next` while
-- `ledger projections rebuild` builds their replacement beside them.
-- Every row records the stream version it has applied; `positions` holds, per partition of the
-- events topic, the next offset to apply, written in the same transaction as the rows.
CREATE SCHEMA {schema};

CREATE TABLE {schema}.meta (
    id           int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    generation   bigint NOT NULL,
    events_topic text NOT NULL,
    layout       text NOT NULL,  -- services.projector.store.layout(): a fingerprint of this file
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {schema}.positions (
    partition   int PRIMARY KEY,
    next_offset bigint NOT NULL
);

CREATE TABLE {schema}.contracts (
    contract_id                       text PRIMARY KEY,
    stream_version                    int NOT NULL,
    client_id                         text NOT NULL,
    client_name                       text NOT NULL,
    account_manager_id                text NOT NULL,
    status                            text NOT NULL,
    start_date                        date NOT NULL,
    end_date                          date,
    markup_floor_pct                  numeric NOT NULL,
    burden_pct                        numeric NOT NULL,
    msp_fee_pct                       numeric NOT NULL,
    min_assignment_weeks              int,
    conversion_fee_pct                numeric NOT NULL,
    conversion_fee_waived_after_hours numeric,
    non_solicit_months                int NOT NULL,
    ot_bill_multiplier                numeric NOT NULL,
    dt_bill_multiplier                numeric NOT NULL,
    terminated_on                     date
);
CREATE INDEX ON {schema}.contracts (client_id);
CREATE INDEX ON {schema}.contracts (account_manager_id);

-- The pricing terms as signed (kind 'signed', every term), and what each amendment changed
-- from its effective date (kind 'amended', NULL: a term it left alone). The terms in force on a
-- date are folded from these rows when read (projections.read_model.terms_in_force).
CREATE TABLE {schema}.terms_history (
    contract_id                       text NOT NULL,
    effective_date                    date NOT NULL,
    stream_version                    int NOT NULL,
    kind                              text NOT NULL CHECK (kind IN ('signed', 'amended')),
    burden_pct                        numeric,
    msp_fee_pct                       numeric,
    markup_floor_pct                  numeric,
    conversion_fee_pct                numeric,
    conversion_fee_waived_after_hours numeric,
    ot_bill_multiplier                numeric,
    dt_bill_multiplier                numeric,
    PRIMARY KEY (contract_id, stream_version)
);

CREATE TABLE {schema}.assignments (
    contract_id       text NOT NULL,
    assignment_id     text NOT NULL,
    stream_version    int NOT NULL,
    staffer_id        text NOT NULL,
    staffer_name      text,
    job_title         text NOT NULL,
    status            text NOT NULL,
    pay_rate          numeric NOT NULL,
    bill_rate         numeric NOT NULL,
    rates_effective   date NOT NULL,
    burden_pct        numeric,
    hours_per_week    numeric NOT NULL,
    start_date        date NOT NULL,
    expected_end_date date NOT NULL,
    end_date          date,
    end_reason        text,
    planned_ot_hours_per_week numeric NOT NULL,
    ot_exempt         boolean NOT NULL,
    PRIMARY KEY (contract_id, assignment_id)
);
CREATE INDEX ON {schema}.assignments (assignment_id);

CREATE TABLE {schema}.rate_history (
    contract_id    text NOT NULL,
    assignment_id  text NOT NULL,
    effective_date date NOT NULL,
    stream_version int NOT NULL,
    pay_rate       numeric NOT NULL,
    bill_rate      numeric NOT NULL,
    event_id       uuid NOT NULL,
    -- The OT and DT rates as the event gave them; NULL: derived from its pay and bill with
    -- the contract's multipliers in force on the day asked about.
    ot_pay_rate    numeric,
    ot_bill_rate   numeric,
    dt_pay_rate    numeric,
    dt_bill_rate   numeric,
    PRIMARY KEY (contract_id, assignment_id, stream_version)
);

CREATE TABLE {schema}.margin_impacts (
    event_id                     uuid NOT NULL,
    assignment_id                text NOT NULL,
    contract_id                  text NOT NULL,
    stream_version               int NOT NULL,
    event_type                   text NOT NULL,
    basis                        text NOT NULL,
    counted_from                 date NOT NULL,
    occurred_at                  timestamptz NOT NULL,
    -- The facts the impact is computed from; its figures (markup, margin per hour, weekly
    -- and remaining gross profit before, after and their deltas) are derived when read.
    before_pay_rate              numeric NOT NULL,
    before_bill_rate             numeric NOT NULL,
    after_pay_rate               numeric NOT NULL,
    after_bill_rate              numeric NOT NULL,
    burden_pct                   numeric NOT NULL,
    msp_fee_pct                  numeric NOT NULL,
    hours_per_week               numeric NOT NULL,
    start_date                   date NOT NULL,
    expected_end_date            date NOT NULL,
    planned_ot_hours_per_week    numeric NOT NULL,
    ot_exempt                    boolean NOT NULL,
    before_ot_pay_rate           numeric,  -- in force, given or derived; NULL when ot_exempt
    before_ot_bill_rate          numeric,
    after_ot_pay_rate            numeric,
    after_ot_bill_rate           numeric,
    PRIMARY KEY (contract_id, event_id, assignment_id)
);
CREATE INDEX ON {schema}.margin_impacts (contract_id, stream_version);

-- The hours each assignment worked per week, as last reported (HoursReported; a later report
-- of the week replaces the earlier: `reports` > 1 is a corrected week). Actual gross profit is
-- computed when read, at the rates in force that week (projections.actuals).
CREATE TABLE {schema}.hours_reported (
    contract_id    text NOT NULL,
    assignment_id  text NOT NULL,
    week           date NOT NULL,
    stream_version int NOT NULL,
    regular_hours  numeric NOT NULL,
    ot_hours       numeric NOT NULL,
    dt_hours       numeric NOT NULL,
    source         text NOT NULL,
    event_id       uuid NOT NULL,
    reports        int NOT NULL,
    PRIMARY KEY (contract_id, assignment_id, week)
);
CREATE INDEX ON {schema}.hours_reported (assignment_id);

CREATE TABLE {schema}.open_items (
    contract_id    text NOT NULL,
    kind           text NOT NULL,
    item_id        text NOT NULL,
    assignment_id  text,
    opened_version int NOT NULL,
    PRIMARY KEY (contract_id, kind, item_id)
);

-- The audit index: a copy of each event the projector applied (every accepted event of the
-- log, in each contract's order), as the log holds it and where, written in the same
-- transaction as the rows and positions. `GET /v1/events?contract_id=` pages through it by
-- stream version instead of scanning the contract's partition.
CREATE TABLE {schema}.event_log (
    contract_id     text COLLATE "C" NOT NULL,  -- compared byte by byte: ids are ASCII
    stream_version  int NOT NULL,
    event_id        uuid NOT NULL,
    event_type      text NOT NULL,
    kafka_partition int NOT NULL,
    kafka_offset    bigint NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz,
    body            text NOT NULL,  -- the event's JSON text as in the log (upcast when read)
    PRIMARY KEY (contract_id, stream_version)
);
