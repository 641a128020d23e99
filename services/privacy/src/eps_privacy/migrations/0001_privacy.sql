-- What privacy knows of each child: their date of birth (retention is counted from it), learnt
-- from the referrals and statutory events, or rectified.
CREATE TABLE children (
    tenant         text        NOT NULL,
    child_id       uuid        NOT NULL,
    date_of_birth  date,
    known_from     text        NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant, child_id)
);
CREATE UNIQUE INDEX children_one_local_authority ON children (child_id);

-- Each LA's retention schedule (none: the defaults of domain/rules.py).
CREATE TABLE retention_schedules (
    tenant    text  PRIMARY KEY,
    schedule  jsonb NOT NULL
);

CREATE TABLE subject_access_requests (
    request_id        uuid PRIMARY KEY,
    tenant            text        NOT NULL,
    child_id          uuid        NOT NULL,
    requester         text        NOT NULL,
    received_on       date        NOT NULL,
    due_on            date        NOT NULL,
    extension_months  integer     NOT NULL DEFAULT 0,
    extension_reason  text,
    status            text        NOT NULL CHECK (status IN ('open', 'answered')),
    opened_by         text        NOT NULL,
    reminded_for      date,
    answered_on       date,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX subject_access_open ON subject_access_requests (tenant, due_on) WHERE status = 'open';

-- A legal hold suspends erasure of the child's records (a tribunal, an inquiry).
CREATE TABLE legal_holds (
    hold_id      uuid PRIMARY KEY,
    tenant       text        NOT NULL,
    child_id     uuid        NOT NULL,
    reason       text        NOT NULL,
    placed_by    text        NOT NULL,
    held_from    date        NOT NULL,
    placed_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    lifted_by    text,
    lifted_at    timestamptz,
    lift_reason  text
);
CREATE INDEX legal_holds_active ON legal_holds (tenant, child_id) WHERE lifted_at IS NULL;

-- Each erasure ordered, under which rule, and each service's confirmation.
CREATE TABLE erasures (
    erasure_id    uuid PRIMARY KEY,
    tenant        text        NOT NULL,
    child_id      uuid        NOT NULL,
    rule          text        NOT NULL,
    record_type   text        NOT NULL,
    due_on        date        NOT NULL,
    ordered_at    timestamptz NOT NULL,
    awaiting      text[]      NOT NULL,
    completed_at  timestamptz,
    key_shredded  boolean     NOT NULL DEFAULT false,
    UNIQUE (tenant, child_id, record_type)
);
CREATE TABLE erasure_confirmations (
    erasure_id  uuid        NOT NULL REFERENCES erasures (erasure_id),
    service     text        NOT NULL,
    rows        integer     NOT NULL,
    at          timestamptz NOT NULL,
    PRIMARY KEY (erasure_id, service)
);
