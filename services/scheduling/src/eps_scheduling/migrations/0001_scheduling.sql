-- Scheduling: EPs, schools, appointments, delivered time, and read models of consent/referrals.

-- btree_gist lets one exclusion constraint mix equality (tenant, EP) with range overlap.
-- Extensions are per database: it lives in public so every schema's constraint can use it.
CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public;

-- Each LA's scheduling figures (absent row: the defaults in domain.model.Policy).
CREATE TABLE policies (
    tenant                    text PRIMARY KEY,
    travel_buffer_minutes     integer NOT NULL CHECK (travel_buffer_minutes >= 0),
    slot_step_minutes         integer NOT NULL CHECK (slot_step_minutes > 0),
    fast_track_step_minutes   integer NOT NULL CHECK (fast_track_step_minutes > 0),
    planning_meeting_minutes  integer NOT NULL CHECK (planning_meeting_minutes > 0),
    reschedule_horizon_days   integer NOT NULL CHECK (reschedule_horizon_days > 0),
    autumn_term               jsonb   NOT NULL,
    spring_term               jsonb   NOT NULL
);

CREATE TABLE eps (
    tenant                   text    NOT NULL,
    ep_id                    text    NOT NULL,
    role                     text    NOT NULL,
    working_pattern          jsonb   NOT NULL,
    weekly_capacity_minutes  integer NOT NULL CHECK (weekly_capacity_minutes > 0),
    base_latitude            double precision NOT NULL,
    base_longitude           double precision NOT NULL,
    on_rota                  boolean NOT NULL,
    active                   boolean NOT NULL DEFAULT true,
    PRIMARY KEY (tenant, ep_id)
);
CREATE INDEX eps_rota ON eps (tenant) WHERE on_rota AND active;

CREATE TABLE schools (
    tenant          text NOT NULL,
    school_urn      text NOT NULL,
    latitude        double precision NOT NULL,
    longitude       double precision NOT NULL,
    named_ep_id     text NOT NULL,
    named_ep_from   date NOT NULL,
    PRIMARY KEY (tenant, school_urn),
    FOREIGN KEY (tenant, named_ep_id) REFERENCES eps (tenant, ep_id)
);

CREATE TABLE core_allocations (
    tenant         text    NOT NULL,
    school_urn     text    NOT NULL,
    academic_year  integer NOT NULL,
    core_minutes   integer NOT NULL CHECK (core_minutes >= 0),
    PRIMARY KEY (tenant, school_urn, academic_year),
    FOREIGN KEY (tenant, school_urn) REFERENCES schools (tenant, school_urn)
);

CREATE TABLE traded_purchases (
    tenant         text    NOT NULL,
    purchase_id    uuid    NOT NULL,
    school_urn     text    NOT NULL,
    academic_year  integer NOT NULL,
    minutes        integer NOT NULL CHECK (minutes > 0),
    PRIMARY KEY (tenant, purchase_id),
    FOREIGN KEY (tenant, school_urn) REFERENCES schools (tenant, school_urn)
);

CREATE TABLE appointments (
    appointment_id  uuid PRIMARY KEY,
    tenant          text        NOT NULL,
    ep_id           text        NOT NULL,
    kind            text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('booked', 'cancelled', 'completed')),
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    funding_stream  text        NOT NULL,
    place           text,
    school_urn      text,
    academic_year   integer     NOT NULL,
    referral_id     uuid,
    child_id        uuid,
    case_ref        text,
    request_id      uuid,
    reason          text,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (ends_at > starts_at),
    FOREIGN KEY (tenant, ep_id) REFERENCES eps (tenant, ep_id),
    -- The guarantee behind atomic booking: one EP is never in two places at once.
    CONSTRAINT appointments_no_double_booking EXCLUDE USING gist (
        tenant WITH =, ep_id WITH =, tstzrange(starts_at, ends_at) WITH &&
    ) WHERE (status <> 'cancelled'),
    UNIQUE (tenant, request_id)
);
CREATE INDEX appointments_referral ON appointments (tenant, referral_id) WHERE referral_id IS NOT NULL;
CREATE INDEX appointments_child ON appointments (tenant, child_id) WHERE child_id IS NOT NULL;
CREATE INDEX appointments_school_year ON appointments (tenant, school_urn, academic_year);

CREATE TABLE planning_meetings (
    tenant          text    NOT NULL,
    school_urn      text    NOT NULL,
    academic_year   integer NOT NULL,
    term            text    NOT NULL CHECK (term IN ('autumn', 'spring')),
    appointment_id  uuid    REFERENCES appointments (appointment_id),
    PRIMARY KEY (tenant, school_urn, academic_year, term)
);

CREATE TABLE deliveries (
    delivery_id     uuid PRIMARY KEY,
    tenant          text    NOT NULL,
    appointment_id  uuid    NOT NULL UNIQUE REFERENCES appointments (appointment_id),
    school_urn      text    NOT NULL,
    referral_id     uuid,
    ep_id           text    NOT NULL,
    activity        text    NOT NULL,
    minutes         integer NOT NULL CHECK (minutes > 0 AND minutes <= 1440),
    delivered_on    date    NOT NULL,
    funding_stream  text    NOT NULL,
    voided          boolean NOT NULL DEFAULT false
);

CREATE TABLE delivery_corrections (
    correction_id   uuid PRIMARY KEY,
    tenant          text    NOT NULL,
    delivery_id     uuid    NOT NULL REFERENCES deliveries (delivery_id),
    minutes         integer NOT NULL,
    funding_stream  text    NOT NULL,
    reason          text    NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Read models of other contexts' events.
CREATE TABLE consent_status (
    tenant             text        NOT NULL,
    referral_id        uuid        NOT NULL,
    child_id           uuid        NOT NULL,
    involvement_valid  boolean     NOT NULL,
    changed_at         timestamptz NOT NULL,
    PRIMARY KEY (tenant, referral_id)
);
CREATE INDEX consent_status_child ON consent_status (tenant, child_id);

CREATE TABLE referrals (
    tenant       text NOT NULL,
    referral_id  uuid NOT NULL,
    child_id     uuid NOT NULL,
    school_urn   text,
    PRIMARY KEY (tenant, referral_id)
);

-- Answers given to fast-track requests, so a repeated request gets the same answer.
CREATE TABLE fast_track_allocations (
    tenant        text        NOT NULL,
    incident_id   uuid        NOT NULL,
    answer        jsonb       NOT NULL,
    allocated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant, incident_id)
);
