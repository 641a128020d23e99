-- Statutory advice: requests, exceptions, tribunal tasks, the LA's rules, and read models.

-- Each LA's figures and rules (absent row: the defaults in domain.policy.LaPolicy).
CREATE TABLE policies (
    tenant                       text PRIMARY KEY,
    advice_weeks                 integer NOT NULL CHECK (advice_weeks BETWEEN 1 AND 52),
    at_risk_days                 integer NOT NULL CHECK (at_risk_days >= 0),
    exception_rule               text    NOT NULL CHECK (exception_rule IN ('extend_by_length', 'disapply')),
    allocation_rule              text    NOT NULL CHECK (allocation_rule IN ('named_ep', 'statutory_team')),
    assessment_minutes           integer NOT NULL CHECK (assessment_minutes > 0),
    booking_margin_days          integer NOT NULL CHECK (booking_margin_days >= 0),
    tribunal_evidence_lead_days  integer NOT NULL CHECK (tribunal_evidence_lead_days >= 0),
    updated_by                   text    NOT NULL,
    updated_at                   timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Read model of scheduling's NamedEpAssigned: the history, so allocation uses the EP in post
-- on the day the request was received.
CREATE TABLE named_eps (
    tenant          text NOT NULL,
    school_urn      text NOT NULL,
    effective_from  date NOT NULL,
    ep_id           text NOT NULL,
    PRIMARY KEY (tenant, school_urn, effective_from)
);

-- Schools whose names an advice must not contain (learnt from the SEN team's requests).
CREATE TABLE known_schools (
    tenant      text NOT NULL,
    school_urn  text NOT NULL,
    name        text NOT NULL,
    PRIMARY KEY (tenant, school_urn)
);

CREATE TABLE advice (
    advice_id                uuid PRIMARY KEY,
    tenant                   text        NOT NULL,
    request_id               uuid        NOT NULL,
    la_case_ref              text        NOT NULL,
    child_id                 uuid        NOT NULL,
    child_given_name         text        NOT NULL,
    child_family_name        text        NOT NULL,
    child_date_of_birth      date        NOT NULL,
    school_urn               text,
    received_at              timestamptz NOT NULL,
    received_on              date        NOT NULL,
    assessment_requested_on  date        NOT NULL,
    advice_weeks             integer     NOT NULL,
    exception_rule           text        NOT NULL,
    status                   text        NOT NULL,
    route                    text,
    ep_id                    text,
    booking_request_id       uuid,
    booking_failure          text,
    appointment_id           uuid,
    appointment_starts_at    timestamptz,
    assessment_completed_at  timestamptz,
    document                 jsonb,
    version                  integer     NOT NULL DEFAULT 0,
    drafted_by               text,
    approved_by              text,
    submitted_on             date,
    six_week_due_on          date        NOT NULL,
    due_on                   date,        -- after exceptions; null when the limit is disapplied
    exception_applied        boolean     NOT NULL DEFAULT false,
    at_risk_raised_for       date,
    breach_raised_for        date,
    created_at               timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (tenant, request_id)
);
CREATE INDEX advice_open ON advice (tenant, due_on) WHERE status <> 'submitted';
CREATE INDEX advice_submitted ON advice (tenant, submitted_on) WHERE status = 'submitted';

CREATE TABLE advice_exceptions (
    exception_id         uuid PRIMARY KEY,
    tenant               text    NOT NULL,
    advice_id            uuid    NOT NULL REFERENCES advice (advice_id),
    kind                 text    NOT NULL,
    starts_on            date    NOT NULL,
    ends_on              date    NOT NULL CHECK (ends_on >= starts_on),
    reason               text    NOT NULL,
    evidence             text[]  NOT NULL,
    parents_notified_on  date    NOT NULL,
    recorded_on          date    NOT NULL,
    recorded_by          text    NOT NULL
);
CREATE INDEX advice_exceptions_advice ON advice_exceptions (tenant, advice_id);

CREATE TABLE tribunal_tasks (
    task_id     uuid PRIMARY KEY,
    tenant      text NOT NULL,
    appeal_id   uuid NOT NULL,
    advice_id   uuid NOT NULL REFERENCES advice (advice_id),
    kind        text NOT NULL,
    ep_id       text,
    due_on      date NOT NULL,
    UNIQUE (tenant, appeal_id, kind)
);
CREATE INDEX tribunal_tasks_ep ON tribunal_tasks (tenant, ep_id, due_on);
