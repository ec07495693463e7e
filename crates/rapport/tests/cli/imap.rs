//! IMAP end to end: the real binary polls a private Dovecot ([`Dovecot`]) configured by an
//! `[[imap]]` table in `rapport.toml`, and the mail becomes a threaded ticket exactly once.

use super::*;
use rapport_mail::testing::{Dovecot, free_port};
use serde_json::Value;
use std::time::Instant;
use tokio::task::block_in_place;

/// Generous: a slow CI machine must never fail on timing alone; every wait polls up to this.
const WAIT: Duration = Duration::from_secs(30);

const REQUEST: &str = "From: Ines Ortega <ines@customer.example>\r\n\
To: support@rapport.localhost\r\n\
Subject: Printer jams on page two\r\n\
Message-ID: <imap-request@customer.example>\r\n\
Date: Tue, 24 Nov 2026 09:00:00 +0000\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hello, the office printer jams on the second page of every job.\r\n";

const REPLY: &str = "From: Ines Ortega <ines@customer.example>\r\n\
To: support@rapport.localhost\r\n\
Subject: more details\r\n\
Message-ID: <imap-reply@customer.example>\r\n\
In-Reply-To: <imap-request@customer.example>\r\n\
Date: Tue, 24 Nov 2026 09:05:00 +0000\r\n\
\r\n\
It only happens with duplex printing.\r\n";

const LATER: &str = "From: Ines Ortega <ines@customer.example>\r\n\
To: support@rapport.localhost\r\n\
Subject: and one more\r\n\
Message-ID: <imap-later@customer.example>\r\n\
In-Reply-To: <imap-reply@customer.example>\r\n\
Date: Tue, 24 Nov 2026 09:10:00 +0000\r\n\
\r\n\
Another tray, same jam.\r\n";

