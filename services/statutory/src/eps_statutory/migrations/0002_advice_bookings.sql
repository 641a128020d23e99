-- An advice's assessment work is several bookings through scheduling, one per purpose
-- (assessment visit, meeting the child, parents' views, child's views), each followed by its own
-- request and appointment id. Stored as JSON on the advice; NULL on advice saved before this
-- migration, whose single booking (booking_request_id, booking_failure, appointment_id,
-- appointment_starts_at) is read as an assessment_visit. Those columns go on holding the main
-- booking (the first booked, else the first asked for), for the open list and older readers.
ALTER TABLE advice ADD COLUMN bookings jsonb;
