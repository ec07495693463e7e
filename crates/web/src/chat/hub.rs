//! The chat hub: which sockets of this node follow which conversation, and the one task that
//! turns the event log into frames for them.
//!
//! Fan-out does not poll per socket: the hub listens to the workspace's [`Live`] follower (one
//! read of the event log per pause for the whole node) and, for each conversation with a
//! `message.added` event and sockets here, reads the new public messages **once**, serialises
//! each frame once and hands the same bytes to every socket's small bounded queue. A socket
//! that cannot keep up loses its queue and is closed (its widget reconnects and resumes).
//! The hub subscribes to the follower only while it has sockets, so a node without visitors
//! or open pages still skips reading the log.

use crate::ui::{Live, LiveMessage, VISITOR_VIEWER};
use crate::{AppState, now};
use rapport_core::Millis;
use rapport_core::routing::Availability;
use rapport_store::{Inbox, Store, StoreError};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// Frames a socket's queue holds before the socket counts as too slow.
pub const QUEUE: usize = 64;
/// How often this node renews "the visitor is here" for its conversations.
const PRESENCE_EVERY: Duration = Duration::from_secs(20);
/// How long an inbox's "someone is available" answer is reused.
const ONLINE_CACHE_MS: i64 = 5_000;
/// A visitor's messages across all their connections on this node, per minute.
pub const VISITOR_MESSAGES_PER_MINUTE: usize = 60;
/// Sockets one client address may hold on this node.
pub const SOCKETS_PER_ADDRESS: u32 = 50;

/// A frame for a socket, serialised once for all of them. `seq` is a message's id (frames
/// without one, like typing, are always passed on).
#[derive(Debug, Clone)]
pub struct Outbound {
    pub seq: Option<i64>,
    pub text: Arc<str>,
}

/// A socket waiting for its visitor's first conversation, and how to tell it.
type Waiting = (u64, tokio::sync::oneshot::Sender<i64>);

struct Member {
    socket: u64,
    tx: mpsc::Sender<Outbound>,
}

struct Room {
    /// The newest message id the hub has read for this conversation.
    last_seq: i64,
    members: Vec<Member>,
}

