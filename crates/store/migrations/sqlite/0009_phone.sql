-- The phone channel: calls logged on tickets, callbacks promised to customers, and a match key
-- on customers' numbers.

-- The last six digits of a customer's number (core::phone::match_key): every number that
-- matches shares them, and the few customers that do are checked in Rust by the full rule.
-- Existing numbers get their key in Rust, by that very function, when the store opens
-- (`queries::phone::backfill_phone_keys`, from this setting on): SQL cannot agree with it
-- for every text people typed.
ALTER TABLE customers ADD COLUMN phone_key TEXT;
INSERT INTO settings (key, value) VALUES ('phone.key_backfill_after', '0');
CREATE INDEX customers_phone_key ON customers (phone_key) WHERE phone_key IS NOT NULL;

-- A call an agent logged: the number as typed and in canonical form, how long, how it ended.
CREATE TABLE calls (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    agent_id INTEGER REFERENCES agents (id),
    direction TEXT NOT NULL,
    number TEXT NOT NULL,
    number_canonical TEXT NOT NULL,
    duration_seconds INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    notes TEXT NOT NULL DEFAULT '',
    -- The internal note carrying the notes into the ticket's history and search.
    message_id INTEGER REFERENCES messages (id),
    started_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX calls_ticket ON calls (ticket_id, id);

-- A promise to call a customer back in a window (UTC, shown in their zone); its commitment
-- (kind promise, due at the window's end) is what reminds, lapses and counts in the kept rate.
CREATE TABLE callbacks (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    number TEXT NOT NULL,
    number_canonical TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    window_end INTEGER NOT NULL,
    time_zone TEXT NOT NULL,
    -- scheduled | done | missed | cancelled
    status TEXT NOT NULL,
    commitment_id INTEGER NOT NULL REFERENCES commitments (id),
    -- Where the request came from: portal, chat (the widget) or phone (an agent).
    origin TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    requested_at INTEGER NOT NULL,
    requested_by INTEGER REFERENCES agents (id),
    done_at INTEGER,
    -- The call that kept it.
    call_id INTEGER REFERENCES calls (id)
);
CREATE INDEX callbacks_scheduled ON callbacks (window_start) WHERE status = 'scheduled';
CREATE INDEX callbacks_ticket ON callbacks (ticket_id, id);
CREATE UNIQUE INDEX callbacks_commitment ON callbacks (commitment_id);
