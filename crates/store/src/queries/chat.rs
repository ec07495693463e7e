//! Live chat: widget settings, conversations (each one a ticket of channel `chat`), visitor
//! messages stored once per client id, what a visitor may read, and transcripts.
//!
//! **Who reads what.** A conversation belongs to the visitor id in the widget's signed token,
//! or — when the host site verified the visitor's identity — to that customer. An address
//! typed into the pre-chat form is only where mail goes; it never finds a conversation.
//!
//! **Replies by email.** On a chat ticket a public reply is emailed to the conversation's
//! contact address exactly when the visitor is away: no node holding one of their sockets has
//! renewed `visitor_present_until` (nodes renew it every 20 s for 60 s; the last socket
//! closing ends it). A visitor who is present gets the reply over the socket only.

use super::*;
use email::load_inbox;
use rapport_core::chat::{self as rules};
use std::collections::HashMap;

/// How long a socket's word that the visitor is present holds.
pub const PRESENCE_MS: i64 = 60_000;

const WIDGET_SELECT: &str = "SELECT inbox_id, enabled, accent, greeting, require_email, identity_secret, \
     verified_history, allowed_origins, updated_at FROM chat_widgets";

const CONVERSATION_SELECT: &str = "SELECT cc.ticket_id, t.status, cc.inbox_id, cc.visitor_id, t.customer_id, \
     cc.customer_id, cc.visitor_name, cc.contact_email, cc.created_at, cc.visitor_present_until \
     FROM chat_conversations cc JOIN tickets t ON t.id = cc.ticket_id";

/// A conversation is the visitor's when their token's visitor id made it, or when it is the
/// verified customer's (`$2` visitor id, `$3` verified customer id or NULL, `$4` inbox; SQLite
/// numbers placeholders by first appearance, so they appear in order).
const BELONGS: &str = "(cc.visitor_id = $2 OR (cc.customer_id IS NOT NULL AND cc.customer_id = $3)) AND cc.inbox_id = $4";

/// The public messages of a conversation (`$1`) after a message id (`$2`), with their authors'
/// names and the visitor's client ids.
/// Public messages (never notes) with their authors' names and the visitor's client ids.
const MESSAGES_SELECT: &str = "SELECT m.id, m.ticket_id, m.kind, COALESCE(a.name, cu.name, ''), m.body, m.created_at, k.client_id \
     FROM messages m LEFT JOIN agents a ON a.id = m.author_agent_id \
     LEFT JOIN customers cu ON cu.id = m.author_customer_id \
     LEFT JOIN chat_client_messages k ON k.message_id = m.id \
     WHERE m.kind <> 'note'";

fn widget_from(r: &Row) -> Result<ChatWidget> {
    Ok(ChatWidget {
        inbox_id: r.int(0)?,
        enabled: r.bool(1)?,
        accent: r.text(2)?,
        greeting: r.text(3)?,
        require_email: r.bool(4)?,
        identity_secret: r.text(5)?,
        verified_history: r.bool(6)?,
        allowed_origins: r.text(7)?.lines().map(str::to_string).collect(),
        updated_at: Millis(r.int(8)?),
    })
}

fn conversation_from(r: &Row) -> Result<ChatConversation> {
    let ticket_id = r.int(0)?;
    Ok(ChatConversation {
        ticket_id,
        reference: TicketRef(ticket_id).to_string(),
        status: TicketStatus::parse(&r.text(1)?).map_err(StoreError::corrupt)?,
        inbox_id: r.int(2)?,
        visitor_id: r.text(3)?,
        customer_id: r.int(4)?,
        verified: r.opt_int(5)?.is_some(),
        visitor_name: r.text(6)?,
        contact_email: r.opt_text(7)?,
        created_at: Millis(r.int(8)?),
        visitor_present_until: Millis(r.int(9)?),
    })
}

fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) async fn widget(c: &mut dyn Conn, inbox_id: i64) -> Result<Option<ChatWidget>> {
    let sql = format!("{WIDGET_SELECT} WHERE inbox_id = $1");
    c.query_opt(&sql, params![inbox_id])
        .await?
        .as_ref()
        .map(widget_from)
        .transpose()
}

/// The inbox's widget, made with its defaults and a new identity secret if it had none.
pub(super) async fn ensure_widget(c: &mut dyn Conn, ctx: Ctx, inbox_id: i64) -> Result<ChatWidget> {
    if let Some(widget) = widget(c, inbox_id).await? {
        return Ok(widget);
    }
    load_inbox(c, inbox_id).await?;
    c.execute(
        "INSERT INTO chat_widgets (inbox_id, identity_secret, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (inbox_id) DO NOTHING",
        params![inbox_id, new_secret(), ctx.at.0],
    )
    .await?;
    widget(c, inbox_id)
        .await?
        .ok_or_else(|| StoreError::not_found("inbox", inbox_id))
}

pub(super) async fn update_widget(
    c: &mut dyn Conn,
    ctx: Ctx,
    inbox_id: i64,
    patch: ChatWidgetPatch,
) -> Result<ChatWidget> {
    let before = ensure_widget(c, ctx, inbox_id).await?;
    let accent = match &patch.accent {
        Some(a) => rules::check_accent(a)?,
        None => before.accent.clone(),
    };
    let greeting = match &patch.greeting {
        Some(g) if g.trim().chars().count() > rules::MAX_GREETING_CHARS => {
            return Err(Invalid::new("greeting", "must be at most 500 characters").into());
        }
        Some(g) => g.trim().to_string(),
        None => before.greeting.clone(),
    };
    let origins = match &patch.allowed_origins {
        Some(text) => rules::parse_origins(text)?,
        None => before.allowed_origins.clone(),
    };
    let secret = if patch.new_secret {
        new_secret()
    } else {
        before.identity_secret.clone()
    };
    c.execute(
        "UPDATE chat_widgets SET enabled = $1, accent = $2, greeting = $3, require_email = $4, \
         identity_secret = $5, verified_history = $6, allowed_origins = $7, updated_at = $8 WHERE inbox_id = $9",
        params![
            patch.enabled.unwrap_or(before.enabled),
            &accent,
            &greeting,
            patch.require_email.unwrap_or(before.require_email),
            &secret,
            patch.verified_history.unwrap_or(before.verified_history),
            origins.join("\n"),
            ctx.at.0,
            inbox_id
        ],
    )
    .await?;
    // The secret stays out of the log; that it changed is worth knowing.
    append_event(
        c,
        ctx,
        EventKind::ChatWidgetChanged,
        None,
        "inbox",
        inbox_id,
        json!({"accent": accent, "greeting": greeting, "origins": origins, "new_secret": patch.new_secret}),
    )
    .await?;
    ensure_widget(c, ctx, inbox_id).await
}

/// The visitor's conversation `ticket_id` (not-found when it is not theirs), or without an id
/// their newest conversation that is not closed.
pub(super) async fn conversation(
    c: &mut dyn Conn,
    visitor: &ChatVisitor,
    ticket_id: Option<i64>,
) -> Result<Option<ChatConversation>> {
    let row = match ticket_id {
        Some(id) => {
            let sql = format!("{CONVERSATION_SELECT} WHERE cc.ticket_id = $1 AND {BELONGS}");
            let row = c
                .query_opt(
                    &sql,
                    params![
                        id,
                        &visitor.visitor_id,
                        visitor.verified_customer_id,
                        visitor.inbox_id
                    ],
                )
                .await?;
            Some(row.ok_or_else(|| StoreError::not_found("conversation", id))?)
        }
        None => {
            // `$1` is unused by the condition but keeps the placeholders numbered in order.
            let sql = format!(
                "{CONVERSATION_SELECT} WHERE t.status <> $1 AND {BELONGS} ORDER BY cc.ticket_id DESC LIMIT 1"
            );
            c.query_opt(
                &sql,
                params![
                    TicketStatus::Closed.as_str(),
                    &visitor.visitor_id,
                    visitor.verified_customer_id,
                    visitor.inbox_id
                ],
            )
            .await?
        }
    };
    row.as_ref().map(conversation_from).transpose()
}

