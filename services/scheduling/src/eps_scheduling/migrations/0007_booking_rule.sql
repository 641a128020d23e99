-- The LA's booking rule and the share of each EP's week kept for statutory work
-- (domain.booking_policy); an LA that set its policy before keeps the defaults.
ALTER TABLE policies
    ADD COLUMN booking_rule text NOT NULL DEFAULT 'deadline_aware'
        CHECK (booking_rule IN ('first_free', 'deadline_aware')),
    ADD COLUMN statutory_share_percent integer NOT NULL DEFAULT 40
        CHECK (statutory_share_percent BETWEEN 0 AND 100);
