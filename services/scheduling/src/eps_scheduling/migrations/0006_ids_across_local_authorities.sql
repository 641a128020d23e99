-- Ids are unique across local authorities (UUIDs; a school's URN, since a school belongs to one
-- LA): each is looked up by itself, and a record of another LA is refused, never doubled.
CREATE UNIQUE INDEX schools_one_local_authority ON schools (school_urn);
CREATE UNIQUE INDEX appointments_request ON appointments (request_id);
CREATE UNIQUE INDEX traded_purchases_id ON traded_purchases (purchase_id);
CREATE UNIQUE INDEX consent_status_referral ON consent_status (referral_id);
CREATE UNIQUE INDEX referrals_referral ON referrals (referral_id);
CREATE UNIQUE INDEX advice_requests_advice ON advice_requests (advice_id);
CREATE UNIQUE INDEX fast_track_allocations_attempt ON fast_track_allocations (incident_id, attempt);