pub struct ChatHub {
    rooms: Mutex<HashMap<i64, Room>>,
    /// Wakes the fan-out task when the first socket joins.
    joined: Arc<Notify>,
    next_socket: AtomicU64,
    sockets_by_address: Mutex<HashMap<String, u32>>,
    /// Each visitor's recent message times (the per-visitor limit).
    visitor_messages: Mutex<HashMap<String, Vec<i64>>>,
    /// Sockets of visitors without a conversation yet, told when one of their tabs starts one.
    lobby: Mutex<HashMap<String, Vec<Waiting>>>,
    /// Inbox id → (when computed, someone available).
    online: Mutex<HashMap<i64, (i64, bool)>>,
    secret: tokio::sync::OnceCell<Vec<u8>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain data: a panic elsewhere leaves it usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ChatHub {
    /// Starts the fan-out and presence tasks; they end when the store is dropped.
    pub fn start(store: &Arc<dyn Store>, live: &Arc<Live>) -> Arc<Self> {
        let hub = Arc::new(ChatHub {
            rooms: Mutex::new(HashMap::new()),
            joined: Arc::new(Notify::new()),
            next_socket: AtomicU64::new(1),
            sockets_by_address: Mutex::new(HashMap::new()),
            visitor_messages: Mutex::new(HashMap::new()),
            online: Mutex::new(HashMap::new()),
            lobby: Mutex::new(HashMap::new()),
            secret: tokio::sync::OnceCell::new(),
        });
        tokio::spawn(fan_out(
            Arc::downgrade(store),
            Arc::downgrade(&hub),
            live.clone(),
        ));
        tokio::spawn(renew_presence(Arc::downgrade(store), Arc::downgrade(&hub)));
        hub
    }

    /// The key visitor tokens are signed with (a setting made the first time it is needed).
    pub async fn secret(&self, store: &dyn Store) -> Result<&[u8], StoreError> {
        let secret = self
            .secret
            .get_or_try_init(|| async {
                let candidate = super::hex(&rand::random::<[u8; 32]>());
                let kept = store
                    .init_setting(super::VISITOR_SECRET_SETTING, &candidate)
                    .await?;
                Ok::<_, StoreError>(kept.into_bytes())
            })
            .await?;
        Ok(secret)
    }

    pub fn new_socket_id(&self) -> u64 {
        self.next_socket.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts a socket of a client address; `None` when it holds too many already. The
    /// guard gives the place back.
    pub fn admit(self: &Arc<Self>, address: &str) -> Option<AddressGuard> {
        let mut counts = lock(&self.sockets_by_address);
        let count = counts.entry(address.to_string()).or_default();
        if *count >= SOCKETS_PER_ADDRESS {
            return None;
        }
        *count += 1;
        Some(AddressGuard {
            hub: self.clone(),
            address: address.to_string(),
        })
    }

    /// A socket follows a conversation. Returns whether it is the first on this node.
    pub fn join(
        &self,
        ticket_id: i64,
        socket: u64,
        after: i64,
        tx: mpsc::Sender<Outbound>,
    ) -> bool {
        let first = {
            let mut rooms = lock(&self.rooms);
            let room = rooms.entry(ticket_id).or_insert(Room {
                last_seq: after,
                members: Vec::new(),
            });
            room.members.push(Member { socket, tx });
            room.members.len() == 1
        };
        self.joined.notify_one();
        first
    }

    /// A conversation's only socket here has every message up to `seq` (it read them itself):
    /// the hub need not read them again. (A room made with an old `after` — every page view
    /// of the host site resumes from 0 — would otherwise re-read the whole conversation at
    /// its next message and overflow the socket's queue.) With other sockets in the room the
    /// hub's mark stays, since they may not have those messages yet.
    pub fn caught_up(&self, ticket_id: i64, socket: u64, seq: i64) {
        let mut rooms = lock(&self.rooms);
        if let Some(room) = rooms.get_mut(&ticket_id)
            && room.members.len() == 1
            && room.members[0].socket == socket
        {
            room.last_seq = room.last_seq.max(seq);
        }
    }

    /// The socket stopped following; returns whether the conversation has no socket here now.
    pub fn leave(&self, ticket_id: i64, socket: u64) -> bool {
        let mut rooms = lock(&self.rooms);
        let Some(room) = rooms.get_mut(&ticket_id) else {
            return false;
        };
        room.members.retain(|m| m.socket != socket);
        if room.members.is_empty() {
            rooms.remove(&ticket_id);
            return true;
        }
        false
    }

    /// A socket of a visitor with no conversation yet: the receiver gets the conversation
    /// another tab of theirs starts on this node.
    pub fn await_conversation(
        &self,
        visitor_id: &str,
        socket: u64,
    ) -> tokio::sync::oneshot::Receiver<i64> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        lock(&self.lobby)
            .entry(visitor_id.to_string())
            .or_default()
            .push((socket, tx));
        rx
    }

    /// The socket no longer waits (it closed, or follows a conversation now).
    pub fn leave_lobby(&self, visitor_id: &str, socket: u64) {
        let mut lobby = lock(&self.lobby);
        if let Some(waiting) = lobby.get_mut(visitor_id) {
            waiting.retain(|(s, _)| *s != socket);
            if waiting.is_empty() {
                lobby.remove(visitor_id);
            }
        }
    }

    /// A visitor started a conversation: their other tabs here follow it too.
    pub fn conversation_started(&self, visitor_id: &str, ticket_id: i64) {
        for (_, tx) in lock(&self.lobby).remove(visitor_id).unwrap_or_default() {
            let _ = tx.send(ticket_id);
        }
    }

    /// Sockets following conversations on this node.
    pub fn sockets(&self) -> usize {
        lock(&self.rooms).values().map(|r| r.members.len()).sum()
    }

    /// Counts a visitor's message against their per-minute limit (across connections on this
    /// node); false when it is over.
    pub fn visitor_may_send(&self, visitor_id: &str, at: Millis) -> bool {
        let mut all = lock(&self.visitor_messages);
        // Forget visitors who went quiet, so the map stays as small as the active visitors.
        if all.len() > 10_000 {
            all.retain(|_, times| times.last().is_some_and(|t| at.0 - t < 60_000));
        }
        let times = all.entry(visitor_id.to_string()).or_default();
        times.retain(|t| at.0 - t < 60_000);
        if times.len() >= VISITOR_MESSAGES_PER_MINUTE {
            return false;
        }
        times.push(at.0);
        true
    }

    /// Whether an agent who may take the inbox's chats is online and on shift (agents of the
    /// inbox's team; any active agent when it has none). Cached for a few seconds.
    pub async fn agent_available(
        &self,
        state: &AppState,
        inbox: &Inbox,
        at: Millis,
    ) -> Result<bool, StoreError> {
        if let Some((computed, online)) = lock(&self.online).get(&inbox.id).copied()
            && at.0 - computed < ONLINE_CACHE_MS
        {
            return Ok(online);
        }
        let (agents, routing) = tokio::try_join!(
            state.store.list_agents(),
            state.store.list_agent_routing(at)
        )?;
        let available: HashSet<i64> = routing
            .iter()
            .filter(|r| r.availability == Availability::Online && r.on_shift)
            .map(|r| r.agent_id)
            .collect();
        let online = agents.iter().any(|a| {
            a.active
                && available.contains(&a.id)
                && inbox.team_id.is_none_or(|team| a.team_ids.contains(&team))
        });
        lock(&self.online).insert(inbox.id, (at.0, online));
        Ok(online)
    }

    fn rooms_with(&self, tickets: &HashSet<i64>) -> Vec<(i64, i64)> {
        let rooms = lock(&self.rooms);
        tickets
            .iter()
            .filter_map(|t| rooms.get(t).map(|r| (*t, r.last_seq)))
            .collect()
    }

    /// Sends frames to a conversation's sockets; drops the sockets whose queues are full.
    fn send(&self, ticket_id: i64, frames: &[Outbound], last_seq: Option<i64>) {
        let mut rooms = lock(&self.rooms);
        let Some(room) = rooms.get_mut(&ticket_id) else {
            return;
        };
        if let Some(seq) = last_seq {
            room.last_seq = room.last_seq.max(seq);
        }
        room.members.retain(|m| {
            frames.iter().all(|f| match m.tx.try_send(f.clone()) {
                Ok(()) => true,
                // Too slow or gone: its socket sees the queue end and closes.
                Err(_) => false,
            })
        });
    }
}

/// Gives back a client address's socket place when the socket ends.
pub struct AddressGuard {
    hub: Arc<ChatHub>,
    address: String,
}

impl Drop for AddressGuard {
    fn drop(&mut self) {
        let mut counts = lock(&self.hub.sockets_by_address);
        if let Some(count) = counts.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

/// The frame of one message, as every socket of its conversation gets it.
pub fn message_frame(m: &rapport_store::ChatMessage) -> Outbound {
    // Always empty today: the ticket page's reply form cannot attach files, and visitors send
    // text only. The field is part of the protocol for when they can.
    let attachments: Vec<serde_json::Value> = Vec::new();
    let mut frame = serde_json::json!({
        "type": "message",
        "seq": m.seq,
        "conversation": m.ticket_id,
        "from": if m.from_visitor { "visitor" } else { "agent" },
        "author": m.author,
        "body": m.body,
        "at": m.at.0,
        "attachments": attachments,
    });
    if let Some(client_id) = &m.client_id {
        frame["client_id"] = serde_json::Value::String(client_id.clone());
    }
    Outbound {
        seq: Some(m.seq),
        text: Arc::from(frame.to_string()),
    }
}

/// Follows the event log through [`Live`] while there are sockets, and fans new messages and
/// agents' typing out to them.
async fn fan_out(store: Weak<dyn Store>, hub: Weak<ChatHub>, live: Arc<Live>) {
    loop {
        // Idle: no subscription, so the follower does not read the log for us.
        loop {
            let Some(h) = hub.upgrade() else { return };
            if h.sockets() > 0 {
                break;
            }
            let joined = h.joined.clone();
            drop(h);
            // Wake now and then to notice the hub being dropped. (`notify_one` keeps a permit,
            // so a join between the check and this wait is not missed.)
            let _ = tokio::time::timeout(Duration::from_secs(5), joined.notified()).await;
        }
        let mut rx = live.subscribe();
        loop {
            let first = match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
                Ok(Ok(m)) => Some(m),
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                    Some(LiveMessage::Resync)
                }
                Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return,
                Err(_) => None,
            };
            let (Some(store), Some(h)) = (store.upgrade(), hub.upgrade()) else {
                return;
            };
            if h.sockets() == 0 {
                break;
            }
            // Everything that arrived together is handled together: one read per conversation.
            let mut changed: HashSet<i64> = HashSet::new();
            let mut typing: HashSet<i64> = HashSet::new();
            let mut all = false;
            let mut next = first;
            while let Some(message) = next {
                match message {
                    LiveMessage::Event(e) if e.kind == "message.added" => {
                        changed.extend(e.ticket_id);
                    }
                    LiveMessage::Presence(ticket_id) => {
                        typing.insert(ticket_id);
                    }
                    LiveMessage::Resync => all = true,
                    LiveMessage::Event(_) => {}
                }
                next = match rx.try_recv() {
                    Ok(m) => Some(m),
                    Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {
                        Some(LiveMessage::Resync)
                    }
                    Err(_) => None,
                };
            }
            if all {
                changed.extend(lock(&h.rooms).keys().copied());
            }
            deliver_messages(&store, &h, &changed).await;
            deliver_typing(&h, &live, &typing);
        }
    }
}

/// Conversations whose new messages one read fetches.
const CONVERSATIONS_PER_READ: usize = 500;

async fn deliver_messages(store: &Arc<dyn Store>, hub: &Arc<ChatHub>, changed: &HashSet<i64>) {
    // One read per batch of conversations, not one each: a resync after a lag touches every
    // conversation with a socket here (ten thousand reads, each a round trip on PostgreSQL,
    // took longer than the next lag, and the hub never caught up).
    for batch in hub.rooms_with(changed).chunks(CONVERSATIONS_PER_READ) {
        let messages = match store.chat_messages_of(batch.to_vec()).await {
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!(error = %e, "chat fan-out cannot read messages");
                continue;
            }
        };
        let mut by_conversation: HashMap<i64, Vec<Outbound>> = HashMap::new();
        for m in &messages {
            by_conversation
                .entry(m.ticket_id)
                .or_default()
                .push(message_frame(m));
        }
        for (ticket_id, frames) in by_conversation {
            hub.send(ticket_id, &frames, frames.last().and_then(|f| f.seq));
        }
    }
}

