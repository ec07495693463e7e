-- The email channel: inbox settings and addresses, received mail kept raw, the Message-IDs
-- threads are matched by, attachment bytes, the outbox, ticket links and bouncing addresses.

ALTER TABLE inboxes ADD COLUMN from_name TEXT NOT NULL DEFAULT '';
ALTER TABLE inboxes ADD COLUMN signature TEXT NOT NULL DEFAULT '';
ALTER TABLE inboxes ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
-- How to reach a person, shown in every automatic message (phone number and hours).
ALTER TABLE inboxes ADD COLUMN human_contact TEXT NOT NULL DEFAULT '';
-- Business hours as a calendar (JSON); empty means Monday to Friday 09:00-17:00 UTC.
ALTER TABLE inboxes ADD COLUMN business_hours TEXT NOT NULL DEFAULT '';
-- The first-answer target in business minutes, promised in the read-back.
ALTER TABLE inboxes ADD COLUMN first_response_minutes INTEGER NOT NULL DEFAULT 480;
ALTER TABLE inboxes ADD COLUMN acknowledge INTEGER NOT NULL DEFAULT 1;

-- Every address an inbox receives at (the inbox's own address is the one it sends from).
CREATE TABLE inbox_addresses (
    address TEXT PRIMARY KEY,
    inbox_id INTEGER NOT NULL REFERENCES inboxes (id),
    created_at INTEGER NOT NULL
);
CREATE INDEX inbox_addresses_inbox ON inbox_addresses (inbox_id);
INSERT INTO inbox_addresses (address, inbox_id, created_at) SELECT lower(address), id, created_at FROM inboxes;

-- Per inbox and language: the acknowledgement (kind 'ack') and other automatic texts.
CREATE TABLE inbox_templates (
    inbox_id INTEGER NOT NULL REFERENCES inboxes (id),
    kind TEXT NOT NULL,
    language TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (inbox_id, kind, language)
);

-- When mail to the address last bounced; automatic mail to it pauses for a while after.
ALTER TABLE customer_emails ADD COLUMN bounced_at INTEGER;

-- The normalised subject of tickets opened by email, for the last-resort thread match.
ALTER TABLE tickets ADD COLUMN subject_key TEXT;
CREATE INDEX tickets_subject_key ON tickets (customer_id, subject_key) WHERE subject_key IS NOT NULL;

-- Every received message exactly as it arrived, stored before it is acknowledged.
CREATE TABLE inbound_emails (
    id INTEGER PRIMARY KEY,
    inbox_id INTEGER NOT NULL REFERENCES inboxes (id),
    source TEXT NOT NULL,
    envelope_from TEXT,
    recipients TEXT NOT NULL DEFAULT '[]',
    -- The Message-ID, or a hash of the bytes when there is none: a message delivered twice
    -- (a retried SMTP session, a re-polled mailbox) is stored once.
    dedupe_key TEXT NOT NULL,
    message_id TEXT,
    -- Tells a redelivery (same bytes) from another message reusing a Message-ID.
    body_hash TEXT NOT NULL DEFAULT '',
    raw BLOB NOT NULL,
    size_bytes INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    ticket_id INTEGER REFERENCES tickets (id),
    problems TEXT NOT NULL DEFAULT '[]',
    received_at INTEGER NOT NULL
);
-- Once, whichever inbox it reached: a message sent to two of our addresses is one ticket.
CREATE UNIQUE INDEX inbound_emails_dedupe ON inbound_emails (dedupe_key);
CREATE INDEX inbound_emails_ticket ON inbound_emails (ticket_id);
-- What an admin must look at: mail on no ticket.
CREATE INDEX inbound_emails_unfiled ON inbound_emails (id) WHERE outcome IN ('quarantined', 'unfiled');

-- Message-IDs we received or sent, each with its ticket: replies thread by them.
CREATE TABLE email_message_ids (
    message_id TEXT NOT NULL,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    outbound INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (message_id, ticket_id)
);
CREATE INDEX email_message_ids_ticket ON email_message_ids (ticket_id, created_at);

ALTER TABLE messages ADD COLUMN html TEXT;
ALTER TABLE messages ADD COLUMN quoted TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN email_id INTEGER REFERENCES inbound_emails (id);

ALTER TABLE attachments ADD COLUMN content_id TEXT;
ALTER TABLE attachments ADD COLUMN inline INTEGER NOT NULL DEFAULT 0;
-- Set when the bytes are not kept (over the size limit); the raw email still holds them.
ALTER TABLE attachments ADD COLUMN withheld TEXT;
CREATE TABLE attachment_blobs (
    attachment_id INTEGER PRIMARY KEY REFERENCES attachments (id),
    data BLOB NOT NULL
);

-- Mail to send, written in the same transaction as the change that causes it and delivered
-- by a worker. The Message-ID is fixed here; the bytes are composed once, before the first
-- attempt, so every retry sends the very same message.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
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
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_recipient ON outbox (recipient, created_at);
CREATE INDEX outbox_ticket ON outbox (ticket_id);

CREATE TABLE ticket_links (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    other_ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    kind TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, other_ticket_id, kind)
);
CREATE INDEX ticket_links_other ON ticket_links (other_ticket_id);
