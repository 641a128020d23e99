-- The audit log's own retention rule, applied by one privileged path.
--
-- The services' role still cannot change or remove a row (0006). Rows older than the rule's
-- period are removed only by audit_log_prune(), a SECURITY DEFINER function owned by the role
-- eps_audit_retention (no login): the trigger lets a DELETE through only when it runs as that
-- role, and the function removes nothing younger than the period kept in audit_log_retention,
-- which only that role (and the database owner) may change. The services call the function
-- from their housekeeping job; they cannot shorten the period or delete anything else.
DO $$
BEGIN
    CREATE ROLE eps_audit_retention NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- made by another schema's migration (roles belong to the cluster)
END $$;

CREATE TABLE audit_log_retention (
    one   boolean PRIMARY KEY DEFAULT true CHECK (one),
    days  integer NOT NULL CHECK (days >= 365)
);
INSERT INTO audit_log_retention (days) VALUES (2190);  -- six years

CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_user = 'eps_audit_retention' THEN
        RETURN OLD;  -- the retention rule's own path (audit_log_prune)
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE FUNCTION audit_log_prune() RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    removed bigint;
BEGIN
    DELETE FROM audit_log
     WHERE at < now() - make_interval(days => (SELECT days FROM audit_log_retention));
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END $$;

DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO eps_audit_retention', current_schema());
    EXECUTE format('GRANT SELECT, DELETE ON %I.audit_log TO eps_audit_retention',
                   current_schema());
    EXECUTE format('GRANT SELECT ON %I.audit_log_retention TO eps_audit_retention',
                   current_schema());
END $$;
ALTER TABLE audit_log_retention OWNER TO eps_audit_retention;
ALTER FUNCTION audit_log_prune() OWNER TO eps_audit_retention;
REVOKE ALL ON FUNCTION audit_log_prune() FROM PUBLIC;
DO $$
BEGIN
    EXECUTE format('GRANT EXECUTE ON FUNCTION audit_log_prune() TO %I', session_user);
    EXECUTE format('GRANT SELECT ON audit_log_retention TO %I', session_user);
END $$;
