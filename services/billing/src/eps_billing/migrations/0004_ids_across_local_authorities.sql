-- Ids are unique across local authorities (UUIDs; a school's URN, since a school belongs to one
-- LA): each is looked up by itself, and a record of another LA is refused, never doubled.
CREATE UNIQUE INDEX schools_one_local_authority ON schools (school_urn);
CREATE UNIQUE INDEX deliveries_id ON deliveries (delivery_id);
CREATE INDEX delivery_changes_delivery ON delivery_changes (delivery_id);
CREATE UNIQUE INDEX cancellations_appointment ON cancellations (appointment_id);