async fn conversation_of_ticket(
    c: &mut dyn Conn,
    ticket_id: i64,
) -> Result<Option<ChatConversation>> {
    let sql = format!("{CONVERSATION_SELECT} WHERE cc.ticket_id = $1");
    c.query_opt(&sql, params![ticket_id])
        .await?
        .as_ref()
        .map(conversation_from)
        .transpose()
}

/// Public messages of a conversation after `after`, oldest first, at most `limit`.
pub(super) async fn messages(
    c: &mut dyn Conn,
    ticket_id: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<ChatMessage>> {
    let sql =
        format!("{MESSAGES_SELECT} AND m.ticket_id = $1 AND m.id > $2 ORDER BY m.id LIMIT $3");
    let rows = c.query(&sql, params![ticket_id, after, limit]).await?;
    messages_from(c, rows).await
}

/// The public messages of many conversations after each one's own `after`, oldest first:
/// what the chat hub fans out, one query for a whole batch of conversations instead of one
/// each. (A conversation's messages are few, so reading from the smallest `after` of the
/// batch and dropping what a conversation already had is cheap.)
pub(super) async fn messages_of(
    c: &mut dyn Conn,
    conversations: &[(i64, i64)],
) -> Result<Vec<ChatMessage>> {
    let Some(from) = conversations.iter().map(|(_, after)| *after).min() else {
        return Ok(Vec::new());
    };
    let after: HashMap<i64, i64> = conversations.iter().copied().collect();
    let mut q = SqlBuilder::new(MESSAGES_SELECT);
    q.push(" AND m.id > ")
        .bind(from)
        .push(" AND m.ticket_id IN (")
        .bind_list(after.keys().copied())
        .push(") ORDER BY m.id");
    let (sql, params) = q.parts();
    let rows = c.query(sql, params).await?;
    let mut messages = messages_from(c, rows).await?;
    messages.retain(|m| after.get(&m.ticket_id).is_some_and(|a| m.seq > *a));
    Ok(messages)
}

async fn messages_from(c: &mut dyn Conn, rows: Vec<Row>) -> Result<Vec<ChatMessage>> {
    let mut attachments = attachments_of(c, &rows).await?;
    rows.iter()
        .map(|r| {
            let seq = r.int(0)?;
            Ok(ChatMessage {
                seq,
                ticket_id: r.int(1)?,
                from_visitor: r.text(2)? == MessageKind::Customer.as_str(),
                author: r.text(3)?,
                body: r.text(4)?,
                at: Millis(r.int(5)?),
                client_id: r.opt_text(6)?,
                attachments: attachments.remove(&seq).unwrap_or_default(),
            })
        })
        .collect()
}

async fn message(c: &mut dyn Conn, ticket_id: i64, message_id: i64) -> Result<ChatMessage> {
    messages(c, ticket_id, message_id - 1, 1)
        .await?
        .into_iter()
        .find(|m| m.seq == message_id)
        .ok_or_else(|| StoreError::not_found("message", message_id))
}

fn optional_email(email: &Option<String>) -> Result<Option<String>> {
    match email.as_deref().map(str::trim) {
        Some(e) if !e.is_empty() => Ok(Some(contact::normalize_email("email", e)?)),
        _ => Ok(None),
    }
}

fn optional_name(name: &Option<String>) -> Result<Option<String>> {
    match name.as_deref().map(str::trim) {
        Some(n) if !n.is_empty() => Ok(Some(contact::validate_name("name", n)?)),
        _ => Ok(None),
    }
}

/// Stores a visitor's message: once per (visitor, client id), in their conversation, or in a
/// new one (a ticket of channel `chat` with this message as its first) when they have none.
pub(super) async fn post(c: &mut dyn Conn, ctx: Ctx, post: ChatPost) -> Result<ChatPosted> {
    rules::check_client_id(&post.client_id)?;
    let body = rules::clean_body("body", &post.body)?;
    let visitor = &post.visitor;
    // Two copies of one frame (a resend racing the original on another connection) take turns
    // here, and the second finds the first's message.
    c.serialize_on(&format!(
        "chat-client:{}:{}",
        visitor.visitor_id, post.client_id
    ))
    .await?;
    let earlier = c
        .query_opt(
            "SELECT k.message_id, m.ticket_id FROM chat_client_messages k JOIN messages m ON m.id = k.message_id \
             WHERE k.visitor_id = $1 AND k.client_id = $2",
            params![&visitor.visitor_id, &post.client_id],
        )
        .await?;
    if let Some(r) = earlier {
        let (message_id, ticket_id) = (r.int(0)?, r.int(1)?);
        let conversation = conversation_of_ticket(c, ticket_id)
            .await?
            .ok_or_else(|| StoreError::not_found("conversation", ticket_id))?;
        return Ok(ChatPosted {
            message: message(c, ticket_id, message_id).await?,
            conversation,
            replayed: true,
            created_conversation: false,
        });
    }
    let email = optional_email(&post.email)?;
    let name = optional_name(&post.name)?;
    let present_until = ctx.at.0 + PRESENCE_MS;
    let existing = conversation(c, visitor, post.conversation).await?;
    let (ticket_id, message_id, created) = match existing {
        Some(conv) => {
            let as_visitor = Ctx {
                actor: Actor::customer(conv.customer_id),
                at: ctx.at,
            };
            let new = NewMessage {
                kind: MessageKind::Customer,
                channel: Channel::Chat,
                body,
                send_email: false,
                attachments: Vec::new(),
            };
            let message = insert_message(c, as_visitor, conv.ticket_id, new, None).await?;
            // A visitor may give their name or address later in the conversation.
            c.execute(
                "UPDATE chat_conversations SET contact_email = COALESCE($1, contact_email), \
                 visitor_name = COALESCE($2, visitor_name), visitor_present_until = $3 WHERE ticket_id = $4",
                params![email, name, present_until, conv.ticket_id],
            )
            .await?;
            (conv.ticket_id, message.value.id, false)
        }
        None => {
            let visitor_name = name.clone().unwrap_or_default();
            let customer_id = match visitor.verified_customer_id {
                Some(id) => id,
                None => {
                    let new = NewCustomer {
                        name: name.clone().unwrap_or_else(|| "Chat visitor".to_string()),
                        ..NewCustomer::default()
                    };
                    insert_customer(c, ctx, new).await?
                }
            };
            let inbox = load_inbox(c, visitor.inbox_id).await?;
            let as_visitor = Ctx {
                actor: Actor::customer(customer_id),
                at: ctx.at,
            };
            let new = NewTicket {
                subject: rules::subject_for(&body, &visitor_name),
                requester: Requester {
                    customer_id: Some(customer_id),
                    email: String::new(),
                    name: None,
                },
                body,
                channel: Channel::Chat,
                priority: Priority::Normal,
                status: TicketStatus::New,
                tags: Vec::new(),
                inbox: Some(inbox.name),
                assignee_id: None,
                team_id: None,
                custom_fields: serde_json::Map::new(),
            };
            let ticket = insert_ticket(c, as_visitor, new, None).await?.value;
            let message_id = c
                .query_one(
                    "SELECT min(id) FROM messages WHERE ticket_id = $1",
                    params![ticket.id],
                )
                .await?
                .int(0)?;
            c.execute(
                "INSERT INTO chat_conversations (ticket_id, inbox_id, visitor_id, customer_id, visitor_name, \
                 contact_email, client_address, created_at, visitor_present_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                params![
                    ticket.id,
                    visitor.inbox_id,
                    &visitor.visitor_id,
                    visitor.verified_customer_id,
                    &visitor_name,
                    email,
                    &post.client_address,
                    ctx.at.0,
                    present_until
                ],
            )
            .await?;
            (ticket.id, message_id, true)
        }
    };
    c.execute(
        "INSERT INTO chat_client_messages (visitor_id, client_id, message_id) VALUES ($1, $2, $3)",
        params![&visitor.visitor_id, &post.client_id, message_id],
    )
    .await?;
    let conversation = conversation_of_ticket(c, ticket_id)
        .await?
        .ok_or_else(|| StoreError::not_found("conversation", ticket_id))?;
    Ok(ChatPosted {
        message: message(c, ticket_id, message_id).await?,
        conversation,
        replayed: false,
        created_conversation: created,
    })
}

