-- Billing: tariffs (per-LA data), agreements, delivered time, prices, ledger and documents.

-- One row per local authority and span of dates; the rules are data (see domain/tariff.py).
CREATE TABLE tariffs (
    tenant          text  NOT NULL,
    effective_from  date  NOT NULL,
    effective_to    date  NOT NULL,
    rules           jsonb NOT NULL,
    PRIMARY KEY (tenant, effective_from),
    CHECK (effective_to >= effective_from)
);

INSERT INTO tariffs (tenant, effective_from, effective_to, rules) VALUES
('leicester-city', '2025-09-01', '2026-08-31', '{
  "spot_units": [{"name": "hour", "minutes": 60, "pence": 15000},
                 {"name": "half day", "minutes": 180, "pence": 40000},
                 {"name": "day", "minutes": 360, "pence": 70000}],
  "sla": {"day_minutes": 360, "day_pence": 65000, "min_days": 5, "max_days": 30,
          "carry_over": true},
  "critical_incident": "free",
  "cancellation_full_charge_days": 14,
  "billing_period_months": 1,
  "grace_days": 5}'),
('nottingham-city', '2025-09-01', '2026-08-31', '{
  "spot_units": [{"name": "session", "minutes": 180, "pence": 39300}],
  "sla": {"day_minutes": 360, "day_pence": 78600, "min_days": 3, "max_days": 40,
          "carry_over": false},
  "critical_incident": "traded",
  "cancellation_full_charge_days": 14,
  "billing_period_months": 3,
  "grace_days": 10}');

-- A school's SLA for a span of dates (an academic year); minutes include any carry-over.
CREATE TABLE agreements (
    agreement_id      uuid PRIMARY KEY,
    tenant            text    NOT NULL,
    school_urn        text    NOT NULL,
    valid_from        date    NOT NULL,
    valid_to          date    NOT NULL,
    days              integer NOT NULL,
    day_pence         integer NOT NULL,
    minutes           integer NOT NULL,
    carried_minutes   integer NOT NULL DEFAULT 0,
    drawn_minutes     integer NOT NULL DEFAULT 0,
    -- draw order of the last delivery priced against it (for pricing new deliveries only)
    last_recorded_at  timestamptz,
    last_delivery_id  uuid,
    -- draw order of the delivery that used the last SLA minute: every delivery drawn after it
    -- drew nothing, so a change to one of those re-prices it alone
    exhausted_recorded_at  timestamptz,
    exhausted_delivery_id  uuid,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (tenant, school_urn, valid_from)
);

-- Delivered time as scheduling recorded it; corrections and voids are kept apart, so that
-- one arriving before its delivery waits for it.
CREATE TABLE deliveries (
    tenant          text    NOT NULL,
    delivery_id     uuid    NOT NULL,
    school_urn      text    NOT NULL,
    delivered_on    date    NOT NULL,
    minutes         integer NOT NULL,
    funding_stream  text    NOT NULL,
    recorded_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant, delivery_id)
);
CREATE INDEX deliveries_school ON deliveries (tenant, school_urn, delivered_on);

CREATE TABLE delivery_changes (
    tenant          text    NOT NULL,
    delivery_id     uuid    NOT NULL,
    change_id       uuid    NOT NULL,
    at              timestamptz NOT NULL,
    minutes         integer,
    funding_stream  text,
    voided          boolean NOT NULL,
    reason          text    NOT NULL,
    PRIMARY KEY (tenant, delivery_id, change_id)
);

-- What each delivery costs now.
CREATE TABLE priced_deliveries (
    tenant        text    NOT NULL,
    delivery_id   uuid    NOT NULL,
    sla_minutes   integer NOT NULL,
    spot_minutes  integer NOT NULL,
    pence         bigint  NOT NULL,
    units         jsonb   NOT NULL,
    PRIMARY KEY (tenant, delivery_id)
);

-- Append-only: every change of a delivery's price. Settled when its period closes.
CREATE TABLE ledger_lines (
    line_id       bigserial PRIMARY KEY,
    tenant        text    NOT NULL,
    school_urn    text    NOT NULL,
    delivery_id   uuid    NOT NULL,
    delivered_on  date    NOT NULL,
    period_start  date    NOT NULL,
    pence         bigint  NOT NULL,
    sla_minutes   integer NOT NULL,
    spot_minutes  integer NOT NULL,
    description   text    NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    settled_on    date,
    document_id   uuid
);
CREATE INDEX ledger_lines_open ON ledger_lines (tenant, school_urn) WHERE settled_on IS NULL;

-- Periods finalised per LA: a later event for one of them goes on the next invoice.
CREATE TABLE finalised_periods (
    tenant        text NOT NULL,
    period_start  date NOT NULL,
    period_end    date NOT NULL,
    finalised_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant, period_start)
);

-- Gapless numbers: the row is locked by the finalising transaction (UPDATE ... RETURNING).
CREATE TABLE document_counters (
    tenant  text   NOT NULL,
    kind    text   NOT NULL,
    last    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, kind)
);

CREATE TABLE documents (
    document_id   uuid PRIMARY KEY,
    tenant        text   NOT NULL,
    kind          text   NOT NULL,
    number        text   NOT NULL,
    school_urn    text   NOT NULL,
    period_start  date   NOT NULL,
    period_end    date   NOT NULL,
    issued_on     date   NOT NULL,
    total_pence   bigint NOT NULL,
    UNIQUE (tenant, number)
);
CREATE INDEX documents_school ON documents (tenant, school_urn, period_start);

CREATE TABLE document_lines (
    document_id   uuid    NOT NULL REFERENCES documents (document_id),
    line_no       integer NOT NULL,
    delivery_id   uuid    NOT NULL,
    delivered_on  date    NOT NULL,
    description   text    NOT NULL,
    sla_minutes   integer NOT NULL,
    pence         bigint  NOT NULL,
    adjustment    boolean NOT NULL,
    PRIMARY KEY (document_id, line_no)
);
CREATE INDEX document_lines_delivery ON document_lines (delivery_id);
