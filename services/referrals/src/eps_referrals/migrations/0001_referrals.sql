CREATE TABLE referrals (
    referral_id  uuid PRIMARY KEY,
    tenant       text        NOT NULL,
    request_id   uuid        NOT NULL,
    child_id     uuid        NOT NULL,
    status       text        NOT NULL,
    received_on  date        NOT NULL,
    school_urn   text,
    request      jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (tenant, request_id)
);
CREATE INDEX referrals_child ON referrals (tenant, child_id);
