//! Full-text search over whole tickets: one document per ticket (subject, people, public
//! messages, notes — see `rapport_core::search_text`), rebuilt in the transaction of every
//! write that changes its text, searched by the backend's index, filtered and ranked here.

use super::{TICKET_SELECT, complete_tickets, push_search_filters};
use crate::model::{SearchHit, SearchScope};
use crate::params;
use crate::sql::{Conn, SqlBuilder};
use crate::{Result, SqlStore, Store};
use rapport_core::MessageKind;
use rapport_core::search::SearchQuery;
use rapport_core::search_text::{Matcher, SearchDoc, Section, snippet};
use std::collections::{BTreeMap, BTreeSet};

/// How many of the newest matching tickets are ranked at a time: a word found in half the
/// desk costs what a rare one does (ranking every match would cost time in their number).
const SEARCH_WINDOW: i64 = 1_000;
/// Filters leaving at most this many tickets are searched within those tickets.
const FEW_FILTERED: i64 = 1_000;
/// Matches read at most when filters let few of them through.
const MAX_SCANNED: i64 = 20_000;
/// Tickets whose documents one statement set loads at a time.
const DOCS_PER_CHUNK: usize = 500;
/// Words around a snippet's matches.
const SNIPPET_WORDS: usize = 24;
/// The setting that holds how far indexing the tickets of an older release has come.
const REBUILD_SETTING: &str = "search.rebuild_after";
/// Tickets indexed per write while catching up.
const REBUILD_CHUNK: i64 = 2_000;

impl SearchScope {
    /// The sections this searcher may match in: customers never search internal notes.
    fn sections(&self) -> &'static [Section] {
        match self {
            SearchScope::Staff => &Section::ALL,
            SearchScope::Customer { .. } => &[Section::Subject, Section::People, Section::Public],
        }
    }
}

/// Rebuilds the search documents of `tickets` from what is stored now.
pub(crate) async fn refresh_search(c: &mut dyn Conn, tickets: BTreeSet<i64>) -> Result<()> {
    let ids: Vec<i64> = tickets.into_iter().collect();
    for chunk in ids.chunks(DOCS_PER_CHUNK) {
        // Two transactions rebuilding one ticket's document (a new message and a customer's
        // rename) would each miss the other's uncommitted change, and the later write would
        // win without it; taking turns per ticket (ids in order, so never a deadlock) makes the
        // second read what the first committed. A no-op with SQLite's single writer.
        for id in chunk {
            c.serialize_on(&format!("search:{id}")).await?;
        }
        for (id, doc) in build_docs(c, chunk).await? {
            c.write_search_doc(id, &doc).await?;
        }
    }
    Ok(())
}

