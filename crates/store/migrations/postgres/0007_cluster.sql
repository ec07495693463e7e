-- Scale-out (issue 10). A lease names background work that one holder at a time may do (an
-- IMAP mailbox being polled); another holder takes it over once it expired.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Every statement that appends events tells the listening nodes the newest id, delivered at
-- commit (and not at all on rollback), so live pages on every node hear of every write,
-- including those of other processes such as `rapport mail-in`.
CREATE FUNCTION rapport_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rapport_events', (SELECT max(id) FROM new_events)::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER events_notify AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION rapport_notify_events();
