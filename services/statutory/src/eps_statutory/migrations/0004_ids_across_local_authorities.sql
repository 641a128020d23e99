-- Ids are unique across local authorities (UUIDs; a school's URN, since a school belongs to one
-- LA): each is looked up by itself, and a record of another LA is refused, never doubled.
CREATE UNIQUE INDEX advice_request ON advice (request_id);
CREATE UNIQUE INDEX known_schools_one_local_authority ON known_schools (school_urn);
CREATE INDEX named_eps_school ON named_eps (school_urn);