/// The documents of these tickets (missing ids are skipped), with four reads for all.
async fn build_docs(c: &mut dyn Conn, ids: &[i64]) -> Result<BTreeMap<i64, SearchDoc>> {
    let mut docs: BTreeMap<i64, SearchDoc> = BTreeMap::new();
    let mut customers: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let mut q = SqlBuilder::new(
        "SELECT t.id, t.subject, t.customer_id, c.name, o.name FROM tickets t \
         JOIN customers c ON c.id = t.customer_id \
         LEFT JOIN organizations o ON o.id = c.organization_id WHERE t.id IN (",
    );
    q.bind_list(ids.iter().copied()).push(")");
    let (sql, params) = q.parts();
    for r in c.query(sql, params).await? {
        let id = r.int(0)?;
        let doc = docs.entry(id).or_default();
        doc.add(Section::Subject, &r.text(1)?);
        doc.add(Section::People, &r.text(3)?);
        if let Some(org) = r.opt_text(4)? {
            doc.add(Section::People, &org);
        }
        customers.entry(r.int(2)?).or_default().push(id);
    }
    if docs.is_empty() {
        return Ok(docs);
    }
    let mut q =
        SqlBuilder::new("SELECT customer_id, email FROM customer_emails WHERE customer_id IN (");
    q.bind_list(customers.keys().copied())
        .push(") ORDER BY email");
    let (sql, params) = q.parts();
    for r in c.query(sql, params).await? {
        let email = r.text(1)?;
        for ticket in customers.get(&r.int(0)?).into_iter().flatten() {
            if let Some(doc) = docs.get_mut(ticket) {
                doc.add(Section::People, &email);
            }
        }
    }
    let mut q = SqlBuilder::new("SELECT ticket_id, kind, body FROM messages WHERE ticket_id IN (");
    q.bind_list(ids.iter().copied()).push(") ORDER BY id");
    let (sql, params) = q.parts();
    for r in c.query(sql, params).await? {
        if let Some(doc) = docs.get_mut(&r.int(0)?) {
            doc.add(section_of(&r.text(1)?), &r.text(2)?);
        }
    }
    let mut q = SqlBuilder::new(
        "SELECT m.ticket_id, m.kind, a.filename FROM attachments a \
         JOIN messages m ON m.id = a.message_id WHERE m.ticket_id IN (",
    );
    q.bind_list(ids.iter().copied()).push(") ORDER BY a.id");
    let (sql, params) = q.parts();
    for r in c.query(sql, params).await? {
        if let Some(doc) = docs.get_mut(&r.int(0)?) {
            doc.add(section_of(&r.text(1)?), &r.text(2)?);
        }
    }
    Ok(docs)
}

/// Where a message's words go: notes apart from what the customer sees.
fn section_of(kind: &str) -> Section {
    if kind == MessageKind::Note.as_str() {
        Section::Notes
    } else {
        Section::Public
    }
}

/// Indexes tickets stored by a release before whole-ticket search, a chunk per write, until
/// none is left; a no-op once done. Runs when the store opens.
pub(crate) async fn catch_up(store: &SqlStore) -> Result<()> {
    // Every open (every `mail-in` too) passes here: once done, a read and no write.
    if store.setting(REBUILD_SETTING).await?.is_none() {
        return Ok(());
    }
    loop {
        let done = store
            .write(|c| {
                Box::pin(async move {
                    // Read again inside the write: another node may have finished meanwhile.
                    let Some(row) = c
                        .query_opt(
                            "SELECT value FROM settings WHERE key = $1",
                            params![REBUILD_SETTING],
                        )
                        .await?
                    else {
                        return Ok(true);
                    };
                    let after: i64 = row.text(0)?.parse().unwrap_or(0);
                    let ids: BTreeSet<i64> = c
                        .query(
                            "SELECT id FROM tickets WHERE id > $1 ORDER BY id LIMIT $2",
                            params![after, REBUILD_CHUNK],
                        )
                        .await?
                        .iter()
                        .map(|r| r.int(0))
                        .collect::<Result<_>>()?;
                    let last = ids.last().copied();
                    let finished = (ids.len() as i64) < REBUILD_CHUNK;
                    refresh_search(c, ids).await?;
                    if finished {
                        c.execute(
                            "DELETE FROM settings WHERE key = $1",
                            params![REBUILD_SETTING],
                        )
                        .await?;
                    } else if let Some(last) = last {
                        c.execute(
                            "UPDATE settings SET value = $1 WHERE key = $2",
                            params![last.to_string(), REBUILD_SETTING],
                        )
                        .await?;
                        tracing::info!(up_to_ticket = last, "indexing existing tickets for search");
                    }
                    Ok(finished)
                })
            })
            .await?;
        if done {
            return Ok(());
        }
    }
}