/// Tells a conversation's sockets which agents are typing on its ticket.
fn deliver_typing(hub: &ChatHub, live: &Live, tickets: &HashSet<i64>) {
    let at = now().0;
    for &ticket_id in tickets {
        if !lock(&hub.rooms).contains_key(&ticket_id) {
            continue;
        }
        let frames: Vec<Outbound> = live
            .others(ticket_id, VISITOR_VIEWER)
            .into_iter()
            .filter(|v| v.agent_id != VISITOR_VIEWER && v.typing_until > at)
            .map(|v| Outbound {
                seq: None,
                text: Arc::from(
                    serde_json::json!({"type": "typing", "from": "agent", "name": v.name})
                        .to_string(),
                ),
            })
            .collect();
        if !frames.is_empty() {
            hub.send(ticket_id, &frames, None);
        }
    }
}

/// Renews "the visitor is here" for every conversation with a socket on this node, so
/// replies to them are not emailed (see the store's chat rule).
async fn renew_presence(store: Weak<dyn Store>, hub: Weak<ChatHub>) {
    let mut every = tokio::time::interval(PRESENCE_EVERY);
    loop {
        every.tick().await;
        let (Some(store), Some(hub)) = (store.upgrade(), hub.upgrade()) else {
            return;
        };
        let tickets: Vec<i64> = lock(&hub.rooms).keys().copied().collect();
        for chunk in tickets.chunks(1_000) {
            let until = Millis(now().0 + rapport_store::CHAT_PRESENCE_MS);
            if let Err(e) = store.mark_chat_presence(chunk.to_vec(), until).await {
                tracing::warn!(error = %e, "cannot renew chat visitors' presence");
            }
        }
    }
}
