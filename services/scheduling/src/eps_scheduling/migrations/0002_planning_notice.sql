-- Planning meetings are proposed with notice: not before this many whole (London) days ahead.
ALTER TABLE policies
    ADD COLUMN planning_notice_days integer NOT NULL DEFAULT 14
        CHECK (planning_notice_days >= 0);
