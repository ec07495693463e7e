//! Live updates for open pages: one task per process follows the event log (woken by each
//! commit, and once a second for writes made by another process on the same database) and
//! fans each new event out; every open page holds a Server-Sent Events stream. Presence (who
//! else has a ticket open, who is typing) is kept here in memory, per process.

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

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Viewer {
    pub agent_id: i64,
    pub name: String,
    /// UTC milliseconds until which this viewer counts as typing.
    pub typing_until: i64,
    #[serde(skip)]
    stream: u64,
}

pub struct Live {
    tx: broadcast::Sender<LiveMessage>,
    viewers: Mutex<HashMap<i64, Vec<Viewer>>>,
    next_stream: AtomicU64,
    /// Turns true when the server stops; the follower task ends with it.
    stopped: tokio::sync::watch::Sender<bool>,
}

impl Live {
    /// Starts following `store`'s event log; the task ends when the store is dropped.
    pub fn start(store: &Arc<dyn Store>) -> Arc<Self> {
        let (tx, _) = broadcast::channel(1024);
        let (stopped, stop_rx) = tokio::sync::watch::channel(false);
        let live = Arc::new(Live {
            tx: tx.clone(),
            viewers: Mutex::new(HashMap::new()),
            next_stream: AtomicU64::new(1),
            stopped,
        });
        tokio::spawn(follow_events(Arc::downgrade(store), tx, stop_rx));
        live
    }

    /// Stops following the event log (the server is shutting down).
    pub fn stop(&self) {
        let _ = self.stopped.send(true);
    }

    fn subscribe(&self) -> broadcast::Receiver<LiveMessage> {
        self.tx.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Vec<Viewer>>> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.viewers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn join(&self, ticket_id: i64, agent_id: i64, name: &str) -> u64 {
        let stream = self.next_stream.fetch_add(1, Ordering::Relaxed);
        self.lock().entry(ticket_id).or_default().push(Viewer {
            agent_id,
            name: name.to_string(),
            typing_until: 0,
            stream,
        });
        let _ = self.tx.send(LiveMessage::Presence(ticket_id));
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
        let _ = self.tx.send(LiveMessage::Presence(ticket_id));
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
            let _ = self.tx.send(LiveMessage::Presence(ticket_id));
        }
    }

    /// The other agents on a ticket (one entry per agent, typing if any of their tabs is).
    pub fn others(&self, ticket_id: i64, me: i64) -> Vec<Viewer> {
        let mut others: Vec<Viewer> = Vec::new();
        for v in self.lock().get(&ticket_id).into_iter().flatten() {
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
    let (mut commits, mut after) = match store.upgrade() {
        Some(s) => (s.commits(), s.last_event_id().await.unwrap_or(0)),
        None => return,
    };
    loop {
        // A commit here wakes us at once; writes by another process show within a second.
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            _ = tokio::time::timeout(Duration::from_secs(1), commits.changed()) => {}
        }
        let Some(store) = store.upgrade() else { return };
        match store.events_since(after, 500).await {
            Ok(events) => {
                for e in events {
                    after = e.id;
                    let _ = tx.send(LiveMessage::Event(LiveEvent {
                        id: e.id,
                        ticket_id: e.ticket_id,
                        kind: e.kind,
                        agent_id: e.actor.agent_id(),
                    }));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "live updates cannot read the event log");
                tokio::time::sleep(Duration::from_secs(1)).await;
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
        Live {
            tx: broadcast::channel(16).0,
            viewers: Mutex::new(HashMap::new()),
            next_stream: AtomicU64::new(1),
            stopped: tokio::sync::watch::channel(false).0,
        }
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
}
