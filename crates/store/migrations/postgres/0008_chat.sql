-- Live chat (issue 6). One widget row per inbox, made the first time anyone asks for it, off
-- until an admin turns it on (an upgrade must not open every inbox to the web).
-- `identity_secret` signs host sites' identity hashes (HMAC-SHA256 of the lowercased email);
-- `verified_history` means past conversations are shown only to verified visitors.
-- `allowed_origins` is newline-separated; empty means any origin may embed the widget.
CREATE TABLE chat_widgets (
    inbox_id BIGINT PRIMARY KEY REFERENCES inboxes (id),
    enabled BOOLEAN NOT NULL DEFAULT false,
    accent TEXT NOT NULL DEFAULT '#1f5fbf',
    greeting TEXT NOT NULL DEFAULT '',
    require_email BOOLEAN NOT NULL DEFAULT false,
    identity_secret TEXT NOT NULL,
    verified_history BOOLEAN NOT NULL DEFAULT false,
    allowed_origins TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL
);

-- A chat conversation is a ticket; this row says whose widget it belongs to. `customer_id` is
-- set for a verified visitor (identity hash), who then sees it from any browser.
-- `contact_email` is what the visitor typed: where replies and transcripts go, never proof of
-- who they are. `visitor_present_until` is renewed by nodes holding the visitor's socket; a
-- public reply written after it is emailed.
CREATE TABLE chat_conversations (
    ticket_id BIGINT PRIMARY KEY REFERENCES tickets (id),
    inbox_id BIGINT NOT NULL REFERENCES inboxes (id),
    visitor_id TEXT NOT NULL,
    customer_id BIGINT REFERENCES customers (id),
    visitor_name TEXT NOT NULL DEFAULT '',
    contact_email TEXT,
    client_address TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    visitor_present_until BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX chat_conversations_visitor ON chat_conversations (visitor_id, inbox_id);
CREATE INDEX chat_conversations_customer ON chat_conversations (customer_id, inbox_id);
CREATE INDEX chat_conversations_address ON chat_conversations (client_address, created_at);

-- The client's id of each visitor message: a frame resent after a reconnect finds the message
-- its first copy stored instead of storing a second one.
CREATE TABLE chat_client_messages (
    visitor_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    message_id BIGINT NOT NULL UNIQUE REFERENCES messages (id),
    PRIMARY KEY (visitor_id, client_id)
);
