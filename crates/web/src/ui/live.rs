//! Live updates for open pages: one task per process follows the event log (woken by each
//! commit — on PostgreSQL also by other nodes' commits, through LISTEN/NOTIFY — and once a
//! second regardless, so a missed notification only delays) and fans each new event out;
//! every open page holds a Server-Sent Events stream. Presence (who else has a ticket open,
//! who is typing) is kept in memory per process and told to the other nodes with
//! [`Store::broadcast`]; what another node said expires unless it repeats it.

use super::session::{AgentSession, NoFields, SessionForm};
use crate::{AppState, now};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::Stream;
use rapport_store::Store;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::broadcast;

/// How long "typing" shows after the last keystroke report.
const TYPING_MS: i64 = 6_000;

#[derive(Debug, Clone)]
pub enum LiveMessage {
    /// A new event in the log.
    Event(LiveEvent),
    /// Who is looking at a ticket changed.
    Presence(i64),
    /// This stream fell behind; the page should reload what it shows.
    Resync,
}

#[derive(Debug, Clone, Serialize)]
pub struct LiveEvent {
    pub id: i64,
    pub ticket_id: Option<i64>,
    pub kind: String,
    /// The agent who made the change, when an agent did.
    pub agent_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Viewer {
    pub agent_id: i64,
    pub name: String,
    /// UTC milliseconds until which this viewer counts as typing.
    pub typing_until: i64,
    #[serde(skip)]
    stream: u64,
}

/// The viewer id a chat visitor is shown under (agent ids start at 1).
pub const VISITOR_VIEWER: i64 = 0;

/// How often a node repeats who is on its pages, so the others' copies stay alive.
const PRESENCE_REPEAT: Duration = Duration::from_secs(20);
/// How long another node's word on a ticket holds without being repeated (its node may have
/// died without saying goodbye).
const PRESENCE_HOLDS_MS: i64 = 3 * 20_000;

/// What a node tells the others about one ticket: everyone it has on it now.
#[derive(Debug, Serialize, Deserialize)]
struct PresenceNote {
    presence: i64,
    node: u64,
    viewers: Vec<Viewer>,
}

/// Another node's viewers of a ticket, until `holds_until` (UTC milliseconds).
struct RemoteViewers {
    viewers: Vec<Viewer>,
    holds_until: i64,
}

pub struct Live {
    tx: broadcast::Sender<LiveMessage>,
    viewers: Mutex<HashMap<i64, Vec<Viewer>>>,
    /// Viewers on other nodes, by ticket and node.
    remote: Mutex<HashMap<i64, HashMap<u64, RemoteViewers>>>,
    /// This process among the nodes (random, so a restart is a new node).
    node: u64,
    /// Tickets whose local viewers changed, for the task that tells the other nodes.
    changed: tokio::sync::mpsc::UnboundedSender<i64>,
    next_stream: AtomicU64,
    /// Turns true when the server stops; the follower task ends with it.
    stopped: tokio::sync::watch::Sender<bool>,
}

impl Live {
    /// Starts following `store`'s event log; the task ends when the store is dropped.
    pub fn start(store: &Arc<dyn Store>) -> Arc<Self> {
        let (changed, changes) = tokio::sync::mpsc::unbounded_channel();
        let live = Arc::new(Self::new(changed));
        let stop_rx = live.stopped.subscribe();
        tokio::spawn(follow_events(
            Arc::downgrade(store),
            live.tx.clone(),
            stop_rx.clone(),
        ));
        tokio::spawn(share_presence(
            Arc::downgrade(store),
            Arc::downgrade(&live),
            changes,
            store.broadcasts(),
            stop_rx,
        ));
        live
    }

    fn new(changed: tokio::sync::mpsc::UnboundedSender<i64>) -> Self {
        Live {
            tx: broadcast::channel(1024).0,
            viewers: Mutex::new(HashMap::new()),
            remote: Mutex::new(HashMap::new()),
            node: rand::random(),
            changed,
            next_stream: AtomicU64::new(1),
            stopped: tokio::sync::watch::channel(false).0,
        }
    }

