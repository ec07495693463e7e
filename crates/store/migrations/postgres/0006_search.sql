-- Search over whole tickets (issue 9). One document per ticket, its sections weighted: A the
-- subject, B the people (customer name and addresses, organisation), C public messages with
-- their attachments' names, D internal notes with theirs. Rapport tokenises the text itself
-- (folded words, marked stems, CJK character pairs; see rapport_core::search_text) and writes
-- the tsvector, so both databases find the same words.
DROP INDEX tickets_search;
ALTER TABLE tickets DROP COLUMN search;
DROP INDEX messages_search;
ALTER TABLE messages DROP COLUMN search;
CREATE TABLE ticket_search (
    ticket_id BIGINT PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
    doc tsvector NOT NULL
);
CREATE INDEX ticket_search_doc ON ticket_search USING GIN (doc);
-- Existing tickets are indexed when the store opens, from this ticket id on.
INSERT INTO settings (key, value) VALUES ('search.rebuild_after', '0');
