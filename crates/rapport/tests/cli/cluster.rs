//! Issue 10: three `rapport serve` nodes on one PostgreSQL database, under load (API creates,
//! SMTP messages, replies that send email, commitments that fall due), lose one node to
//! SIGKILL. Afterwards every acknowledged ticket, message and reply is stored exactly once,
//! every outbox email reached the relay (a recording SMTP sink) exactly once counting copies
//! with one Message-ID as one (what a receiving MTA does; any copies are byte-identical), and
//! every timer fired once.

use super::*;
use futures::FutureExt;
use rapport_core::Millis;
use rapport_mail::smtp_server::SmtpConfig;
use rapport_mail::testing::SmtpSink;
use rapport_store::scratch::{create_postgres_database, drop_postgres_database};
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::net::TcpStream;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;
use tokio::task::block_in_place;

const NODES: usize = 3;
/// The node killed with SIGKILL.
const VICTIM: usize = 1;
/// How long the clients load the cluster, and when (about a third in) the victim dies.
const LOAD: Duration = Duration::from_secs(9);
const KILL_AFTER: Duration = Duration::from_secs(3);
/// Commitments fall due this long after they are made: reminded halfway, broken when due.
const COMMITMENT_LEAD_MS: i64 = 5_000;
/// Seconds a node holds claimed outbox mail before another node may take it over.
const LEASE_SECONDS: &str = "3";
/// The bound for the outbox to empty and the last commitments to fire after the load.
const DRAIN: Duration = Duration::from_secs(30);
/// A client gives up on one request after this long (no node acknowledging is a failure).
const PATIENCE: Duration = Duration::from_secs(60);
const API_CLIENTS: usize = 3;
const SMTP_CLIENTS: usize = 2;
const INBOX: &str = "help@northwind.test";

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Where a node takes HTTP and SMTP; the clients know no more than that.
#[derive(Clone)]
struct Node {
    http: String,
    smtp: String,
}

/// What the clients were told was stored.
#[derive(Default)]
struct Acknowledged {
    /// Subject, idempotency key, ticket id.
    tickets: Vec<(String, String, i64)>,
    /// Body, ticket id, message id.
    replies: Vec<(String, i64, i64)>,
    /// Description, ticket id, commitment id.
    commitments: Vec<(String, i64, i64)>,
    /// Message-IDs answered 250 after DATA.
    mails: Vec<String>,
    /// Attempts that failed (refused, reset, cut short, 5xx, 4xx over SMTP) and were retried
    /// on another node.
    retries: usize,
}

impl Acknowledged {
    fn absorb(&mut self, other: Acknowledged) {
        self.tickets.extend(other.tickets);
        self.replies.extend(other.replies);
        self.commitments.extend(other.commitments);
        self.mails.extend(other.mails);
        self.retries += other.retries;
    }
}

/// One HTTP/1.1 request on its own connection. A response is only a response when it arrived
/// whole: a body shorter than its Content-Length (a node dying mid-answer) is an error.
fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    key: Option<&str>,
    json: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n"
    );
    if let Some(key) = key {
        head.push_str(&format!("Idempotency-Key: {key}\r\n"));
    }
    let body = json.unwrap_or("");
    if json.is_some() {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    write!(stream, "{head}\r\n{body}")?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let response = String::from_utf8_lossy(&raw).into_owned();
    let cut = || std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(cut)?;
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(cut)?;
    let length = head.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())
            .flatten()
    });
    if length.is_some_and(|l| body.len() < l) {
        return Err(cut());
    }
    Ok((code, body.to_string()))
}

/// A client of a load balancer: sends the request to the next node, and after any failure
/// (refused, reset, cut short, 5xx) sends the same request (same idempotency key) to the next,
/// until one answers 2xx. Any other answer is a bug.
struct Client<'a> {
    nodes: &'a [Node],
    token: &'a str,
    turn: usize,
    retries: usize,
}

