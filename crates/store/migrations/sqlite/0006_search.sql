-- Search over whole tickets (issue 9). One document per ticket (rowid = ticket id), in four
-- columns a query can be limited to: the subject, the people (customer name and addresses,
-- organisation), public messages with their attachments' names, internal notes with theirs.
-- Rapport tokenises the text itself (folded words, marked stems, CJK character pairs; see
-- rapport_core::search_text), so FTS5 only splits on spaces. Contentless: the text lives in
-- tickets and messages already; snippets are made from there.
DROP TABLE search_index;
CREATE VIRTUAL TABLE ticket_search USING fts5 (
    subject,
    people,
    public,
    notes,
    content = '',
    contentless_delete = 1,
    tokenize = "unicode61 remove_diacritics 0 tokenchars '_'"
);
-- Existing tickets are indexed when the store opens, from this ticket id on.
INSERT INTO settings (key, value) VALUES ('search.rebuild_after', '0');
