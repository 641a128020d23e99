-- Every refusal is audited with its reason, and a caller nobody knows (no token, a forged one)
-- by the address they called from: such a row has no local authority or role.
ALTER TABLE audit_log
    ADD COLUMN reason text,
    ADD COLUMN client text,
    ALTER COLUMN tenant DROP NOT NULL,
    ALTER COLUMN role DROP NOT NULL;

-- The audit log is append-only: the services' role may add rows, never change or remove one.
-- (Nothing prunes it: no housekeeping job touches audit_log. A retention policy, when the LA
-- sets one, is a task for the database owner, who may drop this trigger for it.)
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
