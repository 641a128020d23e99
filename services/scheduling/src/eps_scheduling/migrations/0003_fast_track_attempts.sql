-- A coordinator may ask again for the EPs an incident still lacks: each request carries an
-- attempt (1 for the request made when the incident is reported), and scheduling keeps one
-- answer per (incident, attempt), so the same attempt redelivered gets the same answer while a
-- new attempt is allocated afresh. Answers stored before this have attempt 1.
ALTER TABLE fast_track_allocations
    ADD COLUMN attempt integer NOT NULL DEFAULT 1 CHECK (attempt >= 1);
ALTER TABLE fast_track_allocations DROP CONSTRAINT fast_track_allocations_pkey;
ALTER TABLE fast_track_allocations ADD PRIMARY KEY (tenant, incident_id, attempt);
