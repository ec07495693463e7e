-- The agent workspace and the customer portal.

-- Failed sign-ins, by account and by client address: rate limits and lockout read these, so
-- they hold across restarts and across nodes.
CREATE TABLE login_failures (
    key TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (key, at);

-- Customers sign in to the portal with a single-use link sent by email.
CREATE TABLE portal_links (
    token_hash TEXT PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX portal_links_customer ON portal_links (customer_id, created_at);

CREATE TABLE customer_sessions (
    id_hash TEXT PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX customer_sessions_expiry ON customer_sessions (expires_at);

-- An organisation's admins see all of its tickets in the portal.
ALTER TABLE customers ADD COLUMN org_admin BOOLEAN NOT NULL DEFAULT FALSE;

-- Views filter on priority; the list order is always last update first.
CREATE INDEX tickets_priority ON tickets (priority, updated_at, id);

-- Mail that belongs to no ticket (the portal's sign-in links) goes through the same outbox:
-- ticket_id becomes optional and such rows name their inbox.
ALTER TABLE outbox ALTER COLUMN ticket_id DROP NOT NULL;
ALTER TABLE outbox ADD COLUMN inbox_id BIGINT REFERENCES inboxes (id);