/// Conversations started from a client address since a time (the new-conversation limit).
pub(super) async fn started_from(c: &mut dyn Conn, address: &str, since: Millis) -> Result<i64> {
    c.query_one(
        "SELECT count(*) FROM chat_conversations WHERE client_address = $1 AND created_at >= $2",
        params![address, since.0],
    )
    .await?
    .int(0)
}

/// After a public reply: on a chat ticket, email it to the contact address when the visitor
/// is away. Returns whether the ticket is a chat conversation (its mail is decided here).
pub(super) async fn after_reply(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    message_id: i64,
) -> Result<bool> {
    let Some(conv) = conversation_of_ticket(c, ticket_id).await? else {
        return Ok(false);
    };
    if conv.visitor_present_until.0 > ctx.at.0 {
        return Ok(true);
    }
    if let Some(address) = reply_address(c, &conv).await? {
        email::queue_with_text(
            c,
            ctx,
            OutboxKind::Reply,
            ticket_id,
            Some(message_id),
            &address,
            false,
            None,
        )
        .await?;
    }
    Ok(true)
}

/// Where a conversation's mail goes: the address the visitor gave, else a verified
/// customer's own address.
async fn reply_address(c: &mut dyn Conn, conv: &ChatConversation) -> Result<Option<String>> {
    if let Some(address) = &conv.contact_email {
        return Ok(Some(address.clone()));
    }
    if conv.verified {
        return Ok(customer_emails(c, conv.customer_id)
            .await?
            .into_iter()
            .next());
    }
    Ok(None)
}

