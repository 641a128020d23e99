-- The local authority's register of schools, for refusing a request naming an unknown school:
-- loaded by the LA (name given) and learnt from scheduling's named EP announcements.
CREATE TABLE schools (
    tenant      text        NOT NULL,
    school_urn  text        NOT NULL,
    name        text,
    known_from  text        NOT NULL CHECK (known_from IN ('register', 'named_ep')),
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant, school_urn)
);
INSERT INTO schools (tenant, school_urn, known_from)
SELECT tenant, school_urn, 'named_ep' FROM named_eps
ON CONFLICT DO NOTHING;
