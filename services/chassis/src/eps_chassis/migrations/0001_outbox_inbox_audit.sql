-- Chassis tables, created in every service's own schema.

-- Transactional outbox: written in the same transaction as the state change, published by
-- the relay in id order, marked only after the broker acknowledged (acks=all).
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    event_id      uuid,
    topic         text        NOT NULL,
    key           bytea,
    value         bytea       NOT NULL,
    headers       jsonb       NOT NULL DEFAULT '[]'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '_outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Inbox: ids of events already processed by a consumer group, written with the effect.
CREATE TABLE inbox (
    consumer      text        NOT NULL,
    event_id      uuid        NOT NULL,
    event_type    text        NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (consumer, event_id)
);

-- Audit log of every access to a child's record through the HTTP API.
CREATE TABLE audit_log (
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    tenant        text        NOT NULL,
    actor         text        NOT NULL,
    role          text        NOT NULL,
    action        text        NOT NULL,
    resource      text        NOT NULL,
    purpose       text,
    outcome       text        NOT NULL,
    correlation_id uuid
);
CREATE INDEX audit_log_resource ON audit_log (tenant, resource, at);
