//! Webhook delivery: claims due deliveries under a lease (several nodes share the work through
//! `SKIP LOCKED`), POSTs each event signed as Standard Webhooks describes, and records sent,
//! retry-at or failed with the outbox's backoff.
//!
//! Once-only is shared with the receiver: the store writes one delivery per event per
//! subscriber, and a node that dies between the POST and the record leaves a lease that runs
//! out, after which another node POSTs again with the same `webhook-id` (`evt_<event id>`) for
//! the receiver to drop.

use crate::delivery;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use rapport_core::Millis;
use rapport_store::{OutboxResult, Store, WebhookDelivery};
use rapport_web::now;
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;

/// How long a receiver may take to answer before the attempt counts as failed.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries claimed per pass; they are sent side by side.
const BATCH: u32 = 16;

/// The HTTP client deliveries go out with.
pub fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(TIMEOUT)
        // A redirect would send the signed event somewhere the admin did not name.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Rapport-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

pub struct Dispatcher {
    pub store: Arc<dyn Store>,
    /// How long a claimed delivery is ours before another worker (or node) may take it over.
    pub lease: Duration,
    pub client: reqwest::Client,
}

impl Dispatcher {
    /// Runs until `shutdown` turns true.
    pub async fn run(self, shutdown: tokio::sync::watch::Receiver<bool>) {
        delivery::poll_until_stopped(shutdown, || async { self.pass(now()).await > 0 }).await
    }

    /// Claims what is due at `now` and delivers it; returns how many were claimed.
    pub async fn pass(&self, now: Millis) -> usize {
        let lease_ms = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX / 4);
        match self
            .store
            .claim_webhook_deliveries(now, lease_ms, BATCH)
            .await
        {
            Ok(items) => {
                let claimed = items.len();
                futures::future::join_all(items.into_iter().map(|d| self.deliver(d, now))).await;
                claimed
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the webhook deliveries");
                0
            }
        }
    }

    async fn deliver(&self, item: WebhookDelivery, now: Millis) {
        let result = self.attempt(&item, now).await;
        if let OutboxResult::Retry { error, .. } | OutboxResult::Failed { error } = &result {
            // The URL and the error only: the secret is never logged.
            tracing::warn!(delivery_id = item.id, webhook_id = item.webhook_id,
                url = %item.url, %error, "webhook not delivered");
        }
        delivery::record("webhook delivery", item.id, || {
            self.store
                .webhook_attempted(item.id, rapport_web::now(), result.clone())
        })
        .await
    }

    /// One POST: 2xx is sent; anything else is retried until the attempts run out.
    pub async fn attempt(&self, d: &WebhookDelivery, now: Millis) -> OutboxResult {
        let body = payload(d);
        let id = message_id(d);
        let timestamp = now.0.div_euclid(1_000);
        let Some(signature) = sign(&d.secret, &id, timestamp, &body) else {
            return OutboxResult::Failed {
                error: "the webhook's stored secret is unreadable".into(),
            };
        };
        let sent = self
            .client
            .post(&d.url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let error = match sent {
            Ok(response) if response.status().is_success() => return OutboxResult::Sent,
            Ok(response) => format!("the receiver answered HTTP {}", response.status().as_u16()),
            // reqwest's errors name the URL (which never holds credentials: the store refuses
            // them) and the cause, never the headers.
            Err(e) => format!("cannot reach the receiver: {e}"),
        };
        delivery::after_failure(d.attempts, error, now)
    }
}

/// The receiver's dedupe key: the event, the same on every attempt and every node.
pub fn message_id(d: &WebhookDelivery) -> String {
    format!("evt_{}", d.event.id)
}

/// The body: the same bytes on every attempt, since the event never changes.
pub fn payload(d: &WebhookDelivery) -> String {
    let e = &d.event;
    serde_json::json!({
        "id": e.id,
        "type": e.kind,
        "ticket_id": e.ticket_id,
        "actor": e.actor,
        "data": e.data,
        "created_at": e.created_at,
    })
    .to_string()
}

