-- The console's read model: what the board and the incident pages show, built from the
-- incidents, scheduling and rota topics. It owns nothing: every row is rebuilt from events.
CREATE TABLE incidents (
    incident_id       uuid PRIMARY KEY,
    tenant            text        NOT NULL,
    school_urn        text,
    kind              text,
    level             smallint,
    occurred_at       timestamptz,
    reported_at       timestamptz,
    pupils_affected   integer,
    staff_affected    integer,
    assigned_to       text,
    status            text        NOT NULL DEFAULT 'reported',
    acknowledged_by   text,
    acknowledged_at   timestamptz,
    allocated_at      timestamptz,          -- the first answer with EPs (the allocation clock)
    ep_ids            text[]      NOT NULL DEFAULT '{}',
    shortfall         integer     NOT NULL DEFAULT 0,
    shortfall_reason  text,
    first_contact_at  timestamptz,
    first_visit_at    timestamptz,
    review_on         date,
    closed_at         timestamptz,
    breaches          text[]      NOT NULL DEFAULT '{}',
    unassigned_reason text,
    -- when each response clock is due (incidents says, with the report)
    acknowledge_due_at    timestamptz,
    allocate_due_at       timestamptz,
    first_contact_due_at  timestamptz,
    first_visit_due_at    timestamptz
);
CREATE INDEX incidents_open ON incidents (tenant, reported_at) WHERE closed_at IS NULL;

-- Everything that happened to an incident, from its events (who, what, when).
CREATE TABLE timeline (
    event_id     uuid PRIMARY KEY,
    tenant       text        NOT NULL,
    incident_id  uuid        NOT NULL,
    at           timestamptz NOT NULL,
    actor        text        NOT NULL,
    what         text        NOT NULL
);
CREATE INDEX timeline_incident ON timeline (incident_id, at);

-- Each EP going to an incident (scheduling's answers), with the routine work they displaced.
CREATE TABLE allocations (
    appointment_id  uuid PRIMARY KEY,
    tenant          text        NOT NULL,
    incident_id     uuid        NOT NULL,
    ep_id           text        NOT NULL,
    starts_at       timestamptz NOT NULL,
    is_named_ep     boolean     NOT NULL
);
CREATE INDEX allocations_incident ON allocations (incident_id);
CREATE INDEX allocations_ep ON allocations (tenant, ep_id);

CREATE TABLE displaced (
    appointment_id  uuid PRIMARY KEY,   -- the routine appointment moved to make room
    tenant          text NOT NULL,
    incident_id     uuid NOT NULL,
    ep_id           text NOT NULL
);
CREATE INDEX displaced_incident ON displaced (incident_id);

-- Where scheduling moved an appointment to (it may be told before or after the allocation).
CREATE TABLE moves (
    appointment_id  uuid PRIMARY KEY,
    tenant          text        NOT NULL,
    ep_id           text        NOT NULL,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    reason          text        NOT NULL
);

-- Gaps in the coordinators' rota that incidents found ahead.
CREATE TABLE rota_gaps (
    tenant     text        NOT NULL,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant, starts_at, ends_at)
);
