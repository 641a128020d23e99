-- Ids are unique across local authorities (UUIDs; a school's URN, since a school belongs to one
-- LA): each is looked up by itself, and a record of another LA is refused, never doubled.
CREATE UNIQUE INDEX referrals_request ON referrals (request_id);
CREATE UNIQUE INDEX schools_one_local_authority ON schools (school_urn);
CREATE UNIQUE INDEX consent_statuses_referral ON consent_statuses (referral_id);
