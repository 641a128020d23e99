-- What paging knows of each incident (from its reported and acknowledged events).
CREATE TABLE incidents (
    incident_id   uuid PRIMARY KEY,
    tenant        text        NOT NULL,
    school_urn    text,
    level         integer,
    kind          text,
    reported_at   timestamptz,
    acknowledged  boolean     NOT NULL DEFAULT false
);

-- One message to one person on one channel about one incident event: recorded before it is
-- sent, so an event delivered twice (or again after a restart) never sends it twice.
CREATE TABLE notifications (
    notification_id  uuid PRIMARY KEY,
    tenant           text        NOT NULL,
    incident_id      uuid        NOT NULL,
    recipient        text        NOT NULL,
    channel          text        NOT NULL,
    provider         text        NOT NULL,
    purpose          text        NOT NULL,
    cause_event_id   uuid        NOT NULL,
    destination      text        NOT NULL,
    subject          text        NOT NULL,
    text             text        NOT NULL,
    status           text        NOT NULL,
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    claimed_at       timestamptz,
    provider_id      text,
    template_id      text,
    last_error       text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    UNIQUE (cause_event_id, recipient, channel)
);
CREATE INDEX notifications_by_incident ON notifications (incident_id, recipient);
CREATE INDEX notifications_to_send ON notifications (next_attempt_at)
    WHERE status IN ('pending', 'sending');
CREATE INDEX notifications_awaiting_delivery ON notifications (updated_at) WHERE status = 'sent';

-- The LA's contacts: how each person is reached (its data, replaced whole over HTTP).
CREATE TABLE contacts (
    tenant     text NOT NULL,
    person_id  text NOT NULL,
    mobile     text,
    email      text,
    email_via  text NOT NULL,
    PRIMARY KEY (tenant, person_id)
);

-- Who is told of a breach or an unassigned incident when no principal EP is known.
CREATE TABLE paging_policy (
    tenant          text PRIMARY KEY,
    duty_person_id  text
);