/// `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` under the secret's key (the
/// base64 after `whsec_`), as Standard Webhooks specifies; `None` for a secret not in that form.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = BASE64.decode(secret.strip_prefix("whsec_")?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Some(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode, Uri};
    use rapport_core::{Actor, Channel, Priority, TicketStatus};
    use rapport_store::{Ctx, NewTicket, NewWebhook, Requester};
    use std::collections::HashSet;
    use std::sync::Mutex;

    /// What a receiver got: path, headers, body.
    type Received = Arc<Mutex<Vec<(String, HeaderMap, String)>>>;

    /// A receiver on 127.0.0.1 that records every request. `/flaky` answers 500 the first time
    /// it sees a webhook-id and 200 after; `/broken` always 500; anything else 200.
    async fn receiver() -> (String, Received) {
        let got: Received = Arc::default();
        let app = axum::Router::new()
            .fallback(
                |State(got): State<Received>, uri: Uri, headers: HeaderMap, body: String| async move {
                    let mut got = got.lock().unwrap();
                    let path = uri.path().to_string();
                    let id = headers.get("webhook-id").cloned();
                    let seen = got
                        .iter()
                        .any(|(p, h, _)| *p == path && h.get("webhook-id") == id.as_ref());
                    got.push((path.clone(), headers, body));
                    match path.as_str() {
                        "/broken" => StatusCode::INTERNAL_SERVER_ERROR,
                        "/flaky" if !seen => StatusCode::INTERNAL_SERVER_ERROR,
                        _ => StatusCode::NO_CONTENT,
                    }
                },
            )
            .with_state(got.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), got)
    }

    /// The receiver's check, written from the Standard Webhooks spec rather than with `sign`:
    /// true when the signature header holds a valid `v1` signature of this request.
    fn verifies(secret: &str, headers: &HeaderMap, body: &str) -> bool {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        let Some(key) = secret
            .strip_prefix("whsec_")
            .and_then(|k| BASE64.decode(k).ok())
        else {
            return false;
        };
        let signed = format!(
            "{}.{}.{}",
            header("webhook-id"),
            header("webhook-timestamp"),
            body
        );
        header("webhook-signature").split(' ').any(|sig| {
            let Some(raw) = sig.strip_prefix("v1,").and_then(|s| BASE64.decode(s).ok()) else {
                return false;
            };
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
            mac.update(signed.as_bytes());
            mac.verify_slice(&raw).is_ok()
        })
    }

    fn ctx() -> Ctx {
        Ctx {
            actor: Actor::SYSTEM,
            at: now(),
        }
    }

    async fn ticket(store: &Arc<dyn Store>, subject: &str) -> i64 {
        let new = NewTicket {
            subject: subject.into(),
            requester: Requester {
                customer_id: None,
                email: "ann@example.com".into(),
                name: None,
            },
            body: "The router drops the line every evening.".into(),
            channel: Channel::Api,
            priority: Priority::Normal,
            status: TicketStatus::New,
            tags: vec![],
            inbox: None,
            assignee_id: None,
            team_id: None,
            custom_fields: Default::default(),
        };
        store
            .create_ticket(ctx(), new, None)
            .await
            .unwrap()
            .value
            .id
    }

    async fn subscribe(store: &Arc<dyn Store>, url: String, events: &[&str]) -> String {
        let new = NewWebhook {
            url,
            events: events.iter().map(|e| e.to_string()).collect(),
        };
        store.create_webhook(ctx(), new).await.unwrap().secret
    }

    fn dispatcher(store: &Arc<dyn Store>) -> Dispatcher {
        Dispatcher {
            store: store.clone(),
            lease: Duration::from_secs(60),
            client: client().unwrap(),
        }
    }

    fn header(h: &HeaderMap, name: &str) -> String {
        h.get(name).unwrap().to_str().unwrap().to_string()
    }

    /// Two nodes deliver side by side: every event reaches the receiver once, signed with the
    /// subscriber's secret, its webhook-id naming the event.
    async fn each_event_arrives_once_signed(store: Arc<dyn Store>) {
        let (base, got) = receiver().await;
        let secret = subscribe(&store, format!("{base}/hook"), &["ticket.created"]).await;
        let tickets = [ticket(&store, "One").await, ticket(&store, "Two").await];
        let (a, b) = (dispatcher(&store), dispatcher(&store));
        loop {
            let (x, y) = tokio::join!(a.pass(now()), b.pass(now()));
            if x + y == 0 {
                break;
            }
        }
        let got = got.lock().unwrap().clone();
        assert_eq!(got.len(), 2, "{got:?}");
        let mut ids = HashSet::new();
        let mut seen_tickets = HashSet::new();
        for (path, headers, body) in &got {
            assert_eq!(path, "/hook");
            assert!(verifies(&secret, headers, body), "signature checks out");
            assert!(
                !verifies(
                    "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                    headers,
                    body
                ),
                "another secret's check fails"
            );
            let mut tampered = headers.clone();
            tampered.insert("webhook-timestamp", "1".parse().unwrap());
            assert!(
                !verifies(&secret, &tampered, body),
                "the timestamp is signed"
            );
            let json: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(json["type"], "ticket.created");
            let id = header(headers, "webhook-id");
            assert_eq!(id, format!("evt_{}", json["id"]));
            assert!(ids.insert(id), "each event once");
            seen_tickets.insert(json["ticket_id"].as_i64().unwrap());
            assert!(json["created_at"].as_str().unwrap().ends_with('Z'));
            let ts: i64 = header(headers, "webhook-timestamp").parse().unwrap();
            assert!((ts - now().0 / 1_000).abs() < 60);
            assert!(!body.contains(&secret) && !format!("{headers:?}").contains(&secret));
        }
        assert_eq!(seen_tickets, tickets.into_iter().collect());
        // Sent is final.
        assert_eq!(a.pass(Millis(now().0 + 365 * 86_400_000)).await, 0);
    }

    /// A receiver answering 500 gets the same webhook-id again when the retry falls due; a node
    /// dying between the POST and the record leaves the event to be sent again after its lease,
    /// with that id again. Errors name the status or cause, never the secret.
    async fn retries_and_dead_nodes_resend_the_same_id(store: Arc<dyn Store>) {
        let (base, got) = receiver().await;
        let secret = subscribe(&store, format!("{base}/flaky"), &["ticket.created"]).await;
        ticket(&store, "Flaky").await;
        let d = dispatcher(&store);
        let t = now();
        assert_eq!(d.pass(t).await, 1);
        // The retry waits a minute (the outbox's backoff).
        assert_eq!(d.pass(Millis(t.0 + 59_000)).await, 0);
        assert_eq!(d.pass(Millis(t.0 + 61_000)).await, 1);
        assert_eq!(d.pass(Millis(t.0 + 365 * 86_400_000)).await, 0, "sent");
        {
            let got = got.lock().unwrap();
            assert_eq!(got.len(), 2);
            assert_eq!(
                header(&got[0].1, "webhook-id"),
                header(&got[1].1, "webhook-id")
            );
            assert_eq!(got[0].2, got[1].2, "the same body");
            assert!(got.iter().all(|(_, h, b)| verifies(&secret, h, b)));
        }

        // A node claims and POSTs, then dies before recording: after the lease another node
        // sends it again, same id.
        let (base2, got2) = receiver().await;
        subscribe(&store, format!("{base2}/hook"), &["ticket.created"]).await;
        ticket(&store, "Dies").await;
        let t = now();
        let claimed = store.claim_webhook_deliveries(t, 60_000, 10).await.unwrap();
        let to_new: Vec<_> = claimed
            .iter()
            .filter(|c| c.url.starts_with(&base2))
            .collect();
        assert_eq!(to_new.len(), 1);
        assert_eq!(d.attempt(to_new[0], t).await, OutboxResult::Sent);
        // ... and the node is gone. Nothing is due while its lease runs.
        assert_eq!(d.pass(Millis(t.0 + 59_999)).await, 0);
        assert!(d.pass(Millis(t.0 + 60_000)).await >= 1);
        {
            let got2 = got2.lock().unwrap();
            assert_eq!(got2.len(), 2);
            assert_eq!(
                header(&got2[0].1, "webhook-id"),
                header(&got2[1].1, "webhook-id")
            );
        }

        // What becomes `last_error`: the status or the cause, never the secret (nor its key).
        // The earlier subscribers are removed, and their pending deliveries with them.
        for w in store.list_webhooks().await.unwrap() {
            store.delete_webhook(ctx(), w.id).await.unwrap();
        }
        let broken = subscribe(&store, format!("{base}/broken"), &["ticket.created"]).await;
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let unreachable = subscribe(&store, format!("http://{closed}/"), &["ticket.created"]).await;
        ticket(&store, "Errors").await;
        let t = Millis(now().0 + 365 * 86_400_000);
        let claimed = store.claim_webhook_deliveries(t, 60_000, 10).await.unwrap();
        assert_eq!(claimed.len(), 2, "{claimed:?}");
        for c in &claimed {
            let OutboxResult::Retry { error, .. } = d.attempt(c, t).await else {
                panic!("a retry");
            };
            for s in [&broken, &unreachable] {
                assert!(
                    !error.contains(s.as_str()) && !error.contains(&s[6..]),
                    "{error}"
                );
            }
            if c.url.ends_with("/broken") {
                assert_eq!(error, "the receiver answered HTTP 500");
            } else {
                assert!(error.starts_with("cannot reach the receiver"), "{error}");
            }
        }
        // The sixteenth failure gives up.
        let last = WebhookDelivery {
            attempts: delivery::MAX_ATTEMPTS - 1,
            ..claimed[0].clone()
        };
        assert!(matches!(
            d.attempt(&last, t).await,
            OutboxResult::Failed { error } if error.starts_with("gave up after 16 attempts")
        ));
    }

    #[test]
    fn the_signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification and its reference libraries.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        assert_eq!(sign("not-a-secret", "x", 1, body), None);
    }

    rapport_store::on_both_backends!(
        each_event_arrives_once_signed,
        retries_and_dead_nodes_resend_the_same_id,
    );
}