/// Nodes holding sockets of these conversations say the visitor is there until `until`.
pub(super) async fn mark_present(
    c: &mut dyn Conn,
    ticket_ids: &[i64],
    until: Millis,
) -> Result<()> {
    if ticket_ids.is_empty() {
        return Ok(());
    }
    let mut q = SqlBuilder::new("UPDATE chat_conversations SET visitor_present_until = ");
    q.bind(until.0)
        .push(" WHERE ticket_id IN (")
        .bind_list(ticket_ids.iter().copied())
        .push(")");
    let (sql, params) = q.parts();
    c.execute(sql, params).await?;
    Ok(())
}

/// Emails the conversation's public messages to its contact address (an `email` error when
/// there is none).
pub(super) async fn transcript(
    c: &mut dyn Conn,
    ctx: Ctx,
    visitor: &ChatVisitor,
    ticket_id: i64,
    email: Option<String>,
) -> Result<String> {
    let email = optional_email(&email)?;
    let conv = conversation(c, visitor, Some(ticket_id))
        .await?
        .ok_or_else(|| StoreError::not_found("conversation", ticket_id))?;
    let known = reply_address(c, &conv).await?;
    let address = match (email, known) {
        (Some(typed), Some(known)) if typed != known => {
            return Err(Invalid::new(
                "email",
                "this conversation's transcript goes to the address it already has",
            )
            .into());
        }
        (Some(typed), None) => {
            c.execute(
                "UPDATE chat_conversations SET contact_email = $1 WHERE ticket_id = $2",
                params![&typed, ticket_id],
            )
            .await?;
            typed
        }
        (_, Some(known)) => known,
        (None, None) => {
            return Err(Invalid::new("email", "give an email address for the transcript").into());
        }
    };
    transcript_allowed(c, ctx, ticket_id, &address).await?;
    let mut text = String::new();
    let mut after = 0;
    loop {
        let page = messages(c, ticket_id, after, 500).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for m in &page {
            text.push_str(&format!("{} — {}\n{}\n\n", m.author, m.at, m.body));
        }
    }
    email::queue_with_text(
        c,
        ctx,
        OutboxKind::Transcript,
        ticket_id,
        None,
        &address,
        true,
        Some(text.trim_end()),
    )
    .await?;
    Ok(address)
}

