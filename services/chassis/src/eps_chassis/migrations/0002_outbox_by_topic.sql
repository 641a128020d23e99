-- The relay's priority lane reads the unpublished records of a few topics; without this index
-- it would walk every unpublished routine record to find them during a backlog.
CREATE INDEX outbox_unpublished_by_topic ON outbox (topic, id) WHERE published_at IS NULL;