/// `rapport.toml` polling the Dovecot's INBOX into `inbox`.
fn write_config(dir: &Path, port: u16, inbox: &str) {
    let config = format!(
        "[[imap]]\n\
         inbox = \"{inbox}\"\n\
         host = \"127.0.0.1\"\n\
         port = {port}\n\
         tls = \"none\"\n\
         user = \"{}\"\n\
         password = \"{}\"\n\
         poll_seconds = 1\n\
         idle = true\n",
        Dovecot::USER,
        Dovecot::PASSWORD
    );
    std::fs::write(dir.join("rapport.toml"), config).expect("write rapport.toml");
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Every ticket's JSON with its message bodies, in the API's order.
fn tickets(server: &Running, token: &str) -> Vec<(Value, Vec<String>)> {
    let (code, body) = server.get("/api/v1/tickets", Some(token));
    assert_eq!(code, 200, "{body}");
    let items = json(&body)["items"].as_array().cloned().unwrap_or_default();
    items
        .into_iter()
        .map(|ticket| {
            let id = ticket["id"].as_i64().expect("ticket id");
            let (code, body) = server.get(&format!("/api/v1/tickets/{id}/messages"), Some(token));
            assert_eq!(code, 200, "{body}");
            let bodies = json(&body)["items"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|m| m["body"].as_str().unwrap_or_default().to_string())
                .collect();
            (ticket, bodies)
        })
        .collect()
}

/// Polls the API until `done` holds for the tickets; fails with what it saw after [`WAIT`].
async fn wait_for_tickets(
    server: &Running,
    token: &str,
    what: &str,
    done: impl Fn(&[(Value, Vec<String>)]) -> bool,
) -> Vec<(Value, Vec<String>)> {
    let deadline = Instant::now() + WAIT;
    loop {
        let seen = block_in_place(|| tickets(server, token));
        if done(&seen) {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; tickets: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until Dovecot has no unseen message in INBOX: the poller marks a message only after
/// the store committed it, so this is also the moment its delivery is finished.
async fn wait_all_seen(dovecot: &Dovecot, what: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let unseen = dovecot.unseen_count("INBOX").await;
        if unseen == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {unseen} still unseen"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn one_ticket_with(messages: usize) -> impl Fn(&[(Value, Vec<String>)]) -> bool {
    move |tickets| tickets.len() == 1 && tickets[0].1.len() == messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_mail_becomes_one_threaded_ticket_once() {
    let Some(dovecot) = Dovecot::start().await else {
        return;
    };
    dovecot.append("INBOX", REQUEST.as_bytes()).await;
    dovecot.append("INBOX", REPLY.as_bytes()).await;
    let (dir, url) = temp_sqlite();
    // "Support" is the inbox every installation starts with.
    write_config(&dir, dovecot.port(), "Support");
    let token = block_in_place(|| agent_token(&dir, &url));
    let serve = || Running::start(rapport(&dir, &url, &["serve"]), "Mail out:");

    let server = block_in_place(serve);
    let polling = format!(
        "IMAP:    polling INBOX on 127.0.0.1:{} into 'Support'",
        dovecot.port()
    );
    assert!(
        server.stdout.iter().any(|l| l.contains(&polling)),
        "{:?}",
        server.stdout
    );

    // Both messages were waiting: the request opens a ticket, the reply threads onto it.
    let seen = wait_for_tickets(
        &server,
        &token,
        "the request and its reply",
        one_ticket_with(2),
    )
    .await;
    let (ticket, bodies) = &seen[0];
    assert_eq!(ticket["subject"], "Printer jams on page two");
    assert_eq!(ticket["channel"], "email");
    assert!(bodies[0].contains("jams on the second page"), "{bodies:?}");
    assert!(bodies[1].contains("duplex printing"), "{bodies:?}");
    wait_all_seen(&dovecot, "both messages marked \\Seen").await;

    // With IDLE the poll interval is never used, so only IDLE can wake the poller for this.
    dovecot.append("INBOX", LATER.as_bytes()).await;
    let seen = wait_for_tickets(
        &server,
        &token,
        "the message sent later",
        one_ticket_with(3),
    )
    .await;
    assert!(seen[0].1[2].contains("Another tray"), "{:?}", seen[0].1);
    wait_all_seen(&dovecot, "the later message marked \\Seen").await;
    assert_eq!(block_in_place(|| server.stop()), 0, "SIGTERM stops cleanly");

    // Someone marks the mail unread: the next start fetches all of it again, and the store
    // recognises every Message-ID.
    dovecot.mark_all_unseen("INBOX").await;
    assert_eq!(dovecot.unseen_count("INBOX").await, 3);
    let server = block_in_place(serve);
    wait_all_seen(&dovecot, "the re-fetched messages marked \\Seen again").await;
    let seen = block_in_place(|| tickets(&server, &token));
    assert!(one_ticket_with(3)(&seen), "nothing duplicated: {seen:?}");
    assert_eq!(
        dovecot.count("INBOX").await,
        3,
        "mail is kept on the server"
    );
    assert_eq!(block_in_place(|| server.stop()), 0);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn imap_naming_an_unknown_inbox_stops_serve_with_the_inbox_named() {
    let (dir, url) = temp_sqlite();
    // The inbox is checked before any connection, so no server needs to listen here.
    let port = free_port().expect("free port");
    write_config(&dir, port, "Nowhere");
    let mut child = rapport(&dir, &url, &["serve"])
        .env("RAPPORT_HTTP", "127.0.0.1:0")
        .env("RAPPORT_SMTP", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // A serve that wrongly starts would run forever: bound the wait instead of hanging.
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rapport serve kept running with an unknown [[imap]] inbox");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("read stderr");
    assert!(!status.success(), "{status}: {stderr}");
    assert!(stderr.contains("no inbox is named 'Nowhere'"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

/// The process holding the IMAP lease (the pid is part of the holder's name).
async fn lease_holder_pid(url: &str) -> Option<u32> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    let holder: Option<String> = sqlx::query_scalar(
        "SELECT holder FROM leases WHERE name LIKE 'imap:%' AND expires_at > \
         (extract(epoch from now()) * 1000)::bigint",
    )
    .fetch_optional(&mut conn)
    .await
    .expect("read leases");
    let _ = conn.close().await;
    holder.and_then(|h| h.split(':').nth(1)?.parse().ok())
}

/// Two nodes on one PostgreSQL share one mailbox: one polls it under a lease; when that node
/// is killed, the other takes over once the lease expired, and no message is stored twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_poll_one_mailbox_one_at_a_time() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let Some(dovecot) = Dovecot::start().await else {
        return;
    };
    let url = db.url.clone();
    db.store.close().await;
    let dir = TestDb::temp_dir();
    write_config(&dir, dovecot.port(), "Support");
    let token = block_in_place(|| agent_token(&dir, &url));
    let node = || {
        let mut cmd = rapport(&dir, &url, &["serve"]);
        cmd.env("RAPPORT_LEASE_SECONDS", "2");
        Running::start(cmd, "Mail out:")
    };
    let mut nodes = block_in_place(|| vec![node(), node()]);

    dovecot.append("INBOX", REQUEST.as_bytes()).await;
    let seen = wait_for_tickets(&nodes[0], &token, "the request", one_ticket_with(1)).await;
    assert_eq!(seen[0].0["subject"], "Printer jams on page two");
    wait_all_seen(&dovecot, "the request marked \\Seen").await;
    let holder = lease_holder_pid(&url)
        .await
        .expect("one node holds the lease");
    let (held, other): (Vec<_>, Vec<_>) = nodes.drain(..).partition(|n| n.child.id() == holder);
    let (mut held, survivor) = (
        held.into_iter()
            .next()
            .expect("the holder is one of our nodes"),
        other.into_iter().next().expect("the other node"),
    );

    // The polling node dies without a word; mail keeps arriving.
    held.child.kill().expect("SIGKILL");
    let _ = held.child.wait();
    dovecot.append("INBOX", REPLY.as_bytes()).await;
    dovecot.append("INBOX", LATER.as_bytes()).await;
    let seen = wait_for_tickets(
        &survivor,
        &token,
        "the survivor to take the mailbox over",
        one_ticket_with(3),
    )
    .await;
    assert!(seen[0].1[2].contains("Another tray"), "{:?}", seen[0].1);
    wait_all_seen(&dovecot, "the later messages marked \\Seen").await;
    assert_eq!(
        lease_holder_pid(&url).await,
        Some(survivor.child.id()),
        "the survivor holds the lease now"
    );
    // A clean stop gives the lease up at once.
    assert_eq!(block_in_place(|| survivor.stop()), 0);
    assert_eq!(lease_holder_pid(&url).await, None, "released on SIGTERM");
    let _ = std::fs::remove_dir_all(dir);
    let admin = rapport_store::testing::postgres_admin_url();
    let _ = rapport_store::scratch::drop_postgres_database(&admin, &url).await;
}
