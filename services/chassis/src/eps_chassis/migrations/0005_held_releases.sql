-- What has been made known (``uow.release``), so that an event held by a transaction that
-- ran beside the release (neither saw the other's work) is still due: holding and releasing
-- one key take the same lock, and a hold after a release starts due.
CREATE TABLE held_releases (
    awaiting     text        PRIMARY KEY,
    released_at  timestamptz NOT NULL
);
