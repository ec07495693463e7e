-- SLA policies on business-hours calendars, each ticket's clocks, commitments, chases.

CREATE TABLE calendars (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    -- core's CalendarConfig as JSON: time zone, weekly hours, holidays.
    config TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX calendars_name ON calendars (lower(name));

-- Chosen by conditions in position order: the first that matches applies. Without a calendar
-- the ticket's inbox hours count.
CREATE TABLE sla_policies (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    conditions TEXT NOT NULL,
    rules TEXT NOT NULL,
    calendar_id INTEGER REFERENCES calendars (id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX sla_policies_name ON sla_policies (lower(name));

-- One row per ticket: its clocks (core's SlaClocks as JSON) under a policy (none: the inbox's
-- first-answer target), the most pressing due time (views badge and sort by it) and the next
-- alarm, which the scheduler claims rows by.
CREATE TABLE ticket_sla (
    ticket_id INTEGER PRIMARY KEY REFERENCES tickets (id),
    policy_id INTEGER REFERENCES sla_policies (id),
    clocks TEXT NOT NULL,
    due_target TEXT,
    due_at INTEGER,
    alarm_at INTEGER,
    breaches INTEGER NOT NULL DEFAULT 0,
    -- Not solved: recomputation after a calendar or policy change walks only these.
    open INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX ticket_sla_alarm ON ticket_sla (alarm_at) WHERE alarm_at IS NOT NULL;
CREATE INDEX ticket_sla_due ON ticket_sla (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX ticket_sla_policy ON ticket_sla (policy_id);
CREATE INDEX ticket_sla_open ON ticket_sla (ticket_id) WHERE open;

-- A calendar or policy changed: the scheduler recomputes open tickets' due times in chunks,
-- remembering how far it got, so a restart resumes instead of starting over or stopping.
CREATE TABLE sla_recompute (
    id INTEGER PRIMARY KEY,
    reason TEXT NOT NULL,
    -- Choose each ticket's policy again (conditions changed), not just its due times.
    reselect INTEGER NOT NULL DEFAULT 1,
    after_ticket_id INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE commitments (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    kind TEXT NOT NULL,
    description TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    remind_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    -- Who answers for it (the ticket's owner when made) and their team: kept rates group by these.
    owner_id INTEGER REFERENCES agents (id),
    team_id INTEGER REFERENCES teams (id),
    created_by INTEGER REFERENCES agents (id),
    created_at INTEGER NOT NULL,
    resolved_at INTEGER,
    reminded_at INTEGER,
    -- Why it was cancelled.
    note TEXT NOT NULL DEFAULT '',
    -- The reminder, then the due time, while open.
    alarm_at INTEGER
);
CREATE INDEX commitments_ticket ON commitments (ticket_id, id);
CREATE INDEX commitments_alarm ON commitments (alarm_at) WHERE alarm_at IS NOT NULL;
CREATE INDEX commitments_resolved ON commitments (resolved_at);

-- A customer asking for status. The chase rate per team counts these by the ticket's team
-- now, like the tickets it divides by.
CREATE TABLE chases (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    message_id INTEGER NOT NULL REFERENCES messages (id),
    reason TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX chases_at ON chases (at);
CREATE INDEX chases_ticket ON chases (ticket_id);
CREATE INDEX tickets_created ON tickets (created_at);

-- Alerts to agents (SLA warnings and breaches, commitment reminders and lapses) go through the
-- outbox too; their text is kept with the row.
ALTER TABLE outbox ADD COLUMN body TEXT;
