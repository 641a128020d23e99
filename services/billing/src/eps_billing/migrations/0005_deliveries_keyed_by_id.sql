-- A delivery's id is unique across local authorities (0004), so it is the key: each delivery
-- stored writes one index fewer (the key on (tenant, delivery_id) said nothing more).
ALTER TABLE deliveries DROP CONSTRAINT deliveries_pkey;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_pkey PRIMARY KEY USING INDEX deliveries_id;
