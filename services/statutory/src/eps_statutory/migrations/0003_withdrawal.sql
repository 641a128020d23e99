-- The LA may withdraw its request for advice before the advice is submitted.
ALTER TABLE advice ADD COLUMN withdrawn_on date, ADD COLUMN withdrawal_reason text;
