-- The agent workspace and the customer portal.

-- Failed sign-ins, by account and by client address: rate limits and lockout read these, so
-- they hold across restarts and across nodes.
CREATE TABLE login_failures (
    key TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (key, at);

-- Two-factor sign-in: a TOTP secret (enabled once a code from it was confirmed), single-use
-- recovery codes (stored as SHA-256), and the challenge between password and code.
ALTER TABLE agents ADD COLUMN totp_secret TEXT;
-- The last time step a code was accepted for: a code works once.
ALTER TABLE agents ADD COLUMN totp_last_step INTEGER;
ALTER TABLE agents ADD COLUMN totp_enabled INTEGER NOT NULL DEFAULT 0;
CREATE TABLE recovery_codes (
    agent_id INTEGER NOT NULL REFERENCES agents (id),
    code_hash TEXT NOT NULL,
    used_at INTEGER,
    PRIMARY KEY (agent_id, code_hash)
);
CREATE TABLE login_challenges (
    id_hash TEXT PRIMARY KEY,
    agent_id INTEGER NOT NULL REFERENCES agents (id),
    expires_at INTEGER NOT NULL,
    -- Codes tried against this challenge; it dies after five.
    attempts INTEGER NOT NULL DEFAULT 0
);

-- Customers sign in to the portal with a single-use link sent by email.
CREATE TABLE portal_links (
    token_hash TEXT PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX portal_links_customer ON portal_links (customer_id, created_at);

CREATE TABLE customer_sessions (
    id_hash TEXT PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX customer_sessions_expiry ON customer_sessions (expires_at);

-- An organisation's admins see all of its tickets in the portal.
ALTER TABLE customers ADD COLUMN org_admin INTEGER NOT NULL DEFAULT 0;

-- Views an agent saved (agent_id) or shared with everyone (NULL): a name and the filter's
-- query string.
CREATE TABLE saved_views (
    id INTEGER PRIMARY KEY,
    agent_id INTEGER REFERENCES agents (id),
    name TEXT NOT NULL,
    query TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX saved_views_agent ON saved_views (agent_id);

-- Canned replies with placeholders, and the ticket changes they make.
CREATE TABLE macros (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    actions TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX macros_name ON macros (lower(name));

-- Views filter on priority; the list order is always last update first.
CREATE INDEX tickets_priority ON tickets (priority, updated_at, id);
-- "My open tickets", "unassigned" and "my team's" walk one status at a time in update order;
-- focus mode seeks the oldest ticket of one owner, status and priority.
CREATE INDEX tickets_assignee_status ON tickets (assignee_id, status, updated_at, id);
CREATE INDEX tickets_team_status ON tickets (team_id, status, updated_at, id);
CREATE INDEX tickets_focus ON tickets (assignee_id, status, priority, updated_at, id);
-- The most common ad-hoc filter: a status and a priority (a view branch per status).
CREATE INDEX tickets_status_priority ON tickets (status, priority, updated_at, id);

-- Mail that belongs to no ticket (the portal's sign-in links) goes through the same outbox:
-- ticket_id becomes optional and such rows name their inbox. SQLite cannot drop NOT NULL in
-- place, so the table is rebuilt with its rows and indexes.
CREATE TABLE outbox_new (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    ticket_id INTEGER REFERENCES tickets (id),
    inbox_id INTEGER REFERENCES inboxes (id),
    message_row_id INTEGER REFERENCES messages (id),
    recipient TEXT NOT NULL,
    email_message_id TEXT NOT NULL UNIQUE,
    automatic INTEGER NOT NULL,
    raw BLOB,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    sent_at INTEGER
);
INSERT INTO outbox_new (id, kind, ticket_id, message_row_id, recipient, email_message_id, automatic,
    raw, status, attempts, next_attempt_at, lease_until, last_error, created_at, sent_at)
SELECT id, kind, ticket_id, message_row_id, recipient, email_message_id, automatic,
    raw, status, attempts, next_attempt_at, lease_until, last_error, created_at, sent_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_recipient ON outbox (recipient, created_at);
CREATE INDEX outbox_ticket ON outbox (ticket_id);