/// Tickets matching the query the searcher may see: with words, the best matches (see
/// [`ranked_matches`]), each with a snippet; with filters only, the most recently updated.
pub(crate) async fn search_tickets(
    c: &mut dyn Conn,
    query: SearchQuery,
    scope: SearchScope,
    limit: i64,
) -> Result<Vec<SearchHit>> {
    let sections = scope.sections();
    let matchers = |exclude: bool| -> Vec<Matcher> {
        query
            .text
            .iter()
            .filter(|t| t.exclude == exclude)
            .filter_map(|t| Matcher::of(&t.text))
            .collect()
    };
    let (required, excluded) = (matchers(false), matchers(true));
    if required.is_empty() {
        let mut q = SqlBuilder::new(TICKET_SELECT);
        push_scope_and_filters(&mut q, &scope, &query)?;
        c.push_text_exclusion(&mut q, &excluded, sections);
        q.push(" ORDER BY t.updated_at DESC, t.id DESC LIMIT ")
            .bind(limit);
        let (sql, params) = q.parts();
        let rows = c.query(sql, params).await?;
        return Ok(complete_tickets(c, rows)
            .await?
            .into_iter()
            .map(|t| SearchHit {
                snippet: t.subject.clone(),
                ticket: t,
            })
            .collect());
    }
    let (scores, mut ids) = ranked_matches(c, &query, &scope, &required, &excluded, limit).await?;
    // Best score first; among equals, the newer ticket.
    let score = |id: &i64| scores.get(id).copied().unwrap_or(0.0);
    ids.sort_by(|a, b| score(b).total_cmp(&score(a)).then(b.cmp(a)));
    ids.truncate(usize::try_from(limit).unwrap_or(0));
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = SqlBuilder::new(TICKET_SELECT);
    q.push(" WHERE t.id IN (")
        .bind_list(ids.iter().copied())
        .push(")");
    let (sql, params) = q.parts();
    let rows = c.query(sql, params).await?;
    let mut tickets: BTreeMap<i64, crate::model::Ticket> = complete_tickets(c, rows)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let ranked: Vec<crate::model::Ticket> =
        ids.iter().filter_map(|id| tickets.remove(id)).collect();
    let snippets = snippets(c, &ranked, &required, sections).await?;
    Ok(ranked
        .into_iter()
        .map(|t| SearchHit {
            snippet: snippets
                .get(&t.id)
                .cloned()
                .unwrap_or_else(|| t.subject.clone()),
            ticket: t,
        })
        .collect())
}

/// The tickets that match the words and pass the filters, with their scores. Two ways, by
/// what is cheaper: when the filters (or a customer's reach) leave few tickets, those are
/// looked up in the index; otherwise the index's matches are read newest first, a window at a
/// time, until enough pass the filters (or [`MAX_SCANNED`] matches were read).
async fn ranked_matches(
    c: &mut dyn Conn,
    query: &SearchQuery,
    scope: &SearchScope,
    required: &[Matcher],
    excluded: &[Matcher],
    limit: i64,
) -> Result<(BTreeMap<i64, f64>, Vec<i64>)> {
    let sections = scope.sections();
    let filtered = !query.filters.is_empty() || *scope != SearchScope::Staff;
    if filtered {
        let mut q =
            SqlBuilder::new("SELECT t.id FROM tickets t JOIN customers c ON c.id = t.customer_id");
        push_scope_and_filters(&mut q, scope, query)?;
        // Unordered: the limit stops the scan as soon as the filters are known not to be few.
        q.push(" LIMIT ").bind(FEW_FILTERED + 1);
        let (sql, params) = q.parts();
        let candidates = ids_of(c.query(sql, params).await?)?;
        if candidates.len() as i64 <= FEW_FILTERED {
            if candidates.is_empty() {
                return Ok((BTreeMap::new(), Vec::new()));
            }
            let scores: BTreeMap<i64, f64> = c
                .search_hits(
                    required,
                    excluded,
                    sections,
                    Some(&candidates),
                    None,
                    FEW_FILTERED,
                )
                .await?
                .into_iter()
                .collect();
            let ids = scores.keys().copied().collect();
            return Ok((scores, ids));
        }
    }
    let mut scores = BTreeMap::new();
    let mut passed = Vec::new();
    let mut before = None;
    let mut scanned = 0;
    loop {
        let window = c
            .search_hits(required, excluded, sections, None, before, SEARCH_WINDOW)
            .await?;
        let Some(oldest) = window.iter().map(|(id, _)| *id).min() else {
            break;
        };
        scanned += window.len() as i64;
        let complete = (window.len() as i64) < SEARCH_WINDOW;
        if filtered {
            // The window's tickets are looked up by id and the filters checked on each; the
            // CROSS JOIN keeps SQLite from walking a filter's index (every open ticket, say)
            // instead. Only the page's tickets are loaded whole, later.
            let mut q = SqlBuilder::new("WITH w (id) AS (VALUES ");
            for (i, (id, _)) in window.iter().enumerate() {
                q.push(if i == 0 { "(" } else { ", (" }).bind(*id).push(")");
            }
            q.push(
                ") SELECT t.id FROM w CROSS JOIN tickets t JOIN customers c ON c.id = t.customer_id",
            );
            push_scope_and_filters(&mut q, scope, query)?;
            q.push(" AND t.id = w.id");
            let (sql, params) = q.parts();
            passed.extend(ids_of(c.query(sql, params).await?)?);
        } else {
            passed.extend(window.iter().map(|(id, _)| *id));
        }
        scores.extend(window);
        if complete || passed.len() as i64 >= limit || scanned >= MAX_SCANNED {
            break;
        }
        before = Some(oldest);
    }
    Ok((scores, passed))
}

