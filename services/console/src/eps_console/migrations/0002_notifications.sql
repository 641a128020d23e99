-- What paging sent about each incident, and what became of it (from its events).
CREATE TABLE notifications (
    notification_id  uuid PRIMARY KEY,
    tenant           text        NOT NULL,
    incident_id      uuid        NOT NULL,
    recipient        text        NOT NULL,
    channel          text        NOT NULL,
    purpose          text        NOT NULL,
    status           text        NOT NULL,
    detail           text,                  -- the text sent, or why it failed or was withdrawn
    at               timestamptz NOT NULL   -- the latest news of it
);
CREATE INDEX notifications_recent ON notifications (tenant, at DESC);
CREATE INDEX notifications_incident ON notifications (incident_id, at);
