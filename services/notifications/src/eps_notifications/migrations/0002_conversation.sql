-- The conversation a message belongs to: its events carry the incident event's correlation id
-- (and name that event as their cause), though a job sends it later.
ALTER TABLE notifications ADD COLUMN correlation_id uuid;