/// Transcripts one conversation may send, and one address may receive, per hour. A visitor
/// types the address, so without a cap the widget would mail anyone as often as asked.
const TRANSCRIPTS_PER_HOUR: i64 = 3;

/// Refuses a transcript over the hourly caps or to an address that bounced lately.
async fn transcript_allowed(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    address: &str,
) -> Result<()> {
    let sent = c
        .query_one(
            "SELECT COUNT(*) FROM outbox WHERE kind = 'transcript' \
             AND (ticket_id = $1 OR recipient = $2) AND created_at > $3",
            params![ticket_id, address, ctx.at.0 - 3_600_000],
        )
        .await?
        .int(0)?;
    if sent >= TRANSCRIPTS_PER_HOUR {
        return Err(StoreError::Conflict(
            "a transcript was sent a short while ago; please try again in an hour".into(),
        ));
    }
    if email::bouncing(c, address, ctx.at).await? {
        return Err(Invalid::new("email", "mail to this address came back undelivered").into());
    }
    Ok(())
}

/// Open chat conversations an agent may work: those no agent answered yet or nobody owns
/// (oldest first), then the agent's own.
pub(super) async fn queue(
    c: &mut dyn Conn,
    agent_id: i64,
    limit: i64,
) -> Result<Vec<ChatQueueEntry>> {
    // Waiting conversations (no answer yet, or nobody owns them) first, oldest first; the
    // agent's own after them — ordered before the limit, so waiting ones are never cut off.
    let rows = c
        .query(
            "SELECT cc.ticket_id, cc.visitor_name, \
             CASE WHEN t.first_reply_at IS NULL OR t.assignee_id IS NULL THEN 0 ELSE 1 END AS answered, \
             (SELECT max(m.created_at) FROM messages m WHERE m.ticket_id = cc.ticket_id AND m.kind = 'customer') \
             FROM chat_conversations cc JOIN tickets t ON t.id = cc.ticket_id \
             WHERE t.status IN ('new', 'open') AND (t.assignee_id IS NULL OR t.assignee_id = $1 OR t.first_reply_at IS NULL) \
             ORDER BY answered, t.created_at, t.id LIMIT $2",
            params![agent_id, limit],
        )
        .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // The tickets in one read, not one each.
    let mut q = SqlBuilder::new(TICKET_SELECT);
    q.push(" WHERE t.id IN (")
        .bind_list(
            rows.iter()
                .map(|r| r.int(0))
                .collect::<Result<Vec<i64>>>()?,
        )
        .push(")");
    let (sql, params) = q.parts();
    let ticket_rows = c.query(sql, params).await?;
    let mut tickets: HashMap<i64, Ticket> = complete_tickets(c, ticket_rows)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let mut entries = Vec::with_capacity(rows.len());
    for r in &rows {
        let id = r.int(0)?;
        let ticket = tickets
            .remove(&id)
            .ok_or_else(|| StoreError::not_found("ticket", TicketRef(id)))?;
        entries.push(ChatQueueEntry {
            visitor_name: r.text(1)?,
            waiting: r.int(2)? == 0,
            last_visitor_message_at: Millis(r.opt_int(3)?.unwrap_or(ticket.created_at.0)),
            ticket,
        });
    }
    Ok(entries)
}
