-- A case is closed when its referral's work finishes (closed, declined or redirected).
ALTER TABLE consent_cases
    ADD COLUMN closed_on      date,
    ADD COLUMN closed_reason  text;
