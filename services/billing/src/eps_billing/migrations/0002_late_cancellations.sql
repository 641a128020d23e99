-- Late cancellations of traded time (domain/cancellation.py).

-- A cancellation charge is priced and invoiced like delivered time: a row in deliveries whose
-- id derives from the appointment's, marked here so that its lines say what it is.
ALTER TABLE deliveries ADD COLUMN late_cancellation boolean NOT NULL DEFAULT false;

-- Every cancellation billing has judged, charged or not: the first one recorded for an
-- appointment is the one that counts, so an appointment is charged at most once.
CREATE TABLE cancellations (
    tenant           text        NOT NULL,
    appointment_id   uuid        NOT NULL,
    event_id         uuid        NOT NULL,
    school_urn       text        NOT NULL,
    funding_stream   text        NOT NULL,
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL,
    cancelled_at     timestamptz NOT NULL,
    cancelled_by     text,
    charged_minutes  integer     NOT NULL,
    charge_id        uuid,       -- the delivery that carries the charge (NULL: free)
    decision         text        NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant, appointment_id)
);
