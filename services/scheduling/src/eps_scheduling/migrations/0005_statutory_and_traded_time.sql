-- Statutory assessment bookings carry the advice request they serve: their lawful basis is
-- the LA's request under the SEND Regulations, not casework consent.
ALTER TABLE appointments ADD COLUMN advice_id uuid;
CREATE INDEX appointments_advice ON appointments (tenant, advice_id) WHERE advice_id IS NOT NULL;

-- Read model of statutory advice requests: open until submitted or withdrawn.
CREATE TABLE advice_requests (
    tenant      text        NOT NULL,
    advice_id   uuid        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('open', 'submitted', 'withdrawn')),
    changed_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant, advice_id)
);

-- Traded time: an SLA bought in billing arrives by event (source 'billing_sla', its id the
-- agreement's, its minutes always billing's latest); time bought outside billing is entered
-- here directly (source 'direct').
ALTER TABLE traded_purchases ADD COLUMN source text NOT NULL DEFAULT 'direct'
    CHECK (source IN ('direct', 'billing_sla'));
ALTER TABLE traded_purchases DROP CONSTRAINT traded_purchases_minutes_check;
ALTER TABLE traded_purchases ADD CONSTRAINT traded_purchases_minutes_check CHECK (minutes >= 0);
