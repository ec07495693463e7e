-- Scale-out (issue 10). A lease names background work that one holder at a time may do (an
-- IMAP mailbox being polled); another holder takes it over once it expired.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
