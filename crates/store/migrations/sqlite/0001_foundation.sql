-- Rapport foundation schema (SQLite). Times are UTC milliseconds (INTEGER).

CREATE TABLE organizations (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    tier TEXT NOT NULL DEFAULT 'standard',
    contract_value_cents INTEGER NOT NULL DEFAULT 0,
    notes TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX organizations_name ON organizations (lower(name));

CREATE TABLE organization_domains (
    domain TEXT PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations (id)
);
CREATE INDEX organization_domains_org ON organization_domains (organization_id);

CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    organization_id INTEGER REFERENCES organizations (id),
    phone TEXT,
    language TEXT,
    time_zone TEXT,
    preferences TEXT NOT NULL DEFAULT '{}',
    notes TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX customers_org ON customers (organization_id, id);
CREATE INDEX customers_updated ON customers (updated_at, id);

CREATE TABLE customer_emails (
    email TEXT PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    is_primary INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX customer_emails_customer ON customer_emails (customer_id);

CREATE TABLE agents (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE teams (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX teams_name ON teams (lower(name));

CREATE TABLE team_members (
    team_id INTEGER NOT NULL REFERENCES teams (id),
    agent_id INTEGER NOT NULL REFERENCES agents (id),
    PRIMARY KEY (team_id, agent_id)
);
CREATE INDEX team_members_agent ON team_members (agent_id);

CREATE TABLE inboxes (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    address TEXT NOT NULL UNIQUE,
    team_id INTEGER REFERENCES teams (id),
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX inboxes_name ON inboxes (lower(name));

-- AUTOINCREMENT so ticket numbers (the R-… reference) are never reused, starting at 10001.
CREATE TABLE tickets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject TEXT NOT NULL,
    status TEXT NOT NULL,
    priority TEXT NOT NULL,
    channel TEXT NOT NULL,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    inbox_id INTEGER NOT NULL REFERENCES inboxes (id),
    assignee_id INTEGER REFERENCES agents (id),
    team_id INTEGER REFERENCES teams (id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    solved_at INTEGER,
    closed_at INTEGER
);
INSERT INTO sqlite_sequence (name, seq) VALUES ('tickets', 10000);
CREATE INDEX tickets_updated ON tickets (updated_at, id);
CREATE INDEX tickets_status ON tickets (status, updated_at, id);
CREATE INDEX tickets_assignee ON tickets (assignee_id, updated_at, id);
CREATE INDEX tickets_team ON tickets (team_id, updated_at, id);
CREATE INDEX tickets_customer ON tickets (customer_id, updated_at, id);

CREATE TABLE ticket_tags (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    tag TEXT NOT NULL,
    PRIMARY KEY (ticket_id, tag)
);
CREATE INDEX ticket_tags_tag ON ticket_tags (tag, ticket_id);

CREATE TABLE custom_fields (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    field_type TEXT NOT NULL,
    options TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL
);

CREATE TABLE ticket_field_values (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    field_key TEXT NOT NULL REFERENCES custom_fields (key),
    value TEXT NOT NULL,
    PRIMARY KEY (ticket_id, field_key)
);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    author_agent_id INTEGER REFERENCES agents (id),
    author_customer_id INTEGER REFERENCES customers (id),
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX messages_ticket ON messages (ticket_id, id);

CREATE TABLE attachments (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages (id),
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX attachments_message ON attachments (message_id);

-- The spine: every change appends here in the same transaction. Audit log and history.
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER REFERENCES tickets (id),
    kind TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id INTEGER,
    subject_type TEXT NOT NULL,
    subject_id INTEGER NOT NULL,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX events_ticket ON events (ticket_id, id);
CREATE INDEX events_subject ON events (subject_type, subject_id, id);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    agent_id INTEGER NOT NULL REFERENCES agents (id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX api_tokens_agent ON api_tokens (agent_id);

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    agent_id INTEGER NOT NULL REFERENCES agents (id),
    data TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- A retried POST with the same Idempotency-Key returns what the first one created.
CREATE TABLE idempotency_keys (
    agent_id INTEGER NOT NULL REFERENCES agents (id),
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (agent_id, key)
);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Full-text search: one row per ticket subject (kind 'subject') and per message.
CREATE VIRTUAL TABLE search_index USING fts5 (
    ticket_id UNINDEXED,
    kind UNINDEXED,
    text,
    tokenize = 'unicode61 remove_diacritics 2'
);

-- A fresh install can take tickets at once: one team and one inbox to rename later.
INSERT INTO teams (name, description, created_at) VALUES ('Support', 'Front-line support', 0);
INSERT INTO inboxes (name, address, team_id, created_at) VALUES ('Support', 'support@rapport.localhost', 1, 0);
