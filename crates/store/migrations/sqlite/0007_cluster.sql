-- Scale-out (issue 10). A lease names background work that one holder at a time may do (an
-- IMAP mailbox being polled); another holder takes it over once it expired.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);

-- Webhooks (issue 10). A subscriber gets each event it asked for once, signed with its secret.
-- `events` is '*' or comma-separated kinds ('ticket.created,message.added').
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    events TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);
-- One row per event per subscriber, claimed under a lease like the outbox; the unique key is
-- what makes a delivery once-only however many nodes run the worker.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY,
    webhook_id INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id INTEGER NOT NULL REFERENCES events (id),
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until INTEGER,
    last_error TEXT,
    sent_at INTEGER,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
-- Deliveries are written by the transaction that appends the event (the outbox principle,
-- without touching every write path): a rolled-back write delivers nothing, and an event
-- committed late is never passed over. Events about webhooks themselves are never delivered,
-- so a new subscriber is not told about itself and subscribers never learn each other's URLs.
CREATE TRIGGER events_webhook_deliveries AFTER INSERT ON events
WHEN NEW.kind NOT LIKE 'webhook.%'
BEGIN
    INSERT INTO webhook_deliveries (webhook_id, event_id, next_attempt_at)
    SELECT w.id, NEW.id, NEW.created_at FROM webhooks w
    WHERE w.active AND (w.events = '*' OR ',' || w.events || ',' LIKE '%,' || NEW.kind || ',%');
END;
