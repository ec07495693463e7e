-- Routing, one-touch ownership, internal requests, honest answers, tone.

-- Availability (since when, for re-offering an absent owner's tickets), capacity for
-- least-loaded routing, optional working hours, and round robin's order.
ALTER TABLE agents ADD COLUMN availability TEXT NOT NULL DEFAULT 'online';
ALTER TABLE agents ADD COLUMN availability_since INTEGER NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN capacity INTEGER NOT NULL DEFAULT 20;
ALTER TABLE agents ADD COLUMN calendar_id INTEGER REFERENCES calendars (id);
ALTER TABLE agents ADD COLUMN last_assigned_at INTEGER NOT NULL DEFAULT 0;

CREATE TABLE agent_skills (
    agent_id INTEGER NOT NULL REFERENCES agents (id),
    skill TEXT NOT NULL,
    PRIMARY KEY (agent_id, skill)
);

ALTER TABLE teams ADD COLUMN assignment TEXT NOT NULL DEFAULT 'manual';
ALTER TABLE teams ADD COLUMN continuity INTEGER NOT NULL DEFAULT 1;
ALTER TABLE teams ADD COLUMN reoffer_after_minutes INTEGER NOT NULL DEFAULT 30;
ALTER TABLE teams ADD COLUMN internal_due_minutes INTEGER NOT NULL DEFAULT 480;
ALTER TABLE teams ADD COLUMN lead_agent_id INTEGER REFERENCES agents (id);

-- The first public reply (a substantive answer; the read-back is not one), how the ticket was
-- resolved ('referred' for an honest no) and how often it changed hands.
ALTER TABLE tickets ADD COLUMN first_reply_at INTEGER;
ALTER TABLE tickets ADD COLUMN resolution TEXT;
ALTER TABLE tickets ADD COLUMN transfers INTEGER NOT NULL DEFAULT 0;
UPDATE tickets SET first_reply_at = (
    SELECT min(m.created_at) FROM messages m WHERE m.ticket_id = tickets.id AND m.kind = 'reply');
-- "At risk of a silent no": unanswered tickets by age. Few rows once answered.
CREATE INDEX tickets_unanswered ON tickets (created_at) WHERE first_reply_at IS NULL;
CREATE INDEX tickets_solved ON tickets (solved_at) WHERE solved_at IS NOT NULL;

CREATE TABLE transfers (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    from_agent_id INTEGER REFERENCES agents (id),
    to_agent_id INTEGER REFERENCES agents (id),
    from_team_id INTEGER REFERENCES teams (id),
    to_team_id INTEGER REFERENCES teams (id),
    reason TEXT NOT NULL,
    by_agent_id INTEGER REFERENCES agents (id),
    created_at INTEGER NOT NULL
);
CREATE INDEX transfers_ticket ON transfers (ticket_id, id);
CREATE INDEX transfers_created ON transfers (created_at);

-- The owner asks another team for something specific by a due time; the team answers the
-- owner, never the customer. Without a ticket: staff asking as internal customers.
CREATE TABLE internal_requests (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER REFERENCES tickets (id),
    requester_id INTEGER NOT NULL REFERENCES agents (id),
    team_id INTEGER NOT NULL REFERENCES teams (id),
    assignee_id INTEGER REFERENCES agents (id),
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    -- The due time while open and not yet escalated: the scheduler claims by it.
    alarm_at INTEGER,
    escalated_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    closed_at INTEGER
);
CREATE INDEX internal_requests_team ON internal_requests (team_id, status, due_at);
CREATE INDEX internal_requests_requester ON internal_requests (requester_id, status, id);
CREATE INDEX internal_requests_ticket ON internal_requests (ticket_id);
CREATE INDEX internal_requests_alarm ON internal_requests (alarm_at) WHERE alarm_at IS NOT NULL;
CREATE INDEX internal_requests_closed ON internal_requests (closed_at);

CREATE TABLE internal_request_replies (
    id INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES internal_requests (id),
    author_id INTEGER NOT NULL REFERENCES agents (id),
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX internal_request_replies_request ON internal_request_replies (request_id, id);

CREATE TABLE referrals (
    ticket_id INTEGER PRIMARY KEY REFERENCES tickets (id),
    message_id INTEGER NOT NULL REFERENCES messages (id),
    referred_to TEXT NOT NULL,
    how_to_reach TEXT NOT NULL,
    agent_id INTEGER REFERENCES agents (id),
    team_id INTEGER REFERENCES teams (id),
    -- From the ticket's creation to the reply that told the customer.
    answered_after_ms INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX referrals_created ON referrals (created_at);

-- The tone of each customer message that scored anything, with its reasons (JSON).
CREATE TABLE message_tone (
    message_id INTEGER PRIMARY KEY REFERENCES messages (id),
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    score INTEGER NOT NULL,
    irate INTEGER NOT NULL,
    reasons TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX message_tone_ticket ON message_tone (ticket_id, message_id);
