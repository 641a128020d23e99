-- The lifecycle state of each referral, its history, and local read models.
ALTER TABLE referrals
    ADD COLUMN requester_id        text,
    ADD COLUMN named_ep_id         text,
    ADD COLUMN paused_stage        text,
    ADD COLUMN consent_involvement text    NOT NULL DEFAULT 'awaiting',
    ADD COLUMN consent_valid       boolean NOT NULL DEFAULT false,
    ADD COLUMN consent_reason      text,
    ADD COLUMN duplicate_of        uuid,
    ADD COLUMN feedback            jsonb,
    ADD COLUMN updated_at          timestamptz NOT NULL DEFAULT clock_timestamp();
CREATE INDEX referrals_open_by_child
    ON referrals (tenant, child_id, requester_id)
    WHERE status NOT IN ('declined', 'redirected', 'closed', 'duplicate');
CREATE INDEX referrals_by_school ON referrals (tenant, school_urn, status);

-- Every event of a referral, in order: the history shown with the referral.
CREATE TABLE referral_history (
    id           bigserial   PRIMARY KEY,
    tenant       text        NOT NULL,
    referral_id  uuid        NOT NULL,
    event_type   text        NOT NULL,
    data         jsonb       NOT NULL,
    actor        text        NOT NULL,
    at           timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX referral_history_referral ON referral_history (tenant, referral_id, id);

-- Read model of scheduling's NamedEpAssigned: each school's named EP.
CREATE TABLE named_eps (
    tenant          text NOT NULL,
    school_urn      text NOT NULL,
    ep_id           text NOT NULL,
    effective_from  date NOT NULL,
    PRIMARY KEY (tenant, school_urn)
);

-- Read model of consent's ConsentStatusChanged, kept even before the referral is known.
CREATE TABLE consent_statuses (
    tenant             text    NOT NULL,
    referral_id        uuid    NOT NULL,
    involvement        text    NOT NULL,
    involvement_valid  boolean NOT NULL,
    reason             text,
    PRIMARY KEY (tenant, referral_id)
);

-- Each local authority's minimum graduated-approach evidence for a school's request; the '*'
-- row applies to any LA without its own.
CREATE TABLE graduated_approach_minimums (
    tenant                 text    PRIMARY KEY,
    review_cycles          integer NOT NULL CHECK (review_cycles >= 0),
    strategies             integer NOT NULL CHECK (strategies >= 0),
    months_on_sen_support  integer NOT NULL CHECK (months_on_sen_support >= 0)
);
INSERT INTO graduated_approach_minimums VALUES ('*', 2, 1, 0);
