//! The email channel wired to the store: received mail (SMTP listener, IMAP poller, `mail-in`)
//! goes through [`Inbound`]; the [`Mailer`] delivers the outbox over the relay.

use rapport_core::Actor;
use rapport_core::calendar::BusinessCalendar;
use rapport_core::readback::{is_correction, read_back};
use rapport_core::ticket::MAX_BODY_BYTES;
use rapport_mail::compose::{OutboundEmail, compose};
use rapport_mail::sender::{SendError, Sender};
use rapport_mail::templates::{self, AckContext, Template};
use rapport_mail::thread::{MAX_MESSAGE_ID_BYTES, ThreadKeys, base_address, reply_address};
use rapport_mail::{Delivery, DeliveryError, MailSink, Mailbox, ParsedMail, Source};
use rapport_store::{
    BounceReport, Ctx, InboundEmail, Ingested, NewAttachment, OutboxItem, OutboxKind, OutboxResult,
    Requester, Store, StoreError, ThreadHints,
};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// The setting the reply-address secret is kept under; made once per installation.
const SECRET_SETTING: &str = "mail.reply_secret";

/// The installation's secret for signing reply addresses, created on first use.
pub async fn reply_secret(store: &dyn Store) -> Result<Vec<u8>, StoreError> {
    if let Some(secret) = store.setting(SECRET_SETTING).await? {
        return Ok(secret.into_bytes());
    }
    let candidate: String = (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    // Whoever writes first wins; everyone starting at the same time uses that one.
    Ok(store
        .init_setting(SECRET_SETTING, &candidate)
        .await?
        .into_bytes())
}

use rapport_core::commitment::CommitmentKind;
use rapport_web::now;

/// Receives mail into the store.
pub struct Inbound {
    pub store: Arc<dyn Store>,
    pub secret: Vec<u8>,
    pub max_attachment_bytes: usize,
}

impl Inbound {
    /// Stores one received message: `Ok` once it is durable, whatever it contained.
    pub async fn receive(&self, delivery: Delivery) -> Result<Ingested, DeliveryError> {
        let inbox_id = self.inbox_for(&delivery).await?;
        // Parsing is CPU work on untrusted input of up to tens of megabytes: off the runtime.
        // The delivery travels to the blocking thread and back rather than copying its bytes.
        let (delivery, parsed) = tokio::task::spawn_blocking(move || {
            let parsed = rapport_mail::parse(&delivery.raw);
            (delivery, parsed)
        })
        .await
        .map_err(|e| DeliveryError::Temporary(format!("parsing stopped: {e}")))?;
        let mail = self.inbound_email(inbox_id, delivery, parsed);
        let ctx = Ctx {
            actor: Actor::SYSTEM,
            at: now(),
        };
        match self.store.ingest_email(ctx, mail.clone()).await {
            Ok(outcome) => Ok(outcome),
            // Something in the message breaks a rule the store enforces: keep it anyway.
            Err(StoreError::Invalid(e)) => {
                let reason = format!("could not be filed: {e}");
                tracing::warn!(inbox_id, %reason, "email quarantined");
                let email_id = self
                    .store
                    .quarantine_email(ctx, mail, reason)
                    .await
                    .map_err(temporary)?;
                Ok(Ingested::Unfiled { email_id })
            }
            Err(e) => Err(temporary(e)),
        }
    }

    async fn inbox_for(&self, delivery: &Delivery) -> Result<i64, DeliveryError> {
        if let Some(name) = &delivery.inbox {
            return match self.store.inbox_by_name(name).await.map_err(temporary)? {
                Some(inbox) => Ok(inbox.id),
                // A mailbox configured for a renamed inbox: keep its mail waiting rather than
                // marking it failed, and say loudly what to fix.
                None if delivery.source == Source::Imap => {
                    tracing::error!(inbox = %name, "no inbox has this name any more; fix [[imap]] inbox in the configuration");
                    Err(DeliveryError::Temporary(format!(
                        "no inbox is named '{name}'"
                    )))
                }
                None => Err(DeliveryError::Permanent(format!(
                    "no inbox is named '{name}'"
                ))),
            };
        }
        for recipient in &delivery.recipients {
            if let Some(inbox) = self
                .store
                .inbox_by_address(&base_address(recipient))
                .await
                .map_err(temporary)?
            {
                return Ok(inbox.id);
            }
        }
        Err(DeliveryError::Permanent(format!(
            "no inbox receives mail for {}",
            delivery.recipients.join(", ")
        )))
    }

    /// What the store needs of a parsed message. Pure, so it is tested without a database.
    pub fn inbound_email(
        &self,
        inbox_id: i64,
        delivery: Delivery,
        parsed: ParsedMail,
    ) -> InboundEmail {
        let keys = ThreadKeys::of(&parsed, &delivery.recipients, &self.secret);
        let mut problems = parsed.problems.clone();
        let message_id = parsed
            .message_id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .filter(|id| {
                let fits = id.len() <= MAX_MESSAGE_ID_BYTES;
                if !fits {
                    problems.push(format!("a Message-ID of {} bytes was ignored", id.len()));
                }
                fits
            })
            .map(str::to_string);
        let body_hash = content_hash(&parsed, &delivery.raw);
        let dedupe_key = match &message_id {
            Some(id) => format!("mid:{id}"),
            None => format!("sha256:{:x}", Sha256::digest(&delivery.raw)),
        };
        let automatic = parsed
            .automatic
            .as_ref()
            .map(|a| format!("{:?}: {}", a.kind, a.reason))
            .or_else(|| {
                // RFC 5321's null sender (an MTA's pipe passes it as MAILER-DAEMON):
                // notifications, never a person.
                delivery
                    .envelope_from
                    .as_deref()
                    .is_some_and(|s| {
                        s.is_empty() || s == "<>" || s.eq_ignore_ascii_case("MAILER-DAEMON")
                    })
                    .then(|| "Generated: empty envelope sender (MAIL FROM:<>)".to_string())
            });
        let from = parsed
            .from
            .clone()
            .or_else(|| {
                delivery
                    .envelope_from
                    .as_ref()
                    .filter(|a| a.contains('@'))
                    .map(|a| Mailbox {
                        email: a.to_lowercase(),
                        name: None,
                    })
            })
            .map(|m| Requester {
                customer_id: None,
                email: m.email,
                name: m.name.map(|n| display_name(&n)).filter(|n| !n.is_empty()),
            });
        let attachments = parsed
            .attachments
            .iter()
            .map(|a| self.attachment(a, &mut problems))
            .collect();
        let body = body_text(&parsed, &mut problems);
        let bounce = parsed.bounce.as_ref().map(|b| BounceReport {
            original_message_id: b.original_message_id.clone(),
            failed: b.permanent_failures().map(|r| r.email.clone()).collect(),
            summary: bounce_summary(b),
        });
        InboundEmail {
            source: delivery.source.as_str().to_string(),
            inbox_id,
            envelope_from: delivery.envelope_from,
            recipients: delivery.recipients,
            raw: delivery.raw,
            dedupe_key,
            body_hash,
            message_id,
            from,
            subject: parsed.subject.chars().take(500).collect(),
            correction: is_correction(&parsed.new_text),
            body,
            quoted: [parsed.quoted.as_str(), parsed.signature.as_str()]
                .iter()
                .filter(|t| !t.trim().is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("\n"),
            html: parsed.html.clone(),
            attachments,
            thread: ThreadHints {
                token_ticket: keys.token_ticket,
                referenced_ids: keys.referenced_ids,
                subject_ticket: keys.subject_ticket,
                subject_key: keys.normalized_subject,
                looks_like_reply: keys.looks_like_reply,
            },
            automatic,
            bounce,
            problems,
        }
    }

    fn attachment(
        &self,
        a: &rapport_mail::ParsedAttachment,
        problems: &mut Vec<String>,
    ) -> NewAttachment {
        let size = a.data.len();
        // The bytes decide the type: a program named invoice.pdf is served as a program.
        let content_type = match a.sniffed_type {
            Some(sniffed) if a.type_mismatch() => {
                problems.push(format!(
                    "attachment '{}' says {} but its bytes are {sniffed}",
                    a.filename, a.content_type
                ));
                sniffed.to_string()
            }
            _ => a.content_type.clone(),
        };
        let withheld = (size > self.max_attachment_bytes).then(|| {
            format!(
                "{} bytes is over the {} byte attachment limit; the raw email keeps it",
                size, self.max_attachment_bytes
            )
        });
        NewAttachment {
            filename: a.filename.clone(),
            content_type,
            content_id: a.content_id.clone(),
            inline: a.inline,
            size_bytes: size as i64,
            data: withheld.is_none().then(|| a.data.clone()),
            withheld,
        }
    }
}

/// One line on what storing a message did, for `mail-in` and logs.
pub fn describe(outcome: &Ingested) -> String {
    let reference = |id: i64| rapport_core::TicketRef(id).to_string();
    match *outcome {
        Ingested::Created {
            ticket_id,
            acknowledged,
        } => format!(
            "new ticket {}{}",
            reference(ticket_id),
            if acknowledged {
                ", read-back queued"
            } else {
                ""
            }
        ),
        Ingested::Appended {
            ticket_id,
            reopened,
        } => format!(
            "added to {}{}",
            reference(ticket_id),
            if reopened { ", reopened" } else { "" }
        ),
        Ingested::FollowUp {
            ticket_id,
            closed_ticket_id,
        } => format!(
            "follow-up {} of closed {}",
            reference(ticket_id),
            reference(closed_ticket_id)
        ),
        Ingested::Bounce {
            ticket_id: Some(id),
        } => format!("bounce noted on {}", reference(id)),
        Ingested::Bounce { ticket_id: None } => "kept (not filed on a ticket)".to_string(),
        Ingested::Duplicate { .. } => "already stored earlier".to_string(),
        Ingested::Unfiled { email_id } => {
            format!("kept as email {email_id} but on no ticket (GET /api/v1/emails/unfiled)")
        }
    }
}

/// What tells one message from another under the same Message-ID: who sent it, when, about
/// what, and what it says. A copy delivered again over another route (other `Received` lines,
/// LF instead of CRLF from a pipe) hashes the same.
fn content_hash(parsed: &ParsedMail, raw: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(parsed.from.as_ref().map_or("", |m| m.email.as_str()));
    hash.update([0]);
    hash.update(parsed.date.unwrap_or_default().to_be_bytes());
    hash.update(parsed.subject.as_bytes());
    hash.update([0]);
    for line in body_bytes(raw).split(|b| *b == b'\r') {
        hash.update(line);
    }
    format!("{:x}", hash.finalize())
}

/// What follows the header.
fn body_bytes(raw: &[u8]) -> &[u8] {
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = raw.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match crlf.into_iter().chain(lf).min() {
        Some(start) => &raw[start..],
        None => raw,
    }
}

/// A display name the customer record accepts: one line, at most 200 characters.
fn display_name(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect::<String>()
        .trim()
        .to_string()
}

/// The text stored as the message: what the sender wrote this time, never empty, within the
/// store's limit (the raw email keeps everything).
fn body_text(parsed: &ParsedMail, problems: &mut Vec<String>) -> String {
    let text = if parsed.new_text.trim().is_empty() {
        parsed.text.trim()
    } else {
        parsed.new_text.trim()
    };
    if text.is_empty() {
        return match parsed.attachments.len() {
            0 => "(no text)".to_string(),
            n => format!("(no text; {n} attachment{})", if n == 1 { "" } else { "s" }),
        };
    }
    if text.len() <= MAX_BODY_BYTES {
        return text.to_string();
    }
    const NOTE: &str = "\n\n[… cut here: the full text is in the original email]";
    let mut end = MAX_BODY_BYTES - NOTE.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    problems.push(format!(
        "text of {} bytes shortened for display",
        text.len()
    ));
    format!("{}{NOTE}", &text[..end])
}

fn bounce_summary(bounce: &rapport_mail::Bounce) -> String {
    let headline = if bounce.permanent_failures().next().is_some() {
        "Mail to the customer could not be delivered."
    } else {
        "Mail to the customer is delayed; the sending server keeps trying."
    };
    let mut lines = vec![headline.to_string()];
    for r in &bounce.recipients {
        let mut line = format!("- {}: {} {}", r.email, r.action, r.status);
        if let Some(d) = &r.diagnostic {
            line.push_str(&format!(" ({d})"));
        }
        lines.push(line);
    }
    lines.join("\n")
}

fn temporary(e: StoreError) -> DeliveryError {
    tracing::error!(error = %e, "storing received email failed");
    DeliveryError::Temporary("the message could not be stored; try again later".into())
}

#[async_trait::async_trait]
impl MailSink for Inbound {
    async fn accepts(&self, address: &str) -> Result<bool, DeliveryError> {
        Ok(self
            .store
            .inbox_by_address(&base_address(address))
            .await
            .map_err(temporary)?
            .is_some())
    }

    async fn deliver(&self, delivery: Delivery) -> Result<(), DeliveryError> {
        self.receive(delivery).await.map(|_| ())
    }
}

// ---------------------------------------------------------------------------------------------
// Sending

/// Delivers the outbox over the relay: claims due mail, composes it once, sends it, records
/// the outcome, and retries temporary failures with growing delays.
pub struct Mailer {
    pub store: Arc<dyn Store>,
    pub sender: Sender,
    pub secret: Vec<u8>,
    /// How long a claimed email is ours before another worker (or node) may take it over.
    pub lease: Duration,
}

impl Mailer {
    /// Runs until `shutdown` turns true.
    pub async fn run(self, shutdown: tokio::sync::watch::Receiver<bool>) {
        crate::delivery::poll_until_stopped(shutdown, || async {
            match self
                .store
                .claim_outbox(now(), self.lease.as_millis() as i64, 16)
                .await
            {
                Ok(items) => {
                    let busy = !items.is_empty();
                    futures::future::join_all(items.into_iter().map(|item| self.deliver(item)))
                        .await;
                    busy
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the outbox");
                    false
                }
            }
        })
        .await
    }

    async fn deliver(&self, item: OutboxItem) {
        let result = self.attempt(&item).await;
        if let OutboxResult::Retry { error, .. } | OutboxResult::Failed { error } = &result {
            tracing::warn!(outbox_id = item.id, to = %item.recipient, %error, "email not delivered");
        }
        crate::delivery::record("outbox", item.id, || {
            self.store.outbox_attempted(item.id, now(), result.clone())
        })
        .await
    }

    async fn attempt(&self, item: &OutboxItem) -> OutboxResult {
        let raw = match &item.raw {
            Some(raw) => raw.clone(),
            None => match compose_item(item, &self.secret) {
                Ok(raw) => {
                    if let Err(e) = self.store.outbox_composed(item.id, raw.clone()).await {
                        return crate::delivery::after_failure(
                            item.attempts,
                            format!("cannot keep the composed message: {e}"),
                            now(),
                        );
                    }
                    raw
                }
                Err(e) => return OutboxResult::Failed { error: e },
            },
        };
        match self
            .sender
            .send(
                &item.inbox.address,
                std::slice::from_ref(&item.recipient),
                &raw,
            )
            .await
        {
            Ok(()) => OutboxResult::Sent,
            Err(SendError::Permanent(e)) => OutboxResult::Failed { error: e },
            Err(SendError::Temporary(e)) => crate::delivery::after_failure(item.attempts, e, now()),
        }
    }
}

/// The language automatic mail is written in: the customer's when we have texts in it.
fn language_for(item: &OutboxItem) -> String {
    let supported = |l: &str| matches!(l, "en" | "de");
    item.template
        .as_ref()
        .map(|t| t.language.clone())
        .or_else(|| {
            item.customer_language
                .as_deref()
                .map(|l| l.split('-').next().unwrap_or(l).to_lowercase())
                .filter(|l| supported(l))
        })
        .unwrap_or_else(|| item.inbox.language.clone())
}

/// What we have promised the customer and by when, repeated under every reply (principle 3).
fn commitments_footer(item: &OutboxItem, language: &str) -> Option<String> {
    if item.commitments.is_empty() {
        return None;
    }
    let german = language == "de";
    let zone = item
        .customer_time_zone
        .clone()
        .unwrap_or_else(|| item.inbox.business_hours.time_zone.clone());
    let mut lines = vec![if german {
        "Was wir Ihnen zugesagt haben:".to_string()
    } else {
        "What we have promised you:".to_string()
    }];
    for c in &item.commitments {
        let what = match (c.kind, c.description.is_empty(), german) {
            (CommitmentKind::NextUpdate, true, false) => "Our next update".to_string(),
            (CommitmentKind::NextUpdate, true, true) => "Unser nächstes Update".to_string(),
            _ => c.description.clone(),
        };
        let by = if german { "bis" } else { "by" };
        let when = templates::format_expected(c.due_at.0, &zone, language);
        lines.push(format!("- {what}: {by} {when}"));
    }
    Some(lines.join("\n"))
}

/// The bytes of an outbox email: the same item always composes to the same bytes.
pub fn compose_item(item: &OutboxItem, secret: &[u8]) -> Result<Vec<u8>, String> {
    let Some(ticket) = &item.ticket else {
        return Err(format!(
            "outbox row {} belongs to no ticket and was queued without its bytes",
            item.id
        ));
    };
    let reference = ticket.reference.clone();
    let language = language_for(item);
    let human_contact = match item.inbox.human_contact.trim() {
        "" => templates::default_human_contact(&language).to_string(),
        line => line.to_string(),
    };
    let rendered = match item.kind {
        OutboxKind::Ack => {
            let readback = read_back(&ticket.subject, &item.body);
            // The SLA's due time; the inbox's target for a ticket whose clocks never started.
            let due = match item.first_response_due {
                Some(due) => due,
                None => BusinessCalendar::new(&item.inbox.business_hours)
                    .map_err(|e| format!("the inbox's business hours are invalid: {e}"))?
                    .add_business_minutes(ticket.created_at, item.inbox.first_response_minutes),
            };
            let zone = item
                .customer_time_zone
                .clone()
                .unwrap_or_else(|| item.inbox.business_hours.time_zone.clone());
            let ctx = AckContext {
                reference: reference.clone(),
                subject: ticket.subject.clone(),
                customer_name: ticket.customer.name.clone(),
                summary: readback.summary,
                references: readback
                    .references
                    .iter()
                    .map(|d| (d.kind.label(&language).to_string(), d.value.clone()))
                    .collect(),
                expected_answer: templates::format_expected(due.0, &zone, &language),
                human_contact,
                inbox_name: item.inbox.name.clone(),
                signature: item.inbox.signature.clone(),
            };
            let custom = item.template.as_ref().map(|t| Template {
                subject: t.subject.clone(),
                body: t.body.clone(),
            });
            let default = templates::default_ack_template(&language);
            match custom.map(|t| templates::render_ack(&t, &ctx)) {
                Some(Ok(r)) => r,
                // A template that cannot render must not cost the customer their read-back.
                Some(Err(e)) => {
                    tracing::warn!(inbox = item.inbox.id, error = %e, "custom read-back template failed; using the default");
                    templates::render_ack(&default, &ctx).map_err(|e| e.to_string())?
                }
                None => templates::render_ack(&default, &ctx).map_err(|e| e.to_string())?,
            }
        }
        OutboxKind::Alert => templates::Rendered {
            subject: format!("[{reference}] {}", item.body),
            text: format!(
                "{}\n\n{reference}: {}\n{}: {}\n",
                item.body,
                ticket.subject,
                ticket.customer.name,
                ticket.customer.email.as_deref().unwrap_or("")
            ),
            html: String::new(),
        },
        OutboxKind::PortalLink => {
            return Err(format!(
                "outbox row {} is a portal link queued without its bytes",
                item.id
            ));
        }
        OutboxKind::Reply => {
            let body = match commitments_footer(item, &language) {
                Some(footer) => format!("{}\n\n{footer}", item.body.trim_end()),
                None => item.body.clone(),
            };
            let mut r =
                templates::render_reply(&body, &item.inbox.signature, &human_contact, &reference);
            r.subject = templates::reply_subject(&ticket.subject, &reference);
            r
        }
        OutboxKind::Transcript => templates::render_transcript(
            &item.body,
            &item.inbox.signature,
            &human_contact,
            &reference,
            &language,
        ),
    };
    let alert = item.kind == OutboxKind::Alert;
    let from_name = if item.inbox.from_name.is_empty() {
        item.inbox.name.clone()
    } else {
        item.inbox.from_name.clone()
    };
    let email = OutboundEmail {
        from: Mailbox {
            email: item.inbox.address.clone(),
            name: Some(from_name),
        },
        // An alert goes to an agent: outside the customer's thread, with no address that
        // would file an answer on the ticket.
        reply_to: (!alert).then(|| reply_address(&item.inbox.address, ticket.id, secret)),
        to: Mailbox {
            email: item.recipient.clone(),
            name: (!alert).then(|| ticket.customer.name.clone()),
        },
        subject: rendered.subject,
        message_id: item.email_message_id.clone(),
        in_reply_to: if alert {
            None
        } else {
            item.thread_ids.last().cloned()
        },
        references: if alert {
            Vec::new()
        } else {
            item.thread_ids.clone()
        },
        automatic: matches!(item.kind, OutboxKind::Ack | OutboxKind::Alert),
        date: item.created_at.0,
        text: rendered.text,
        html: rendered.html,
    };
    compose(&email).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_core::Millis;
    use rapport_store::PageRequest;

    fn fixtures() -> Vec<(String, Vec<u8>)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../mail/tests/fixtures");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .expect("fixtures")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|p| (p.display().to_string(), std::fs::read(&p).expect("read")))
            .collect()
    }

    /// Every real-world fixture, however malformed, is stored and filed; delivered again,
    /// none is stored twice.
    async fn every_fixture_is_stored_once(store: Arc<dyn Store>) {
        let inbound = Inbound {
            secret: reply_secret(store.as_ref()).await.unwrap(),
            store: store.clone(),
            max_attachment_bytes: 64 * 1024,
        };
        let fixtures = fixtures();
        assert!(fixtures.len() >= 25, "the fixture set is there");
        let deliver = |raw: Vec<u8>| Delivery {
            source: Source::Pipe,
            envelope_from: None,
            recipients: vec![],
            inbox: Some("Support".into()),
            raw,
        };
        let mut filed = 0;
        for (name, raw) in &fixtures {
            let outcome = inbound
                .receive(deliver(raw.clone()))
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            if let Some(ticket_id) = outcome.ticket_id() {
                let messages = store
                    .list_messages(ticket_id, PageRequest::first(200))
                    .await
                    .unwrap()
                    .items;
                let message = messages
                    .iter()
                    .rev()
                    .find(|m| m.email_id.is_some())
                    .unwrap_or_else(|| panic!("{name}: no message links its email"));
                assert_eq!(
                    &store.raw_email(message.email_id.unwrap()).await.unwrap(),
                    raw,
                    "{name}: raw kept byte for byte"
                );
                filed += 1;
            } else {
                assert!(
                    matches!(
                        outcome,
                        Ingested::Bounce { .. } | Ingested::Duplicate { .. }
                    ),
                    "{name}: {outcome:?}"
                );
            }
        }
        assert!(
            filed >= fixtures.len() - 5,
            "most fixtures open or join tickets: {filed}"
        );
        for (name, raw) in &fixtures {
            let again = inbound.receive(deliver(raw.clone())).await.unwrap();
            assert!(
                matches!(again, Ingested::Duplicate { .. }),
                "{name}: {again:?}"
            );
        }
    }

    rapport_store::on_both_backends!(every_fixture_is_stored_once);

    /// The read-back speaks the customer's language and names their local time; composing
    /// the same outbox item twice gives the same bytes (a retry resends the identical mail).
    #[tokio::test]
    async fn read_backs_speak_the_customers_language() {
        let db = rapport_store::testing::TestDb::sqlite().await;
        let inbound = Inbound {
            store: db.store.clone(),
            secret: b"s".to_vec(),
            max_attachment_bytes: 1024,
        };
        let raw =
            b"From: Jonas Weber <jonas@beispiel.example>\r\nTo: support@rapport.localhost\r\n\
            Subject: Rechnung falsch\r\nMessage-ID: <de1@beispiel.example>\r\n\r\n\
            Guten Tag,\r\n\r\ndie Rechnung Nr. 2024/118 ist doppelt abgebucht worden.\r\n";
        let delivery = Delivery {
            source: Source::Pipe,
            envelope_from: None,
            recipients: vec![],
            inbox: Some("Support".into()),
            raw: raw.to_vec(),
        };
        let ticket_id = inbound
            .receive(delivery)
            .await
            .unwrap()
            .ticket_id()
            .unwrap();
        let customer = db.store.ticket(ticket_id).await.unwrap().customer.id;
        let patch = rapport_store::CustomerPatch {
            language: Some(Some("de".into())),
            time_zone: Some(Some("Europe/Berlin".into())),
            ..Default::default()
        };
        db.store
            .update_customer(
                Ctx {
                    actor: Actor::SYSTEM,
                    at: now(),
                },
                customer,
                patch,
            )
            .await
            .unwrap();
        let item = db
            .store
            .claim_outbox(now(), 60_000, 10)
            .await
            .unwrap()
            .remove(0);
        let bytes = compose_item(&item, b"s").unwrap();
        assert_eq!(compose_item(&item, b"s").unwrap(), bytes, "deterministic");
        let ack = rapport_mail::parse(&bytes);
        assert!(
            ack.subject.contains("Wir haben Ihre Anfrage erhalten"),
            "{}",
            ack.subject
        );
        assert!(
            ack.text.contains("2024/118"),
            "the invoice number is read back: {}",
            ack.text
        );
        assert!(
            ack.text.contains("(Europe/Berlin)"),
            "in the customer's time zone: {}",
            ack.text
        );
        assert!(
            ack.text.contains("Jede Antwort liest ein Mensch"),
            "{}",
            ack.text
        );
        db.finish().await;
    }

    /// The read-back promises the SLA's first-response due time, and a reply repeats what we
    /// have promised and by when, in the customer's zone and language.
    #[tokio::test]
    async fn read_backs_use_the_sla_and_replies_repeat_commitments() {
        let db = rapport_store::testing::TestDb::sqlite().await;
        let store = db.store.clone();
        let system = Ctx {
            actor: Actor::SYSTEM,
            at: now(),
        };
        let always = rapport_core::calendar::CalendarConfig {
            time_zone: "UTC".into(),
            hours: rapport_core::calendar::WeekConfig::from_days(std::array::from_fn(|_| {
                vec![rapport_core::calendar::IntervalConfig::new(
                    "00:00", "24:00",
                )]
            })),
            holidays: vec![],
        };
        let calendar = store
            .save_calendar(system, None, "Always".into(), always)
            .await
            .unwrap();
        let rules = rapport_core::sla::Rules::first_response_only(90);
        let policy = rapport_store::NewSlaPolicy {
            name: "Everyone".into(),
            position: 1,
            conditions: Default::default(),
            rules,
            calendar_id: Some(calendar.id),
        };
        store.save_sla_policy(system, None, policy).await.unwrap();
        let inbound = Inbound {
            store: store.clone(),
            secret: b"s".to_vec(),
            max_attachment_bytes: 1024,
        };
        let raw = b"From: Ann Lee <ann@example.com>\r\nTo: support@rapport.localhost\r\n\
            Subject: Router broken\r\nMessage-ID: <sla1@example.com>\r\n\r\nIt died.\r\n";
        let delivery = Delivery {
            source: Source::Pipe,
            envelope_from: None,
            recipients: vec![],
            inbox: Some("Support".into()),
            raw: raw.to_vec(),
        };
        let ticket_id = inbound
            .receive(delivery)
            .await
            .unwrap()
            .ticket_id()
            .unwrap();
        let sla = store.ticket_sla(ticket_id).await.unwrap().unwrap();
        let due = sla.due_at.unwrap();
        let ack = store
            .claim_outbox(now(), 60_000, 10)
            .await
            .unwrap()
            .remove(0);
        let ack = rapport_mail::parse(&compose_item(&ack, b"s").unwrap());
        let expected = rapport_mail::templates::format_expected(due.0, "UTC", "en");
        assert!(ack.text.contains(&expected), "{expected} in {}", ack.text);

        let promise = rapport_store::NewCommitment {
            kind: rapport_core::commitment::CommitmentKind::Promise,
            description: "A new router ships tomorrow".into(),
            due: rapport_store::Due::At(Millis(now().0 + 86_400_000)),
        };
        let made = store
            .make_commitment(system, ticket_id, promise)
            .await
            .unwrap();
        let reply = rapport_store::NewMessage {
            kind: rapport_core::MessageKind::Reply,
            channel: rapport_core::Channel::Email,
            body: "Sorry about that.".into(),
            send_email: true,
            attachments: vec![],
        };
        store
            .add_message(system, ticket_id, reply, None)
            .await
            .unwrap();
        let item = store
            .claim_outbox(now(), 60_000, 10)
            .await
            .unwrap()
            .into_iter()
            .find(|i| i.kind == OutboxKind::Reply)
            .unwrap();
        let text = rapport_mail::parse(&compose_item(&item, b"s").unwrap()).text;
        let when = rapport_mail::templates::format_expected(made.due_at.0, "UTC", "en");
        assert!(text.contains("What we have promised you:"), "{text}");
        assert!(
            text.contains(&format!("- A new router ships tomorrow: by {when}")),
            "{text}"
        );

        // Not answered in time: the breach is emailed to an admin (the ticket has no owner and
        // its team no supervisor), with no address that would file an answer on the ticket.
        let admin = rapport_store::NewAgent {
            email: "boss@rapport.localhost".into(),
            name: "Boss".into(),
            role: rapport_core::Role::Admin,
            password_hash: None,
        };
        store.create_agent(system, admin).await.unwrap();
        let other = inbound
            .receive(Delivery {
                source: Source::Pipe,
                envelope_from: None,
                recipients: vec![],
                inbox: Some("Support".into()),
                raw: b"From: Bo <bo@example.com>\r\nSubject: Fax broken\r\n\
                      Message-ID: <sla2@example.com>\r\n\r\nIt died too.\r\n"
                    .to_vec(),
            })
            .await
            .unwrap()
            .ticket_id()
            .unwrap();
        let due = store
            .ticket_sla(other)
            .await
            .unwrap()
            .unwrap()
            .due_at
            .unwrap();
        let pass = store.scheduler_pass(Millis(due.0 + 1), 10).await.unwrap();
        assert_eq!(pass.breaches, 1, "{pass:?}");
        let alert = store
            .claim_outbox(Millis(due.0 + 2), 60_000, 20)
            .await
            .unwrap()
            .into_iter()
            .find(|i| i.kind == OutboxKind::Alert)
            .expect("an alert mail");
        assert_eq!(alert.recipient, "boss@rapport.localhost");
        let raw = compose_item(&alert, b"s").unwrap();
        let mail = rapport_mail::parse(&raw);
        assert!(
            mail.subject.contains(&format!(
                "[{}] SLA target missed",
                rapport_core::TicketRef(other)
            )),
            "{}",
            mail.subject
        );
        assert!(mail.text.contains("Fax broken"), "{}", mail.text);
        let headers = String::from_utf8_lossy(&raw).to_lowercase();
        assert!(!headers.contains("reply-to:"), "no reply token: {headers}");
        assert!(headers.contains("auto-submitted: auto-"), "{headers}");
        db.finish().await;
    }

    #[tokio::test]
    async fn null_senders_overlong_ids_and_office_files_are_read_carefully() {
        let db = rapport_store::testing::TestDb::sqlite().await;
        let inbound = Inbound {
            store: db.store.clone(),
            secret: b"s".to_vec(),
            max_attachment_bytes: 1024,
        };
        let long_id = "x".repeat(MAX_MESSAGE_ID_BYTES + 1);
        let raw = format!(
            "From: system@acme.example\r\nSubject: Report\r\nMessage-ID: <{long_id}@acme.example>\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
             Content-Type: text/plain\r\n\r\nNightly report attached.\r\n--b\r\n\
             Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document; name=r.docx\r\n\
             Content-Transfer-Encoding: base64\r\n\r\nUEsDBBQAAAAIAA==\r\n--b--\r\n"
        );
        let delivery = Delivery {
            source: Source::Smtp,
            envelope_from: Some(String::new()),
            recipients: vec!["support@rapport.localhost".into()],
            inbox: None,
            raw: raw.into_bytes(),
        };
        let raw_bytes = delivery.raw.clone();
        let mail = inbound.inbound_email(1, delivery, rapport_mail::parse(&raw_bytes));
        assert!(
            mail.automatic
                .as_deref()
                .is_some_and(|a| a.contains("MAIL FROM:<>")),
            "{:?}",
            mail.automatic
        );
        assert_eq!(mail.message_id, None, "an overlong Message-ID is ignored");
        assert!(mail.dedupe_key.starts_with("sha256:"));
        assert!(
            mail.problems.iter().any(|p| p.contains("Message-ID of")),
            "{:?}",
            mail.problems
        );
        let docx = &mail.attachments[0];
        assert!(
            docx.content_type.contains("wordprocessingml"),
            "a docx is a zip inside and keeps its type: {}",
            docx.content_type
        );
        // A copy over another route (other trace headers, LF line ends) hashes the same;
        // another alert reusing the Message-ID does not.
        let alert = |extra: &str, body: &str| {
            let raw = format!(
                "{extra}From: mon@acme.example\r\nSubject: Disk full\r\nMessage-ID: <a@acme>\r\n\r\n{body}"
            );
            content_hash(&rapport_mail::parse(raw.as_bytes()), raw.as_bytes())
        };
        assert_eq!(
            alert("", "disk 91%\r\n"),
            alert("Received: by relay\r\n", "disk 91%\n")
        );
        assert_ne!(alert("", "disk 91%\r\n"), alert("", "disk 97%\r\n"));
        assert_eq!(body_bytes(b"Received: by a\r\nX: 1\r\n\r\nbody"), b"body");
        assert_eq!(body_bytes(b"X: 1\n\nbody"), b"body");
        assert_eq!(body_bytes(b"no header end"), b"no header end");
        db.finish().await;
    }

    /// Principle 12: every automated mail to a customer says how to reach a person — the
    /// read-back (a callback request's too), replies and the honest no's referral (the portal's
    /// sign-in link, composed by the web crate, is checked in its tests). The match names every
    /// kind of outbox mail, so a new kind must be decided.
    async fn every_mail_to_customers_shows_how_to_reach_a_person(store: Arc<dyn Store>) {
        use rapport_core::phone::CallbackWindow;
        use rapport_core::{Actor, Channel, MessageKind};
        use rapport_store::{CallbackRequester, Ctx, InboxPatch, NewCallbackRequest, NewMessage};
        const CONTACT: &str = "Call 030 555 0 weekdays 9-17";
        let at = now();
        let ctx = Ctx {
            actor: Actor::SYSTEM,
            at,
        };
        let patch = InboxPatch {
            human_contact: Some(CONTACT.into()),
            ..Default::default()
        };
        store.update_inbox(ctx, 1, patch).await.unwrap();
        let window = CallbackWindow::new(
            Millis(at.0 + 3_600_000),
            Millis(at.0 + 7_200_000),
            "Europe/Berlin",
            at,
        )
        .unwrap();
        let asked = store
            .request_callback(
                ctx,
                NewCallbackRequest {
                    inbox_id: 1,
                    requester: CallbackRequester::Visitor {
                        name: "Ann".into(),
                        email: Some("ann@example.com".into()),
                    },
                    phone: "+49 30 1234567".into(),
                    window,
                    note: String::new(),
                    origin: Channel::Portal,
                },
            )
            .await
            .unwrap();
        let ticket = asked.ticket.id;
        let reply = NewMessage {
            kind: MessageKind::Reply,
            channel: Channel::Email,
            body: "We will call you.".into(),
            send_email: true,
            attachments: Vec::new(),
        };
        store.add_message(ctx, ticket, reply, None).await.unwrap();
        let referral = rapport_core::routing::Referral {
            referred_to: "Your bank".into(),
            how_to_reach: "0800 123".into(),
        };
        store
            .refer_ticket(ctx, ticket, "We cannot change card limits.", referral)
            .await
            .unwrap();
        // A chat visitor's transcript.
        let visitor = rapport_store::ChatVisitor {
            inbox_id: 1,
            visitor_id: "visitor-contact-line".into(),
            verified_customer_id: None,
        };
        let chat = store
            .post_chat_message(
                ctx,
                rapport_store::ChatPost {
                    visitor: visitor.clone(),
                    client_id: "c1".into(),
                    body: "Is my order on its way?".into(),
                    conversation: None,
                    name: Some("Bea".into()),
                    email: None,
                    client_address: "ip:192.0.2.1".into(),
                },
            )
            .await
            .unwrap();
        store
            .chat_transcript(
                ctx,
                visitor,
                chat.conversation.ticket_id,
                Some("bea@example.com".into()),
            )
            .await
            .unwrap();
        let items = store
            .claim_outbox(Millis(at.0 + 1_000), 60_000, 50)
            .await
            .unwrap();
        let mut seen = Vec::new();
        for item in &items {
            let to_customer = match item.kind {
                OutboxKind::Ack
                | OutboxKind::Reply
                | OutboxKind::PortalLink
                | OutboxKind::Transcript => true,
                OutboxKind::Alert => false,
            };
            if !to_customer {
                continue;
            }
            let raw = match &item.raw {
                Some(raw) => raw.clone(),
                None => compose_item(item, b"secret").unwrap(),
            };
            let text = rapport_mail::parse::parse(&raw).text;
            assert!(
                text.contains(CONTACT),
                "{:?} lacks the contact line: {text}",
                item.kind
            );
            seen.push(item.kind);
        }
        for kind in [OutboxKind::Ack, OutboxKind::Reply, OutboxKind::Transcript] {
            assert!(
                seen.contains(&kind),
                "no {kind:?} mail was checked: {seen:?}"
            );
        }
        assert_eq!(
            seen.len(),
            4,
            "read-back, reply, referral, transcript: {seen:?}"
        );
    }

    rapport_store::on_both_backends!(every_mail_to_customers_shows_how_to_reach_a_person);

    #[test]
    fn bodies_are_never_empty_and_never_over_the_limit() {
        let mut problems = vec![];
        let empty = ParsedMail::default();
        assert_eq!(body_text(&empty, &mut problems), "(no text)");
        let quoted_only = ParsedMail {
            text: "> old".into(),
            ..ParsedMail::default()
        };
        assert_eq!(body_text(&quoted_only, &mut problems), "> old");
        let huge = ParsedMail {
            new_text: "ä".repeat(MAX_BODY_BYTES),
            ..ParsedMail::default()
        };
        let body = body_text(&huge, &mut problems);
        assert!(body.len() <= MAX_BODY_BYTES && body.ends_with("original email]"));
        assert_eq!(problems.len(), 1);
        assert_eq!(display_name(" Ann\r\nLee\u{0} "), "AnnLee");
    }
}
