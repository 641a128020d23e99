-- What consent rules need about the child, the last published status, and when time alone
-- may change it (the expiry job reads reassess_on).
ALTER TABLE consent_cases
    ADD COLUMN child_date_of_birth  date,
    ADD COLUMN looked_after         boolean NOT NULL DEFAULT false,
    ADD COLUMN pr_holder_ids        text[]  NOT NULL DEFAULT '{}',
    ADD COLUMN social_worker_id     text,
    ADD COLUMN school_urn           text,
    ADD COLUMN involvement_valid    boolean NOT NULL DEFAULT false,
    ADD COLUMN valid_until          date,
    ADD COLUMN sharing_agencies     text[]  NOT NULL DEFAULT '{}',
    ADD COLUMN reassess_on          date;
CREATE INDEX consent_cases_reassess ON consent_cases (reassess_on) WHERE reassess_on IS NOT NULL;
CREATE INDEX consent_cases_tenant ON consent_cases (tenant, referral_id);

CREATE TABLE consent_decisions (
    seq           bigserial   PRIMARY KEY,
    decision_id   uuid        NOT NULL UNIQUE,
    tenant        text        NOT NULL,
    referral_id   uuid        NOT NULL REFERENCES consent_cases (referral_id),
    consenter_id  text        NOT NULL,
    scope         text        NOT NULL,
    agency        text,
    decision      text        NOT NULL,
    method        text        NOT NULL,
    decided_on    date        NOT NULL,
    evidence_ref  text,
    expires_on    date,
    recorded_by   text        NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX consent_decisions_case ON consent_decisions (tenant, referral_id, seq);

CREATE TABLE capacity_assessments (
    id            bigserial   PRIMARY KEY,
    tenant        text        NOT NULL,
    referral_id   uuid        NOT NULL REFERENCES consent_cases (referral_id),
    scope         text        NOT NULL,
    has_capacity  boolean     NOT NULL,
    assessed_on   date        NOT NULL,
    assessor_id   text        NOT NULL,
    evidence_ref  text        NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX capacity_assessments_case ON capacity_assessments (tenant, referral_id, id);

-- Each local authority's consent settings; the '*' row is the default for any LA without one.
CREATE TABLE consent_policies (
    tenant                         text PRIMARY KEY,
    looked_after_reconsent_months  integer NOT NULL CHECK (looked_after_reconsent_months > 0),
    default_reconsent_months       integer CHECK (default_reconsent_months > 0)
);
INSERT INTO consent_policies (tenant, looked_after_reconsent_months, default_reconsent_months)
VALUES ('*', 24, NULL);
