CREATE TABLE consent_cases (
    referral_id  uuid PRIMARY KEY,
    tenant       text        NOT NULL,
    child_id     uuid        NOT NULL,
    consenters   text[]      NOT NULL,
    state        text        NOT NULL,
    opened_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
