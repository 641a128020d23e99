-- The schools the LA names to the people it sends there: an EP told to go is told where.
CREATE TABLE schools (
    tenant      text NOT NULL,
    school_urn  text NOT NULL,
    name        text NOT NULL,
    address     text,
    PRIMARY KEY (tenant, school_urn)
);
