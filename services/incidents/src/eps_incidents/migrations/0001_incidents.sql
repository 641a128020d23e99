-- Critical incidents. Columns hold what queries and jobs select on; the rest of the aggregate
-- (escalations, allocation, visits, targets snapshotted at report time) is in `state`.
CREATE TABLE incidents (
    incident_id    uuid PRIMARY KEY,
    tenant         text        NOT NULL,
    report_id      uuid        NOT NULL,
    school_urn     text        NOT NULL,
    level          smallint    NOT NULL,
    status         text        NOT NULL,
    reported_at    timestamptz NOT NULL,
    escalate_at    timestamptz,          -- the person assigned must acknowledge by then
    next_due_at    timestamptz,          -- earliest response target neither met nor breached
    state          jsonb       NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (tenant, report_id)
);
CREATE INDEX incidents_open ON incidents (tenant, reported_at) WHERE status <> 'closed';
CREATE INDEX incidents_escalate ON incidents (escalate_at) WHERE escalate_at IS NOT NULL;
CREATE INDEX incidents_next_due ON incidents (next_due_at) WHERE next_due_at IS NOT NULL;

-- LA configuration. Rows for tenant '*' are the defaults a local authority inherits until it
-- sets its own (domain brief: level 1 telephone the same day, level 2 two EPs visit within
-- 24 hours, level 3 multi-agency led by the principal or a senior EP; acknowledge in 15 min).
CREATE TABLE incident_policy (
    tenant                      text PRIMARY KEY,
    acknowledge_within_minutes  integer NOT NULL CHECK (acknowledge_within_minutes > 0),
    principal_ep_id             text,
    rota_gap_lookahead_hours    integer NOT NULL CHECK (rota_gap_lookahead_hours > 0)
);
INSERT INTO incident_policy VALUES ('*', 15, NULL, 72);

CREATE TABLE level_targets (
    tenant                        text     NOT NULL,
    level                         smallint NOT NULL CHECK (level BETWEEN 1 AND 3),
    eps_needed                    smallint NOT NULL CHECK (eps_needed > 0),
    on_site                       boolean  NOT NULL,
    senior_lead_required          boolean  NOT NULL,
    response_minutes              integer  NOT NULL CHECK (response_minutes > 0),
    allocate_within_minutes       integer  NOT NULL CHECK (allocate_within_minutes > 0),
    first_contact_within_minutes  integer  NOT NULL CHECK (first_contact_within_minutes > 0),
    first_contact_same_day        boolean  NOT NULL,
    first_visit_within_minutes    integer  CHECK (first_visit_within_minutes > 0),
    PRIMARY KEY (tenant, level)
);
INSERT INTO level_targets VALUES
    ('*', 1, 1, false, false,  60,  60, 120, true,  NULL),
    ('*', 2, 2, true,  false, 180, 120, 240, false, 1440),
    ('*', 3, 3, true,  true,  360,  60,  60, false,  720);

-- The coordinators' on-call rota, with overrides.
CREATE TABLE rota_entries (
    entry_id        uuid PRIMARY KEY,
    tenant          text        NOT NULL,
    coordinator_id  text        NOT NULL,
    position        text        NOT NULL CHECK (position IN ('primary', 'backup')),
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL CHECK (ends_at > starts_at),
    is_override     boolean     NOT NULL DEFAULT false
);
CREATE INDEX rota_entries_period ON rota_entries (tenant, starts_at, ends_at);

-- Gaps already reported, so that each is reported once (a gap overlapping a reported one is
-- the same gap seen again as the look-ahead window slides).
CREATE TABLE rota_gaps_reported (
    tenant      text        NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    reported_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, starts_at)
);
