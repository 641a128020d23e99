-- Events a consumer cannot apply yet because they name something the service does not know
-- yet (a school, an advice request): kept with their original bytes, why, and what they wait
-- for, where a person can see and release them. Their ids are already in the inbox, so a
-- redelivery is a duplicate; they are applied again when the data arrives (``due``).
CREATE TABLE held_events (
    consumer       text        NOT NULL,
    event_id       uuid        NOT NULL,
    tenant         text        NOT NULL,
    subject        text        NOT NULL,
    event_type     text        NOT NULL,
    topic          text        NOT NULL,
    kafka_partition integer    NOT NULL,
    kafka_offset   bigint      NOT NULL,
    key            bytea,
    value          bytea       NOT NULL,
    headers        jsonb       NOT NULL DEFAULT '[]'::jsonb,
    awaiting       text        NOT NULL,
    reason         text        NOT NULL,
    field          text,
    behind         uuid,       -- held only because an earlier event of its subject is
    held_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempts       integer     NOT NULL DEFAULT 1,
    last_tried_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    due            boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX held_events_subject ON held_events (consumer, subject);
CREATE INDEX held_events_awaiting ON held_events (awaiting);
CREATE INDEX held_events_due ON held_events (consumer) WHERE due;
