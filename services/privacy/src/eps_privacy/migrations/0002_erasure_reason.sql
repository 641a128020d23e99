-- An erasure ordered on request says who ordered it and why (the retention job: the service).
ALTER TABLE erasures ADD COLUMN ordered_by text, ADD COLUMN reason text;
