-- The notification names the committing transaction, so that the relay can tell a commit whose
-- records were handed to it in-process (nothing to read back) from one that was not.
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '_outbox', pg_current_xact_id()::text);
    RETURN NULL;
END $$;