fn ids_of(rows: Vec<crate::sql::Row>) -> Result<Vec<i64>> {
    rows.iter().map(|r| r.int(0)).collect()
}

/// `WHERE` the searcher's reach (a customer: their own tickets, an organisation's admin: the
/// organisation's) and the query's field filters.
fn push_scope_and_filters(
    q: &mut SqlBuilder,
    scope: &SearchScope,
    query: &SearchQuery,
) -> Result<()> {
    q.push(" WHERE 1 = 1");
    match *scope {
        SearchScope::Staff => {}
        SearchScope::Customer {
            customer_id,
            organization_id: Some(org),
        } => {
            q.push(" AND (t.customer_id = ")
                .bind(customer_id)
                .push(" OR c.organization_id = ")
                .bind(org)
                .push(")");
        }
        SearchScope::Customer { customer_id, .. } => {
            q.push(" AND t.customer_id = ").bind(customer_id);
        }
    }
    push_search_filters(q, &query.filters)
}

/// Each ticket's excerpt: from its subject if the words are there, else from the first
/// message (that the searcher may read) where they are.
async fn snippets(
    c: &mut dyn Conn,
    tickets: &[crate::model::Ticket],
    matchers: &[Matcher],
    sections: &[Section],
) -> Result<BTreeMap<i64, String>> {
    let mut found = BTreeMap::new();
    let mut pending = Vec::new();
    for t in tickets {
        match snippet(&t.subject, matchers, SNIPPET_WORDS) {
            Some(s) => {
                found.insert(t.id, s);
            }
            None => pending.push(t.id),
        }
    }
    if pending.is_empty() {
        return Ok(found);
    }
    let mut q = SqlBuilder::new("SELECT ticket_id, body FROM messages WHERE ticket_id IN (");
    q.bind_list(pending.iter().copied()).push(")");
    if !sections.contains(&Section::Notes) {
        q.push(" AND kind <> ").bind(MessageKind::Note.as_str());
    }
    q.push(" ORDER BY id");
    let (sql, params) = q.parts();
    for r in c.query(sql, params).await? {
        let id = r.int(0)?;
        if found.contains_key(&id) {
            continue;
        }
        if let Some(s) = snippet(&r.text(1)?, matchers, SNIPPET_WORDS) {
            found.insert(id, s);
        }
    }
    Ok(found)
}
