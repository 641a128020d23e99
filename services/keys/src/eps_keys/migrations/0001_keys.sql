-- Each child's data key, only ever stored wrapped under the key-encryption key (which is not in
-- the database). Shredding sets wrapped_key to NULL: the row stays to say when and why, so a
-- shredded key is never made again for the same child (410 Gone).
CREATE TABLE child_keys (
    tenant       text NOT NULL,
    child_id     uuid PRIMARY KEY,
    wrapped_key  bytea,
    kek_id       text NOT NULL,
    created_at   timestamptz NOT NULL,
    shredded_at  timestamptz,
    shredded_by  text,
    erasure_id   uuid,
    CHECK ((wrapped_key IS NULL) = (shredded_at IS NOT NULL))
);

-- Each service's dead-letter key of one UTC day; destroyed (wrapped_key NULL) once the dead
-- letters' retention has passed.
CREATE TABLE dead_letter_keys (
    service       text NOT NULL,
    day           date NOT NULL,
    wrapped_key   bytea,
    kek_id        text NOT NULL,
    created_at    timestamptz NOT NULL,
    destroyed_at  timestamptz,
    PRIMARY KEY (service, day),
    CHECK ((wrapped_key IS NULL) = (destroyed_at IS NOT NULL))
);
