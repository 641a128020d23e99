-- Terms whose planning meeting found no slot, told once (PlanningMeetingNotPlaced) while the
-- job keeps looking; the row stays after a slot is found, so the gap is not told again.
CREATE TABLE planning_not_placed (
    tenant          text        NOT NULL,
    school_urn      text        NOT NULL,
    academic_year   integer     NOT NULL,
    term            text        NOT NULL CHECK (term IN ('autumn', 'spring')),
    told_at         timestamptz NOT NULL,
    PRIMARY KEY (tenant, school_urn, academic_year, term)
);