impl Client<'_> {
    fn next(&mut self) -> &Node {
        self.turn += 1;
        &self.nodes[self.turn % self.nodes.len()]
    }

    fn until_acknowledged(
        &mut self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
    ) -> Value {
        let give_up = Instant::now() + PATIENCE;
        loop {
            let (token, addr) = (self.token, self.next().http.clone());
            match request(&addr, method, path, token, key, body) {
                Ok((code, text)) if (200..300).contains(&code) => {
                    match serde_json::from_str::<Value>(&text) {
                        Ok(value) => return value,
                        Err(e) => {
                            panic!("{method} {path} on {addr}: {code} but not JSON ({e}): {text}")
                        }
                    }
                }
                Ok((code, _)) if code >= 500 => {}
                Ok((code, text)) => panic!("{method} {path} on {addr}: {code} {text}"),
                Err(_) => {}
            }
            self.retries += 1;
            assert!(
                Instant::now() < give_up,
                "{method} {path}: no node acknowledged it within {PATIENCE:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A commitment takes no idempotency key: after a failure the client looks on another
    /// node whether it was made before making it again (what a careful client must do).
    fn commitment(&mut self, ticket: i64, description: &str) -> i64 {
        let give_up = Instant::now() + PATIENCE;
        let path = format!("/api/v1/tickets/{ticket}/commitments");
        loop {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_millis() as i64;
            let body = json!({
                "kind": "promise",
                "description": description,
                "due_at": Millis(now + COMMITMENT_LEAD_MS).to_string(),
            })
            .to_string();
            let addr = self.next().http.clone();
            match request(&addr, "POST", &path, self.token, None, Some(&body)) {
                Ok((201, text)) => {
                    if let Some(id) = serde_json::from_str::<Value>(&text)
                        .ok()
                        .and_then(|v| v["id"].as_i64())
                    {
                        return id;
                    }
                }
                Ok((code, _)) if code >= 500 => {}
                Ok((code, text)) => panic!("POST {path} on {addr}: {code} {text}"),
                Err(_) => {}
            }
            self.retries += 1;
            assert!(
                Instant::now() < give_up,
                "POST {path}: no node acknowledged it within {PATIENCE:?}"
            );
            // A transaction of a node that just died has ended in PostgreSQL by now.
            std::thread::sleep(Duration::from_secs(1));
            let listed = self.until_acknowledged("GET", &path, None, None);
            let made = listed["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["description"] == description)
                .and_then(|c| c["id"].as_i64());
            if let Some(id) = made {
                return id;
            }
        }
    }
}

/// Creates tickets through the API; every third gets a public reply (emailed), every third
/// (another) a promise falling due a few seconds later.
fn api_client(w: usize, nodes: Arc<Vec<Node>>, token: String, until: Instant) -> Acknowledged {
    let mut client = Client {
        nodes: &nodes,
        token: &token,
        turn: w,
        retries: 0,
    };
    let mut acknowledged = Acknowledged::default();
    for n in 0.. {
        if Instant::now() >= until {
            break;
        }
        let subject = format!("cluster api {w}-{n}");
        let key = format!("create-{w}-{n}");
        let body = json!({
            "subject": subject,
            "customer": {"email": format!("api{w}@customer.example"), "name": format!("API customer {w}")},
            "message": {"body": format!("Request {w}-{n}: the router from order 4711 reboots every evening.")},
        })
        .to_string();
        let ticket = client.until_acknowledged("POST", "/api/v1/tickets", Some(&key), Some(&body));
        let id = ticket["id"].as_i64().expect("a ticket id");
        assert_eq!(ticket["subject"], subject.as_str(), "{ticket}");
        acknowledged.tickets.push((subject, key, id));
        match n % 3 {
            0 => {
                let text = format!("Reply {w}-{n}: a new firmware fixes this; it is on its way.");
                let body = json!({ "body": text }).to_string();
                let key = format!("reply-{w}-{n}");
                let path = format!("/api/v1/tickets/{id}/messages");
                let message = client.until_acknowledged("POST", &path, Some(&key), Some(&body));
                let message_id = message["id"].as_i64().expect("a message id");
                assert_eq!(message["body"], text.as_str(), "{message}");
                acknowledged.replies.push((text, id, message_id));
            }
            1 => {
                let description = format!("Promise {w}-{n}: a replacement ships");
                let made = client.commitment(id, &description);
                acknowledged.commitments.push((description, id, made));
            }
            _ => {}
        }
    }
    acknowledged.retries = client.retries;
    acknowledged
}

enum SmtpOutcome {
    Accepted,
    /// Worth another node: I/O failed, the session was cut, or a 4xx.
    Temporary(String),
    Permanent(String),
}

/// One message over one SMTP session; `Accepted` only for the 250 after DATA.
fn smtp_send(addr: &str, from: &str, raw: &str) -> SmtpOutcome {
    fn reply(read: &mut BufReader<TcpStream>) -> std::io::Result<String> {
        loop {
            let mut line = String::new();
            if read.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            // "250-…" continues a reply, "250 …" ends it.
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(line);
            }
        }
    }
    let session = || -> std::io::Result<Result<(), String>> {
        let mut write = TcpStream::connect(addr)?;
        write.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut read = BufReader::new(write.try_clone()?);
        let steps = [
            (String::new(), "220"),
            ("HELO cluster.test\r\n".to_string(), "250"),
            (format!("MAIL FROM:<{from}>\r\n"), "250"),
            (format!("RCPT TO:<{INBOX}>\r\n"), "250"),
            ("DATA\r\n".to_string(), "354"),
            (format!("{raw}.\r\n"), "250"),
        ];
        for (command, want) in steps {
            write.write_all(command.as_bytes())?;
            let answer = reply(&mut read)?;
            if !answer.starts_with(want) {
                return Ok(Err(format!("{}→ {}", command.trim(), answer.trim())));
            }
        }
        let _ = write.write_all(b"QUIT\r\n");
        Ok(Ok(()))
    };
    match session() {
        Ok(Ok(())) => SmtpOutcome::Accepted,
        Ok(Err(answer)) if answer.contains("→ 4") => SmtpOutcome::Temporary(answer),
        Ok(Err(answer)) => SmtpOutcome::Permanent(answer),
        Err(e) => SmtpOutcome::Temporary(e.to_string()),
    }
}

/// Sends customers' messages (each a new request from a new address, so each earns a
/// read-back) to the nodes' SMTP listeners, the same bytes to the next node after a failure.
fn smtp_client(w: usize, nodes: Arc<Vec<Node>>, until: Instant) -> Acknowledged {
    let mut acknowledged = Acknowledged::default();
    let mut turn = w;
    for n in 0.. {
        if Instant::now() >= until {
            break;
        }
        let message_id = format!("cluster-{w}-{n}@customer.example");
        let from = format!("mail{w}x{n}@customer.example");
        let raw = format!(
            "From: Customer {w}-{n} <{from}>\r\nTo: Northwind Help <{INBOX}>\r\n\
             Subject: cluster mail {w}-{n}\r\nMessage-ID: <{message_id}>\r\n\
             Date: Tue, 24 Nov 2026 09:00:00 +0000\r\n\r\n\
             Hello,\r\n\r\nmy order 4711-{n} has not arrived yet. Could you check?\r\n\r\nThanks\r\n"
        );
        let give_up = Instant::now() + PATIENCE;
        loop {
            turn += 1;
            let node = &nodes[turn % nodes.len()];
            match smtp_send(&node.smtp, &from, &raw) {
                SmtpOutcome::Accepted => break,
                SmtpOutcome::Temporary(why) => {
                    acknowledged.retries += 1;
                    assert!(
                        Instant::now() < give_up,
                        "{message_id}: never accepted; last: {why}"
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
                SmtpOutcome::Permanent(why) => {
                    panic!("{message_id} refused for good by {}: {why}", node.smtp)
                }
            }
        }
        acknowledged.mails.push(message_id);
    }
    acknowledged
}

/// The Message-ID of composed mail, without angle brackets.
fn message_id_of(raw: &[u8]) -> Option<String> {
    rapport_mail::parse(raw).message_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_survive_one_killed_mid_load() {
    let admin = rapport_store::testing::postgres_admin_url();
    let url = match create_postgres_database(&admin, "rapport_cluster").await {
        Ok(url) => url,
        Err(e) if !ci() => {
            eprintln!("skipping the cluster test: {e}");
            return;
        }
        Err(e) => panic!("CI=true requires PostgreSQL: {e}"),
    };
    let outcome = std::panic::AssertUnwindSafe(cluster(&url))
        .catch_unwind()
        .await;
    let _ = drop_postgres_database(&admin, &url).await;
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure);
    }
}

async fn cluster(url: &str) {
    let began = Instant::now();
    let dir = TestDb::temp_dir();
    // The relay, recording. The victim reaches it by a door of its own, so the test can make
    // the relay stop answering the victim and kill the victim holding mail it sent but could
    // not record as sent. Each node sends a claimed batch (up to 16) at once, all from one
    // address: more connections than a listener allows one address by default.
    let relay_config = SmtpConfig {
        max_connections_per_ip: 256,
        ..SmtpConfig::default()
    };
    let relay = SmtpSink::start_with(relay_config.clone())
        .await
        .expect("the recording relay");
    let victims_door = SmtpSink::start_with(relay_config)
        .await
        .expect("the relay's door for the victim");
    let relays: Vec<String> = (0..NODES)
        .map(|i| match i {
            VICTIM => victims_door.addr.to_string(),
            _ => relay.addr.to_string(),
        })
        .collect();

    // Three nodes at the same moment on a database nobody has migrated yet.
    let mut nodes: Vec<Running> = block_in_place(|| {
        std::thread::scope(|s| {
            let starting: Vec<_> = relays
                .iter()
                .map(|relay| {
                    let dir = dir.as_path();
                    s.spawn(move || {
                        let mut cmd = rapport(dir, url, &["serve"]);
                        cmd.env("RAPPORT_SMTP_RELAY", relay)
                            .env("RAPPORT_SMTP_RELAY_TLS", "none")
                            .env("RAPPORT_LEASE_SECONDS", LEASE_SECONDS);
                        Running::start(cmd, "Mail out:")
                    })
                })
                .collect();
            starting
                .into_iter()
                .map(|node| node.join().expect("every node comes up"))
                .collect()
        })
    });
    let addresses: Vec<Node> = nodes
        .iter()
        .map(|n| Node {
            http: n.addr.clone(),
            smtp: n.smtp.clone(),
        })
        .collect();
    for (node, running) in addresses.iter().zip(&nodes) {
        assert!(
            !node.http.is_empty() && !node.smtp.is_empty(),
            "{:?}",
            running.stdout
        );
        assert_eq!(block_in_place(|| running.get("/healthz", None)).0, 200);
    }
    let started = began.elapsed();

    let token = block_in_place(|| {
        let inbox = run(
            &dir,
            url,
            &[
                "admin",
                "create-inbox",
                "--name",
                "Help",
                "--address",
                INBOX,
                "--from-name",
                "Northwind Help",
            ],
        );
        assert!(inbox.status.success(), "{}", text(&inbox.stderr));
        agent_token(&dir, url)
    });

    // Load, round robin over the nodes; a third of the way in, one node dies.
    let shared = Arc::new(addresses.clone());
    let load_began = Instant::now();
    let until = load_began + LOAD;
    let mut clients: Vec<JoinHandle<Acknowledged>> = Vec::new();
    for w in 0..API_CLIENTS {
        let (nodes, token) = (shared.clone(), token.clone());
        clients.push(std::thread::spawn(move || {
            api_client(w, nodes, token, until)
        }));
    }
    for w in 0..SMTP_CLIENTS {
        let nodes = shared.clone();
        clients.push(std::thread::spawn(move || smtp_client(w, nodes, until)));
    }
    tokio::time::sleep(KILL_AFTER).await;
    // The victim dies with mail in flight: the relay has it, the victim was never told.
    victims_door.recorder.stall();
    let answered = victims_door.recorder.received().len();
    let caught = victims_door.wait_for(answered + 1, PATIENCE).await;
    let victim = &mut nodes[VICTIM];
    victim.child.kill().expect("SIGKILL");
    let in_flight: Vec<String> = caught[answered..]
        .iter()
        .map(|d| message_id_of(&d.raw).expect("a Message-ID"))
        .collect();
    assert!(!in_flight.is_empty(), "the victim was sending mail");
    let died = block_in_place(|| victim.child.wait()).expect("wait");
    let killed_at = load_began.elapsed();
    let mut acknowledged = Acknowledged::default();
    for client in clients {
        acknowledged.absorb(block_in_place(|| client.join()).expect("a client"));
    }
    let loaded = load_began.elapsed();
    assert!(
        acknowledged.retries > 0,
        "the clients met the dead node and went elsewhere"
    );
    assert!(
        !acknowledged.tickets.is_empty()
            && !acknowledged.mails.is_empty()
            && !acknowledged.replies.is_empty()
            && !acknowledged.commitments.is_empty(),
        "the load ran"
    );

    // The survivors finish the work: the dead node's claimed mail after its lease, the
    // commitments when due.
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .expect("connect to the test database");
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&db)
                .await
                .expect(sql)
        }
    };
    let drain_began = Instant::now();
    loop {
        // Commitments first: a lapse queues its alert mail in the same transaction.
        let open = count("SELECT count(*) FROM commitments WHERE status = 'open'").await;
        let unsent = count("SELECT count(*) FROM outbox WHERE status <> 'sent'").await;
        let failed = sqlx::query(
            "SELECT id, kind, recipient, attempts, last_error FROM outbox WHERE status = 'failed'",
        )
        .fetch_all(&db)
        .await
        .expect("failed outbox rows");
        assert!(
            failed.is_empty(),
            "outbox mail failed: {:?}",
            failed
                .iter()
                .map(|r| (
                    r.get::<i64, _>(0),
                    r.get::<String, _>(1),
                    r.get::<Option<String>, _>(4)
                ))
                .collect::<Vec<_>>()
        );
        if open == 0 && unsent == 0 {
            break;
        }
        if drain_began.elapsed() > DRAIN {
            let stuck = sqlx::query(
                "SELECT id, kind, status, attempts, lease_until, next_attempt_at, last_error \
                 FROM outbox WHERE status <> 'sent' ORDER BY id",
            )
            .fetch_all(&db)
            .await
            .expect("stuck rows")
            .iter()
            .map(|r| {
                format!(
                    "#{} {} {} attempts={} lease_until={:?} next_attempt_at={} error={:?}",
                    r.get::<i64, _>(0),
                    r.get::<String, _>(1),
                    r.get::<String, _>(2),
                    r.get::<i64, _>(3),
                    r.get::<Option<i64>, _>(4),
                    r.get::<i64, _>(5),
                    r.get::<Option<String>, _>(6),
                )
            })
            .collect::<Vec<_>>();
            panic!(
                "{DRAIN:?} after the load: {open} commitments still open, {unsent} outbox rows \
                 not sent:\n{}",
                stuck.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drained = drain_began.elapsed();

    // Tickets: every acknowledged create once, under its key, and no ticket twice.
    let mut tickets_by_subject: HashMap<String, Vec<i64>> = HashMap::new();
    for r in sqlx::query("SELECT id, subject FROM tickets")
        .fetch_all(&db)
        .await
        .expect("tickets")
    {
        tickets_by_subject
            .entry(r.get(1))
            .or_default()
            .push(r.get(0));
    }
    let twice: Vec<_> = tickets_by_subject
        .iter()
        .filter(|(_, ids)| ids.len() > 1)
        .collect();
    assert!(twice.is_empty(), "tickets stored twice: {twice:?}");
    let keys: HashMap<String, i64> = sqlx::query("SELECT key, resource_id FROM idempotency_keys")
        .fetch_all(&db)
        .await
        .expect("idempotency keys")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for (subject, key, id) in &acknowledged.tickets {
        assert_eq!(
            tickets_by_subject.get(subject),
            Some(&vec![*id]),
            "acknowledged ticket '{subject}' (#{id}) stored once"
        );
        assert_eq!(keys.get(key), Some(id), "the key {key} names its ticket");
    }

    // Email in: every message answered 250 stored once, on a ticket of its own.
    let mut inbound: HashMap<String, Vec<Option<i64>>> = HashMap::new();
    for r in sqlx::query("SELECT message_id, ticket_id FROM inbound_emails")
        .fetch_all(&db)
        .await
        .expect("inbound emails")
    {
        let id: Option<String> = r.get(0);
        inbound
            .entry(id.unwrap_or_default())
            .or_default()
            .push(r.get(1));
    }
    let mut mail_tickets = Vec::new();
    for message_id in &acknowledged.mails {
        let stored = inbound.get(message_id).cloned().unwrap_or_default();
        assert!(
            stored.len() == 1 && stored[0].is_some(),
            "acknowledged message <{message_id}> stored once on a ticket: {stored:?}"
        );
        mail_tickets.push(stored[0].unwrap_or_default());
    }
    assert_eq!(
        inbound.len(),
        acknowledged.mails.len(),
        "nothing but the acknowledged messages was stored"
    );
    assert_eq!(
        tickets_by_subject.len(),
        acknowledged.tickets.len() + acknowledged.mails.len(),
        "every ticket is one the clients were told about"
    );

    // Replies: each acknowledged one stored once.
    let mut replies: HashMap<String, Vec<i64>> = HashMap::new();
    for r in sqlx::query("SELECT id, body FROM messages WHERE kind = 'reply'")
        .fetch_all(&db)
        .await
        .expect("replies")
    {
        replies.entry(r.get(1)).or_default().push(r.get(0));
    }
    for (body, ticket, id) in &acknowledged.replies {
        assert_eq!(
            replies.get(body),
            Some(&vec![*id]),
            "the reply on #{ticket} stored once"
        );
    }
    assert_eq!(replies.len(), acknowledged.replies.len());

    // The outbox: one email per reply, one read-back per emailed request, one per alert; all
    // sent.
    struct Outgoing {
        kind: String,
        ticket: Option<i64>,
        message_row: Option<i64>,
        recipient: String,
        raw: Vec<u8>,
    }
    let mut outbox: BTreeMap<String, Outgoing> = BTreeMap::new();
    for r in sqlx::query(
        "SELECT email_message_id, kind, ticket_id, message_row_id, recipient, raw, status \
         FROM outbox",
    )
    .fetch_all(&db)
    .await
    .expect("outbox")
    {
        let status: String = r.get(6);
        let raw: Option<Vec<u8>> = r.get(5);
        let id: String = r.get(0);
        assert_eq!(status, "sent", "outbox {id}");
        let before = outbox.insert(
            id.clone(),
            Outgoing {
                kind: r.get(1),
                ticket: r.get(2),
                message_row: r.get(3),
                recipient: r.get(4),
                raw: raw.unwrap_or_else(|| panic!("outbox {id} sent without its bytes kept")),
            },
        );
        assert!(before.is_none(), "Message-ID {id} on two outbox rows");
    }
    let per_reply = |message: i64| {
        outbox
            .values()
            .filter(|o| o.kind == "reply" && o.message_row == Some(message))
            .count()
    };
    for (_, ticket, message) in &acknowledged.replies {
        assert_eq!(
            per_reply(*message),
            1,
            "the reply {message} on #{ticket} is emailed once"
        );
    }
    for ticket in &mail_tickets {
        let acks = outbox
            .values()
            .filter(|o| o.kind == "ack" && o.ticket == Some(*ticket))
            .count();
        assert_eq!(acks, 1, "one read-back for the request #{ticket}");
    }
    let mut alerted: HashMap<i64, i64> = HashMap::new();
    for r in sqlx::query(
        "SELECT ticket_id, count(*) FROM events WHERE kind = 'agent.alerted' GROUP BY ticket_id",
    )
    .fetch_all(&db)
    .await
    .expect("alerts")
    {
        alerted.insert(r.get(0), r.get(1));
    }
    let mut alert_mail: HashMap<i64, i64> = HashMap::new();
    for o in outbox.values().filter(|o| o.kind == "alert") {
        *alert_mail.entry(o.ticket.unwrap_or_default()).or_default() += 1;
    }
    assert_eq!(alert_mail, alerted, "one email per alert");
    let kinds = |kind: &str| outbox.values().filter(|o| o.kind == kind).count();
    assert_eq!(kinds("reply"), acknowledged.replies.len());
    assert_eq!(kinds("ack"), acknowledged.mails.len());
    assert_eq!(
        kinds("reply") + kinds("ack") + kinds("alert"),
        outbox.len(),
        "no other mail"
    );

    // The relay: every outbox email arrived; copies of one (a node died between sending and
    // recording) are the very same bytes; nothing else arrived.
    let survivors_mail = relay.recorder.received();
    let victims_mail = victims_door.recorder.received();
    let from_victim: Vec<String> = victims_mail
        .iter()
        .filter_map(|d| message_id_of(&d.raw))
        .collect();
    let deliveries: Vec<_> = survivors_mail.iter().chain(&victims_mail).collect();
    let mut arrived: HashMap<String, Vec<&rapport_mail::Delivery>> = HashMap::new();
    for d in deliveries.iter().copied() {
        let id = message_id_of(&d.raw).unwrap_or_else(|| {
            panic!(
                "relayed mail without a Message-ID: {}",
                String::from_utf8_lossy(&d.raw)
            )
        });
        arrived.entry(id).or_default().push(d);
    }
    let strangers: Vec<_> = arrived
        .keys()
        .filter(|id| !outbox.contains_key(*id))
        .collect();
    assert!(
        strangers.is_empty(),
        "mail not in the outbox: {strangers:?}"
    );
    let mut redelivered = Vec::new();
    for (id, o) in &outbox {
        let copies = arrived.get(id).map(Vec::as_slice).unwrap_or_default();
        assert!(
            !copies.is_empty(),
            "outbox {id} ({}) never reached the relay",
            o.kind
        );
        for copy in copies {
            assert_eq!(copy.recipients, vec![o.recipient.clone()], "{id}");
            assert!(
                copy.raw == o.raw,
                "a copy of {id} differs from the bytes composed once:\n{}\n---\n{}",
                String::from_utf8_lossy(&copy.raw),
                String::from_utf8_lossy(&o.raw)
            );
        }
        if copies.len() > 1 {
            // How many copies came by the victim's door tells a takeover after the victim's
            // death from one among the living (a lease that ran out while a node still sent).
            let by_victim = from_victim.iter().filter(|v| *v == id).count();
            redelivered.push((id.clone(), copies.len(), by_victim));
        }
    }
    // What the victim had sent without hearing back, a survivor sent again after the lease.
    for id in &in_flight {
        assert!(
            redelivered
                .iter()
                .any(|(r, _, by_victim)| r == id && *by_victim == 1),
            "{id}, in flight when the victim died, was taken over and sent again"
        );
    }

    // Timers: every commitment made once, reminded at most once (a reminder that comes due
    // after the commitment itself is skipped), and broken exactly once.
    let mut commitments: HashMap<String, Vec<(i64, String)>> = HashMap::new();
    for r in sqlx::query("SELECT id, description, status FROM commitments")
        .fetch_all(&db)
        .await
        .expect("commitments")
    {
        commitments
            .entry(r.get(1))
            .or_default()
            .push((r.get(0), r.get(2)));
    }
    let mut fired: HashMap<(i64, String), i64> = HashMap::new();
    for r in sqlx::query(
        "SELECT subject_id, kind, count(*) FROM events WHERE subject_type = 'commitment' \
         GROUP BY subject_id, kind",
    )
    .fetch_all(&db)
    .await
    .expect("commitment events")
    {
        fired.insert((r.get(0), r.get(1)), r.get(2));
    }
    let times = |id: i64, kind: &str| fired.get(&(id, kind.to_string())).copied().unwrap_or(0);
    let mut reminded = 0;
    for (description, ticket, id) in &acknowledged.commitments {
        assert_eq!(
            commitments.get(description),
            Some(&vec![(*id, "broken".to_string())]),
            "the commitment on #{ticket} made once and broken"
        );
        assert_eq!(times(*id, "commitment.made"), 1, "commitment {id}");
        assert_eq!(
            times(*id, "commitment.broken"),
            1,
            "commitment {id} lapsed once"
        );
        assert!(times(*id, "commitment.reminded") <= 1, "commitment {id}");
        reminded += times(*id, "commitment.reminded");
    }
    assert_eq!(commitments.len(), acknowledged.commitments.len());

    // The survivors still answer, and stop cleanly.
    let survivors: Vec<Running> = nodes
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != VICTIM)
        .map(|(_, n)| n)
        .collect();
    let some_ticket = acknowledged.tickets[0].2;
    for node in &survivors {
        let (code, body) =
            block_in_place(|| node.get(&format!("/api/v1/tickets/{some_ticket}"), Some(&token)));
        assert_eq!(code, 200, "{body}");
    }
    for node in survivors {
        assert_eq!(
            block_in_place(|| node.stop()),
            0,
            "SIGTERM stops a survivor cleanly"
        );
    }
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "cluster: {NODES} nodes up in {started:.1?}; load {loaded:.1?}, node {VICTIM} killed \
         ({died}) at {killed_at:.1?}; drained in {drained:.1?}; whole test {:.1?}",
        began.elapsed()
    );
    println!(
        "cluster: acknowledged {} API tickets, {} SMTP messages, {} emailed replies, {} \
         commitments ({reminded} reminded, all broken once); {} retries after failures",
        acknowledged.tickets.len(),
        acknowledged.mails.len(),
        acknowledged.replies.len(),
        acknowledged.commitments.len(),
        acknowledged.retries,
    );
    println!(
        "cluster: outbox {} emails ({} replies, {} read-backs, {} alerts), relay received {} \
         copies; {} in flight on the victim; {} re-delivered, same bytes (Message-ID, copies, of them by the victim): {redelivered:?}",
        outbox.len(),
        kinds("reply"),
        kinds("ack"),
        kinds("alert"),
        deliveries.len(),
        in_flight.len(),
        redelivered.len(),
    );
}