    /// Stops following the event log (the server is shutting down).
    pub fn stop(&self) {
        let _ = self.stopped.send(true);
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<LiveMessage> {
        self.tx.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Vec<Viewer>>> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.viewers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_remote(&self) -> std::sync::MutexGuard<'_, HashMap<i64, HashMap<u64, RemoteViewers>>> {
        self.remote.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells this node's pages and, through the sharing task, the other nodes.
    fn presence_changed(&self, ticket_id: i64) {
        let _ = self.tx.send(LiveMessage::Presence(ticket_id));
        let _ = self.changed.send(ticket_id);
    }

    /// What to tell the other nodes about a ticket: this node's viewers of it.
    fn note(&self, ticket_id: i64) -> PresenceNote {
        PresenceNote {
            presence: ticket_id,
            node: self.node,
            viewers: self.lock().get(&ticket_id).cloned().unwrap_or_default(),
        }
    }

    /// Takes in what another node said; its own notes come back too and are ignored.
    fn heard(&self, note: PresenceNote, now: i64) {
        if note.node == self.node {
            return;
        }
        {
            let mut remote = self.lock_remote();
            let nodes = remote.entry(note.presence).or_default();
            if note.viewers.is_empty() {
                nodes.remove(&note.node);
            } else {
                nodes.insert(
                    note.node,
                    RemoteViewers {
                        viewers: note.viewers,
                        holds_until: now + PRESENCE_HOLDS_MS,
                    },
                );
            }
            if nodes.is_empty() {
                remote.remove(&note.presence);
            }
        }
        let _ = self.tx.send(LiveMessage::Presence(note.presence));
    }

    fn join(&self, ticket_id: i64, agent_id: i64, name: &str) -> u64 {
        let stream = self.next_stream.fetch_add(1, Ordering::Relaxed);
        self.lock().entry(ticket_id).or_default().push(Viewer {
            agent_id,
            name: name.to_string(),
            typing_until: 0,
            stream,
        });
        self.presence_changed(ticket_id);
        stream
    }

    fn leave(&self, ticket_id: i64, stream: u64) {
        {
            let mut viewers = self.lock();
            if let Some(list) = viewers.get_mut(&ticket_id) {
                list.retain(|v| v.stream != stream);
                if list.is_empty() {
                    viewers.remove(&ticket_id);
                }
            }
        }
        self.presence_changed(ticket_id);
    }

    /// Marks an agent as typing; tells the other pages at most every 2 seconds per agent,
    /// however often a page reports.
    fn typing(&self, ticket_id: i64, agent_id: i64) {
        let now = now().0;
        let mut changed = false;
        if let Some(list) = self.lock().get_mut(&ticket_id) {
            for v in list.iter_mut().filter(|v| v.agent_id == agent_id) {
                if v.typing_until < now + TYPING_MS - 2_000 {
                    v.typing_until = now + TYPING_MS;
                    changed = true;
                }
            }
        }
        if changed {
            self.presence_changed(ticket_id);
        }
    }

    /// A chat visitor is typing on a ticket: shown to its agents like an agent's typing, as
    /// a viewer with agent id 0 (no agent has it) until [`Live::visitor_left`].
    pub fn visitor_typing(&self, ticket_id: i64, name: &str) {
        let until = now().0 + TYPING_MS;
        {
            let mut viewers = self.lock();
            let list = viewers.entry(ticket_id).or_default();
            match list.iter_mut().find(|v| v.agent_id == VISITOR_VIEWER) {
                // Told at most every 2 seconds, however often the widget reports.
                Some(v) if v.typing_until >= until - 2_000 => return,
                Some(v) => v.typing_until = until,
                None => list.push(Viewer {
                    agent_id: VISITOR_VIEWER,
                    name: name.to_string(),
                    typing_until: until,
                    stream: 0,
                }),
            }
        }
        self.presence_changed(ticket_id);
    }

    /// The chat visitor of a ticket has no socket on this node any more.
    pub fn visitor_left(&self, ticket_id: i64) {
        let removed = {
            let mut viewers = self.lock();
            let Some(list) = viewers.get_mut(&ticket_id) else {
                return;
            };
            let before = list.len();
            list.retain(|v| v.agent_id != VISITOR_VIEWER);
            let removed = list.len() != before;
            if list.is_empty() {
                viewers.remove(&ticket_id);
            }
            removed
        };
        if removed {
            self.presence_changed(ticket_id);
        }
    }

    /// The other agents on a ticket, on any node (one entry per agent, typing if any of their
    /// tabs is).
    pub fn others(&self, ticket_id: i64, me: i64) -> Vec<Viewer> {
        let mut all: Vec<Viewer> = self.lock().get(&ticket_id).cloned().unwrap_or_default();
        let now = now().0;
        if let Some(nodes) = self.lock_remote().get(&ticket_id) {
            for remote in nodes.values().filter(|r| r.holds_until > now) {
                all.extend(remote.viewers.iter().cloned());
            }
        }
        let mut others: Vec<Viewer> = Vec::new();
        for v in &all {
            if v.agent_id == me {
                continue;
            }
            match others.iter_mut().find(|o| o.agent_id == v.agent_id) {
                Some(o) => o.typing_until = o.typing_until.max(v.typing_until),
                None => others.push(v.clone()),
            }
        }
        others
    }
}

async fn follow_events(
    store: Weak<dyn Store>,
    tx: broadcast::Sender<LiveMessage>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let (mut commits, mut cursor) = match store.upgrade() {
        Some(s) => (
            s.commits(),
            EventCursor::new(s.last_event_id().await.unwrap_or(0)),
        ),
        None => return,
    };
    let mut gaps_checked = tokio::time::Instant::now();
    let mut idle_since_sync = tokio::time::Instant::now();
    loop {
        // A commit here wakes us at once; writes by another process show within a second.
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            _ = tokio::time::timeout(Duration::from_secs(1), commits.changed()) => {}
        }
        let Some(store) = store.upgrade() else { return };
        // With no page open nobody needs the events: every node reading the log after every
        // commit of the cluster doubled the database's work per ticket at three nodes. The
        // cursor only follows the log's end once a second, so a page that opens gets at most
        // a second of older events.
        if tx.receiver_count() == 0 {
            if idle_since_sync.elapsed() >= Duration::from_secs(1) {
                idle_since_sync = tokio::time::Instant::now();
                if let Ok(last) = store.last_event_id().await {
                    cursor = EventCursor::new(last);
                }
            }
            continue;
        }
        let mut fresh = match store.events_since(cursor.after, 500).await {
            Ok(events) => cursor.accept(events, now().0),
            Err(e) => {
                tracing::warn!(error = %e, "live updates cannot read the event log");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        // Ids skipped over may still commit; look for all of them in one read, every few
        // pauses rather than at every commit. (One read per id every 200 ms left a reply that
        // committed late up to 200 ms behind: a chat visitor's p99 on PostgreSQL.)
        if gaps_checked.elapsed() >= GAP_CHECK_EVERY && cursor.has_gaps() {
            gaps_checked = tokio::time::Instant::now();
            if let Ok(events) = store.events_with_ids(cursor.gaps()).await {
                fresh.extend(cursor.accept(events, now().0));
            }
        }
        for e in fresh {
            let _ = tx.send(LiveMessage::Event(LiveEvent {
                id: e.id,
                ticket_id: e.ticket_id,
                kind: e.kind,
                agent_id: e.actor.agent_id(),
            }));
        }
        // Commits arriving meanwhile are read together: one read per pause, not per commit.
        tokio::time::sleep(READ_PAUSE).await;
    }
}

/// The shortest time between two reads of the event log.
const READ_PAUSE: Duration = Duration::from_millis(25);

/// How long an id skipped over in the event log is looked for. Event ids are taken when a
/// transaction inserts them, not when it commits: on PostgreSQL a transaction that started
/// earlier can commit after a later one was read, and its events would be passed over for
/// good. A transaction that rolled back leaves its ids missing forever, hence the limit.
const GAP_WAIT_MS: i64 = 10_000;
/// At most this many missing ids are looked for (a mass rollback must not flood the log).
const MAX_GAPS: usize = 256;
const GAP_CHECK_EVERY: Duration = Duration::from_millis(50);

/// Where the follower is in the event log: the newest id read, and the older ids not seen yet.
struct EventCursor {
    after: i64,
    /// Missing ids and when they were first missed (UTC milliseconds).
    gaps: std::collections::BTreeMap<i64, i64>,
}

impl EventCursor {
    fn new(after: i64) -> Self {
        Self {
            after,
            gaps: Default::default(),
        }
    }

    /// The events among `events` not passed on before, in the order given.
    fn accept(&mut self, events: Vec<rapport_store::Event>, now: i64) -> Vec<rapport_store::Event> {
        let mut fresh = Vec::new();
        for e in events {
            if e.id <= self.after {
                if self.gaps.remove(&e.id).is_some() {
                    fresh.push(e);
                }
                continue;
            }
            let skipped_from = (self.after + 1).max(e.id - MAX_GAPS as i64);
            for missing in skipped_from..e.id {
                self.gaps.insert(missing, now);
            }
            self.after = e.id;
            fresh.push(e);
        }
        self.gaps
            .retain(|_, missed_at| now - *missed_at < GAP_WAIT_MS);
        while self.gaps.len() > MAX_GAPS {
            self.gaps.pop_first();
        }
        fresh
    }

    fn gaps(&self) -> Vec<i64> {
        self.gaps.keys().copied().collect()
    }

    fn has_gaps(&self) -> bool {
        !self.gaps.is_empty()
    }
}

/// Tells the other nodes when this node's viewers of a ticket change, repeats everything
/// every [`PRESENCE_REPEAT`], and takes in what the other nodes say.
async fn share_presence(
    store: Weak<dyn Store>,
    live: Weak<Live>,
    mut changes: tokio::sync::mpsc::UnboundedReceiver<i64>,
    mut heard: broadcast::Receiver<String>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut repeat = tokio::time::interval(PRESENCE_REPEAT);
    loop {
        let to_tell: Vec<i64> = tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            changed = changes.recv() => match changed {
                Some(ticket_id) => vec![ticket_id],
                None => return,
            },
            _ = repeat.tick() => match live.upgrade() {
                Some(live) => live.lock().keys().copied().collect(),
                None => return,
            },
            message = heard.recv() => {
                match (message, live.upgrade()) {
                    (_, None) => return,
                    (Ok(text), Some(live)) => {
                        if let Ok(note) = serde_json::from_str::<PresenceNote>(&text) {
                            live.heard(note, now().0);
                        }
                    }
                    // Missed notes are repeated within PRESENCE_REPEAT.
                    (Err(broadcast::error::RecvError::Lagged(_)), Some(_)) => {}
                    (Err(broadcast::error::RecvError::Closed), Some(_)) => return,
                }
                continue;
            }
        };
        let (Some(store), Some(live)) = (store.upgrade(), live.upgrade()) else {
            return;
        };
        for ticket_id in to_tell {
            let Ok(text) = serde_json::to_string(&live.note(ticket_id)) else {
                continue;
            };
            if let Err(e) = store.broadcast(&text).await {
                tracing::debug!(error = %e, "cannot tell the other nodes who is on a ticket");
            }
        }
    }
}

#[derive(Deserialize)]
pub struct LiveQuery {
    /// Follow one ticket (and show this agent as viewing it); all tickets when absent.
    ticket: Option<i64>,
}

/// How often an open stream checks that its session still holds.
const SESSION_CHECK: Duration = Duration::from_secs(60);

struct SessionWatch {
    store: Arc<dyn Store>,
    id_hash: String,
    every: tokio::time::Interval,
}

impl SessionWatch {
    async fn ended(&self) -> bool {
        // A database hiccup keeps the stream; only a definite "no such session" ends it.
        matches!(
            self.store.session_agent(&self.id_hash, now()).await,
            Ok(None)
        )
    }
}

/// Leaves the ticket when the stream ends (the page closed or the connection dropped).
struct Presence {
    live: Arc<Live>,
    ticket_id: i64,
    stream: u64,
}

impl Drop for Presence {
    fn drop(&mut self) {
        self.live.leave(self.ticket_id, self.stream);
    }
}

/// `GET /live`: the page's event stream.
pub async fn stream(
    State(state): State<AppState>,
    session: AgentSession,
    Query(q): Query<LiveQuery>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let live = state.ui.live.clone();
    let rx = live.subscribe();
    let me = session.agent.id;
    let presence = q.ticket.map(|ticket_id| Presence {
        stream: live.join(ticket_id, me, &session.agent.name),
        live: live.clone(),
        ticket_id,
    });
    let ticket = q.ticket;
    let watch = SessionWatch {
        store: state.store.clone(),
        id_hash: session.id_hash.clone(),
        every: tokio::time::interval(SESSION_CHECK),
    };
    let stream = futures::stream::unfold(
        (rx, presence, live, watch),
        move |(mut rx, presence, live, mut watch)| async move {
            loop {
                let received = tokio::select! {
                    received = rx.recv() => received,
                    _ = watch.every.tick() => {
                        // A stream ends with its session (signed out, expired, deactivated).
                        if watch.ended().await {
                            return None;
                        }
                        continue;
                    }
                };
                let message = match received {
                    Ok(m) => m,
                    Err(broadcast::error::RecvError::Lagged(_)) => LiveMessage::Resync,
                    Err(broadcast::error::RecvError::Closed) => return None,
                };
                if let Some(event) = to_sse(&message, ticket, me, &live) {
                    return Some((Ok(event), (rx, presence, live, watch)));
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

fn to_sse(message: &LiveMessage, ticket: Option<i64>, me: i64, live: &Live) -> Option<SseEvent> {
    match message {
        LiveMessage::Event(e) if ticket.is_none() || e.ticket_id == ticket => {
            SseEvent::default().event("changed").json_data(e).ok()
        }
        LiveMessage::Presence(id) if Some(*id) == ticket => SseEvent::default()
            .event("presence")
            .json_data(live.others(*id, me))
            .ok(),
        LiveMessage::Resync => Some(SseEvent::default().event("resync").data("{}")),
        _ => None,
    }
}

/// `POST /t/{id}/typing`: the agent is writing on this ticket.
pub async fn typing(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, .. }: SessionForm<AgentSession, NoFields>,
) -> Response {
    state.ui.live.typing(id, session.agent.id);
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Live {
        Live::new(tokio::sync::mpsc::unbounded_channel().0)
    }

    #[test]
    fn presence_lists_other_agents_once_and_forgets_closed_pages() {
        let live = hub();
        let a1 = live.join(7, 1, "Ann");
        let _a2 = live.join(7, 1, "Ann");
        let b = live.join(7, 2, "Bo");
        assert_eq!(live.others(7, 1).len(), 1, "Ann sees Bo");
        assert_eq!(
            live.others(7, 2).len(),
            1,
            "Bo sees Ann once, though she has two tabs"
        );
        live.typing(7, 2);
        assert!(live.others(7, 1)[0].typing_until > now().0);
        live.leave(7, b);
        assert!(live.others(7, 1).is_empty());
        live.leave(7, a1);
        assert_eq!(
            live.others(7, 2).len(),
            1,
            "Ann's other tab still has it open"
        );
        assert!(live.others(8, 1).is_empty());
    }

    fn event(id: i64) -> rapport_store::Event {
        rapport_store::Event {
            id,
            ticket_id: Some(1),
            kind: "ticket.changed".into(),
            actor: rapport_core::Actor::SYSTEM,
            subject_type: "ticket".into(),
            subject_id: 1,
            data: serde_json::Value::Null,
            created_at: rapport_core::Millis(0),
        }
    }

    fn ids(events: Vec<rapport_store::Event>) -> Vec<i64> {
        events.into_iter().map(|e| e.id).collect()
    }

    #[test]
    fn events_committed_late_with_older_ids_are_still_passed_on_once() {
        let mut cursor = EventCursor::new(10);
        assert_eq!(ids(cursor.accept(vec![event(11), event(13)], 0)), [11, 13]);
        assert_eq!(
            cursor.gaps(),
            [12],
            "12 was taken by a transaction still running"
        );
        // Read again from the cursor: nothing new.
        assert!(cursor.accept(vec![], 100).is_empty());
        // The slow transaction commits: its event comes once, however often it is read.
        assert_eq!(ids(cursor.accept(vec![event(12)], 200)), [12]);
        assert!(cursor.accept(vec![event(12), event(13)], 300).is_empty());
        assert!(cursor.gaps().is_empty());
        // A rolled-back transaction's id is given up after a while.
        assert_eq!(ids(cursor.accept(vec![event(15)], 1_000)), [15]);
        assert_eq!(cursor.gaps(), [14]);
        cursor.accept(vec![], 1_000 + GAP_WAIT_MS);
        assert!(cursor.gaps().is_empty());
        // A huge jump (a mass rollback) keeps only the nearest ids in view.
        cursor.accept(vec![event(100_000)], 20_000);
        assert_eq!(cursor.gaps().len(), MAX_GAPS);
        assert_eq!(cursor.gaps()[0], 100_000 - MAX_GAPS as i64);
    }

    #[test]
    fn another_nodes_viewers_show_until_they_leave_or_go_quiet() {
        let (here, there) = (hub(), hub());
        let ann = there.join(7, 1, "Ann");
        here.heard(there.note(7), now().0);
        let seen = here.others(7, 2);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].name, "Ann");
        assert!(here.others(7, 1).is_empty(), "Ann does not see herself");
        // Our own notes come back through the broadcast; they change nothing.
        here.heard(here.note(7), now().0);
        assert_eq!(here.others(7, 2).len(), 1);
        there.leave(7, ann);
        here.heard(there.note(7), now().0);
        assert!(here.others(7, 2).is_empty(), "Ann closed the page");
        // A node that dies says nothing more: what it said fades.
        there.join(7, 1, "Ann");
        here.heard(there.note(7), now().0 - PRESENCE_HOLDS_MS - 1);
        assert!(here.others(7, 2).is_empty());
    }

    /// Two `Live`s on one store are two nodes: what one has open reaches the other through
    /// the store's broadcasts (NOTIFY on PostgreSQL).
    async fn presence_crosses_nodes(a: Arc<dyn Store>, b: Arc<dyn Store>) {
        let (node_a, node_b) = (Live::start(&a), Live::start(&b));
        let mut pages_b = node_b.subscribe();
        let ann = node_a.join(7, 1, "Ann");
        let wait_for = |want: usize| {
            let node_b = node_b.clone();
            async move {
                for _ in 0..100 {
                    if node_b.others(7, 2).len() == want {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                panic!("node b never saw {want} other viewers");
            }
        };
        wait_for(1).await;
        assert!(matches!(pages_b.recv().await, Ok(LiveMessage::Presence(7))));
        node_a.typing(7, 1);
        for _ in 0..100 {
            if node_b
                .others(7, 2)
                .first()
                .is_some_and(|v| v.typing_until > now().0)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            node_b.others(7, 2)[0].typing_until > now().0,
            "typing crosses too"
        );
        node_a.leave(7, ann);
        wait_for(0).await;
        node_a.stop();
        node_b.stop();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn presence_crosses_nodes_on_sqlite() {
        let db = rapport_store::testing::TestDb::sqlite().await;
        presence_crosses_nodes(db.store.clone(), db.store.clone()).await;
        db.finish().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn presence_crosses_nodes_on_postgres() {
        let Some(db) = rapport_store::testing::TestDb::postgres().await else {
            return;
        };
        let other = rapport_store::open(&db.url).await.unwrap();
        presence_crosses_nodes(db.store.clone(), other.clone()).await;
        other.close().await;
        db.finish().await;
    }
}
