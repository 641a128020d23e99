-- Tariffs kept over HTTP (drafts, who and when, their history), time that cannot be priced yet
-- held as unpriced (never dead-lettered), the schools billing has heard of, and each SLA's
-- status and what the other services were last told about it.

-- Tariffs: an id for the API; a draft prices nothing until it is confirmed. The seeded rows
-- are confirmed, as they always were in force.
ALTER TABLE tariffs
    ADD COLUMN tariff_id            uuid        NOT NULL DEFAULT gen_random_uuid(),
    ADD COLUMN status               text        NOT NULL DEFAULT 'confirmed'
        CHECK (status IN ('draft', 'confirmed')),
    ADD COLUMN revision             integer     NOT NULL DEFAULT 1,
    ADD COLUMN created_by           text        NOT NULL DEFAULT 'migration',
    ADD COLUMN created_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    ADD COLUMN confirmed_by         text,
    ADD COLUMN confirmed_at         timestamptz,
    ADD COLUMN carried_forward_from uuid;
UPDATE tariffs SET confirmed_by = created_by, confirmed_at = created_at;
CREATE UNIQUE INDEX tariffs_id ON tariffs (tariff_id);

-- Every version of every tariff, and who did what to it when (created, carried forward,
-- replaced, confirmed): a replaced tariff's rules stay readable.
CREATE TABLE tariff_history (
    history_id      bigserial   PRIMARY KEY,
    tenant          text        NOT NULL,
    tariff_id       uuid        NOT NULL,
    action          text        NOT NULL,
    revision        integer     NOT NULL,
    status          text        NOT NULL,
    effective_from  date        NOT NULL,
    effective_to    date        NOT NULL,
    rules           jsonb       NOT NULL,
    actor           text        NOT NULL,
    at              timestamptz NOT NULL
);
CREATE INDEX tariff_history_tariff ON tariff_history (tenant, tariff_id, history_id);
INSERT INTO tariff_history (tenant, tariff_id, action, revision, status, effective_from,
                            effective_to, rules, actor, at)
SELECT tenant, tariff_id, 'created', revision, status, effective_from, effective_to, rules,
       created_by, created_at
FROM tariffs;

-- Schools billing has heard of (scheduling's NamedEpAssigned: every registered school gets
-- one). A school that already has an SLA or delivered time was known before this table.
CREATE TABLE schools (
    tenant       text        NOT NULL,
    school_urn   text        NOT NULL,
    known_since  timestamptz NOT NULL,
    PRIMARY KEY (tenant, school_urn)
);
INSERT INTO schools (tenant, school_urn, known_since)
SELECT tenant, school_urn, clock_timestamp()
FROM (SELECT tenant, school_urn FROM agreements
      UNION SELECT tenant, school_urn FROM deliveries) AS seen;

-- Delivered time that needs a tariff where none is confirmed: stored, held with the reason,
-- and priced when one is.
ALTER TABLE deliveries
    ADD COLUMN held_reason text,
    ADD COLUMN held_since  timestamptz;
CREATE INDEX deliveries_held ON deliveries (tenant, delivered_on) WHERE held_reason IS NOT NULL;

-- A traded cancellation with no tariff to judge its notice by waits, unjudged.
ALTER TABLE cancellations
    ALTER COLUMN charged_minutes DROP NOT NULL,
    ALTER COLUMN decision DROP NOT NULL,
    ADD COLUMN held_reason text,
    ADD COLUMN held_since  timestamptz,
    ADD CHECK (held_reason IS NOT NULL OR (decision IS NOT NULL AND charged_minutes IS NOT NULL));
CREATE INDEX cancellations_held ON cancellations (tenant) WHERE held_reason IS NOT NULL;

-- SLAs: unpriced (held, with why), priced or cancelled. The day's length and price are the
-- tariff's, set when it is priced. announced_* is what the other services were last told
-- (eps.billing.agreements.v1); pending_reasons say why it changed since.
ALTER TABLE agreements
    ADD COLUMN status            text        NOT NULL DEFAULT 'priced'
        CHECK (status IN ('unpriced', 'priced', 'cancelled')),
    ADD COLUMN held_kind         text,
    ADD COLUMN held_reason       text,
    ADD COLUMN held_since        timestamptz,
    ADD COLUMN day_minutes       integer,
    ALTER COLUMN day_pence DROP NOT NULL,
    ADD COLUMN bought_by         text,
    ADD COLUMN bought_at         timestamptz,
    ADD COLUMN priced_at         timestamptz,
    ADD COLUMN cancelled_by      text,
    ADD COLUMN cancelled_at      timestamptz,
    ADD COLUMN cancel_reason     text,
    ADD COLUMN announced_status  text,
    ADD COLUMN announced_days    integer,
    ADD COLUMN announced_minutes integer,
    ADD COLUMN pending_reasons   text[]      NOT NULL DEFAULT '{}';
UPDATE agreements SET day_minutes = (minutes - carried_minutes) / days, bought_at = created_at,
                      priced_at = created_at;
-- one SLA in force (or waiting) per school and year; a cancelled one may be bought again
ALTER TABLE agreements DROP CONSTRAINT agreements_tenant_school_urn_valid_from_key;
CREATE UNIQUE INDEX agreements_current ON agreements (tenant, school_urn, valid_from)
    WHERE status <> 'cancelled';
CREATE INDEX agreements_unpriced ON agreements (tenant, valid_from) WHERE status = 'unpriced';
-- what has not been announced yet (the SLAs bought before the announcements existed, at first)
CREATE INDEX agreements_unannounced ON agreements (tenant)
    WHERE status <> 'unpriced' AND (announced_status IS DISTINCT FROM status
        OR announced_days IS DISTINCT FROM days OR announced_minutes IS DISTINCT FROM minutes);
