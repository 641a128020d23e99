-- Ids are unique across local authorities (UUIDs): each is looked up by itself, and a record of
-- another LA is refused, never doubled.
CREATE UNIQUE INDEX incidents_report ON incidents (report_id);
