//! Email end to end: real SMTP into the running binary, the outbox delivered to a recording
//! SMTP sink standing in for the relay, and `mail-in` as an MTA's pipe would call it.

use super::*;
use rapport_mail::sender::{Relay, RelayTls, SendError, Sender};
use rapport_mail::testing::SmtpSink;
use rapport_mail::{Delivery, ParsedMail};
use serde_json::Value;
use tokio::task::block_in_place;

const WAIT: Duration = Duration::from_secs(30);

fn relay_to(addr: &str) -> Sender {
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    Sender::new(&Relay {
        host: host.to_string(),
        port: port.parse().expect("port"),
        tls: RelayTls::None,
        user: None,
        password: None,
    })
    .expect("sender")
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.split("\r\n\r\n")
        .next()?
        .split("\r\n")
        .find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then_some(v.trim())
        })
}

fn parsed(delivery: &Delivery) -> (String, ParsedMail) {
    (
        String::from_utf8_lossy(&delivery.raw).into_owned(),
        rapport_mail::parse(&delivery.raw),
    )
}

/// Sets up an inbox, an agent with a token, and a server relaying to `sink`.
fn start(dir: &Path, url: &str, sink: &SmtpSink) -> (Running, String) {
    let inbox = run(
        dir,
        url,
        &[
            "admin",
            "create-inbox",
            "--name",
            "Help",
            "--address",
            "help@northwind.test",
            "--address",
            "hilfe@northwind.test",
            "--from-name",
            "Northwind Help",
        ],
    );
    assert!(inbox.status.success(), "{}", text(&inbox.stderr));
    assert!(
        text(&inbox.stdout).contains("help@northwind.test, hilfe@northwind.test"),
        "{}",
        text(&inbox.stdout)
    );
    let token = agent_token(dir, url);
    let mut cmd = rapport(dir, url, &["serve"]);
    cmd.env("RAPPORT_SMTP_RELAY", sink.addr.to_string())
        .env("RAPPORT_SMTP_RELAY_TLS", "none");
    let server = Running::start(cmd, "Mail out:");
    assert!(
        !server.smtp.is_empty(),
        "the SMTP address is printed: {:?}",
        server.stdout
    );
    (server, token)
}

const FIRST: &str = "From: =?utf-8?q?Ann_M=C3=BCller?= <ann@customer.example>\r\n\
To: Northwind Help <help@northwind.test>\r\n\
Subject: =?utf-8?q?Router_st=C3=BCrzt_ab?= - order 4711-22\r\n\
Message-ID: <first-4711@customer.example>\r\n\
Date: Tue, 24 Nov 2026 09:00:00 +0000\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n\
Hello,\r\n\
\r\n\
my router from order #4711-22 reboots every evening at 8pm. I need it fixed before Friday.\r\n\
\r\n\
Thanks, Ann\r\n\
--b1\r\n\
Content-Type: application/pdf; name=\"receipt.pdf\"\r\n\
Content-Disposition: attachment; filename=\"receipt.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQKJcOkw7zDtsOfCjEgMCBvYmoKPDw+PgplbmRvYmoK\r\n\
--b1--\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_in_thread_and_out_through_the_relay() {
    let (dir, url) = temp_sqlite();
    let sink = SmtpSink::start().await.expect("sink");
    let (server, token) = block_in_place(|| start(&dir, &url, &sink));
    let smtp = relay_to(&server.smtp);

    // A customer writes; the message is acknowledged with 250 only once stored.
    smtp.send(
        "ann@customer.example",
        &["help@northwind.test".to_string()],
        FIRST.as_bytes(),
    )
    .await
    .expect("accepted");
    // An unknown recipient is refused at RCPT and nothing is stored.
    let refused = smtp
        .send(
            "ann@customer.example",
            &["nobody@northwind.test".to_string()],
            FIRST.as_bytes(),
        )
        .await;
    assert!(
        matches!(refused, Err(SendError::Permanent(_))),
        "{refused:?}"
    );

    let (code, body) = block_in_place(|| server.get("/api/v1/tickets", Some(&token)));
    assert_eq!(code, 200, "{body}");
    let tickets = json(&body)["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(tickets.len(), 1, "{body}");
    let ticket = &tickets[0];
    let id = ticket["id"].as_i64().unwrap();
    let reference = ticket["reference"].as_str().unwrap().to_string();
    assert_eq!(ticket["subject"], "Router stürzt ab - order 4711-22");
    assert_eq!(ticket["channel"], "email");
    assert_eq!(ticket["customer"]["name"], "Ann Müller");
    let (_, body) =
        block_in_place(|| server.get(&format!("/api/v1/tickets/{id}/messages"), Some(&token)));
    let messages = json(&body)["items"].as_array().cloned().unwrap_or_default();
    assert!(
        messages[0]["body"]
            .as_str()
            .unwrap()
            .contains("reboots every evening")
    );
    assert_eq!(messages[0]["attachments"][0]["filename"], "receipt.pdf");
    assert_eq!(
        messages[0]["attachments"][0]["content_type"],
        "application/pdf"
    );

    // The read-back reaches the relay: automatic, threaded to the request, restating it.
    let out = sink.wait_for(1, WAIT).await;
    assert_eq!(out.len(), 1, "one read-back");
    assert_eq!(out[0].recipients, vec!["ann@customer.example".to_string()]);
    assert_eq!(out[0].envelope_from.as_deref(), Some("help@northwind.test"));
    let (raw, ack) = parsed(&out[0]);
    assert!(
        header(&raw, "Auto-Submitted").is_some_and(|v| v.starts_with("auto-replied")),
        "{raw}"
    );
    assert_eq!(
        ack.in_reply_to,
        vec!["first-4711@customer.example".to_string()]
    );
    assert!(ack.subject.contains(&reference), "{}", ack.subject);
    assert!(
        ack.text.contains("4711-22"),
        "the order number is read back: {}",
        ack.text
    );
    assert!(
        ack.text.contains("reboots every evening"),
        "the request is restated: {}",
        ack.text
    );
    assert!(
        ack.text.contains("a person reads every reply"),
        "a human is always reachable: {}",
        ack.text
    );
    assert!(
        ack.text.contains("first answer by"),
        "the expected answer time: {}",
        ack.text
    );
    let reply_to = ack.reply_to.clone().expect("a reply address").email;
    assert!(reply_to.starts_with(&format!("help+r{id}.")), "{reply_to}");
    let ack_id = ack.message_id.clone().expect("a Message-ID");

    // The customer answers from another client that drops the subject and the references:
    // the signed reply address alone threads it.
    let answer = format!(
        "From: ann@customer.example\r\nTo: {reply_to}\r\nSubject: one more thing\r\n\
         Message-ID: <second@customer.example>\r\n\r\nIt also happens at 9pm.\r\n"
    );
    smtp.send(
        "ann@customer.example",
        std::slice::from_ref(&reply_to),
        answer.as_bytes(),
    )
    .await
    .expect("accepted");
    // And a reply by In-Reply-To only, to the plain inbox address.
    let by_header = format!(
        "From: ann@customer.example\r\nTo: help@northwind.test\r\nSubject: Re: something\r\n\
         Message-ID: <third@customer.example>\r\nIn-Reply-To: <{ack_id}>\r\n\r\nAnd at 10pm.\r\n\r\n\
         On Tue, Nov 24, 2026 Northwind Help wrote:\r\n> We received your request\r\n"
    );
    smtp.send(
        "ann@customer.example",
        &["help@northwind.test".to_string()],
        by_header.as_bytes(),
    )
    .await
    .expect("accepted");
    let (_, body) =
        block_in_place(|| server.get(&format!("/api/v1/tickets/{id}/messages"), Some(&token)));
    let messages = json(&body)["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(messages.len(), 3, "{body}");
    assert_eq!(
        messages[2]["body"], "And at 10pm.",
        "quoted history is kept apart"
    );
    assert!(
        messages[2]["quoted"]
            .as_str()
            .unwrap()
            .contains("We received your request")
    );

    // The agent answers through the API: the reply leaves threaded, as a person's mail.
    let (code, body) = block_in_place(|| {
        http(
            &server.addr,
            "POST",
            &format!("/api/v1/tickets/{id}/messages"),
            Some(&token),
            Some(r#"{"body": "A new firmware fixes this; it is on its way."}"#),
        )
    })
    .expect("reply");
    assert_eq!(code, 201, "{body}");
    let out = sink.wait_for(2, WAIT).await;
    assert_eq!(out.len(), 2);
    let (raw, reply) = parsed(&out[1]);
    assert!(
        header(&raw, "Auto-Submitted").is_none(),
        "a person's reply is not automatic: {raw}"
    );
    assert_eq!(
        reply.in_reply_to,
        vec!["third@customer.example".to_string()]
    );
    for id in [
        &ack_id,
        "first-4711@customer.example",
        "second@customer.example",
    ] {
        assert!(
            reply.references.iter().any(|r| r == id),
            "References carries {id}: {:?}",
            reply.references
        );
    }
    assert!(
        reply.subject.starts_with("Re: ") && reply.subject.contains(&reference),
        "{}",
        reply.subject
    );
    assert_eq!(
        reply.from.as_ref().and_then(|f| f.name.clone()).as_deref(),
        Some("Northwind Help")
    );
    assert!(reply.text.contains("A new firmware fixes this"));
    assert!(
        reply
            .html
            .as_deref()
            .is_some_and(|h| h.contains("A new firmware"))
    );
    // The relay has it; recording that follows a moment later.
    let mut statuses = Vec::new();
    for _ in 0..100 {
        let (_, body) =
            block_in_place(|| server.get(&format!("/api/v1/tickets/{id}/emails"), Some(&token)));
        statuses = json(&body)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["status"].as_str().unwrap().to_string())
            .collect();
        if statuses == ["sent", "sent"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(statuses, ["sent", "sent"]);

    // The same message delivered again (a sender retrying after a lost 250) is stored once.
    smtp.send(
        "ann@customer.example",
        &["help@northwind.test".to_string()],
        FIRST.as_bytes(),
    )
    .await
    .expect("accepted");
    let (_, body) = block_in_place(|| server.get("/api/v1/tickets", Some(&token)));
    assert_eq!(
        json(&body)["items"].as_array().unwrap().len(),
        1,
        "no duplicate ticket"
    );
    assert_eq!(
        sink.wait_for(3, Duration::from_millis(500)).await.len(),
        2,
        "no second read-back"
    );
    drop(smtp);
    assert_eq!(block_in_place(|| server.stop()), 0);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn mail_in_stores_from_a_pipe_with_exit_codes_an_mta_understands() {
    let (dir, url) = temp_sqlite();
    let pipe = |args: &[&str], input: &[u8]| {
        let mut child = rapport(&dir, &url, args)
            .env("RAPPORT_SMTP_MAX_MESSAGE_SIZE", "64KB")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write");
        child.wait_with_output().expect("wait")
    };
    let out = pipe(&["mail-in", "--inbox", "support"], FIRST.as_bytes());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("new ticket R-10001, read-back queued"),
        "{}",
        text(&out.stdout)
    );
    let again = pipe(
        &[
            "mail-in",
            "--recipient",
            "Support+anything@rapport.localhost",
        ],
        FIRST.as_bytes(),
    );
    assert!(again.status.success());
    assert!(
        text(&again.stdout).contains("already stored"),
        "{}",
        text(&again.stdout)
    );
    // Malformed input is still stored, never refused.
    let junk = pipe(
        &["mail-in", "--inbox", "Support"],
        b"\x00\xff garbage without headers",
    );
    assert!(junk.status.success(), "{}", text(&junk.stderr));
    let unknown = pipe(&["mail-in", "--inbox", "Nope"], FIRST.as_bytes());
    assert_eq!(unknown.status.code(), Some(67), "{}", text(&unknown.stderr));
    assert!(text(&unknown.stderr).contains("no inbox is named 'Nope'"));
    let big = pipe(&["mail-in", "--inbox", "Support"], &vec![b'a'; 70 * 1024]);
    assert_eq!(big.status.code(), Some(65), "{}", text(&big.stderr));
    let usage = pipe(&["mail-in"], b"");
    assert_eq!(
        usage.status.code(),
        Some(2),
        "--inbox or --recipient is required"
    );
    let down = rapport(
        &dir,
        "postgres://nobody@127.0.0.1:1/none",
        &["mail-in", "--inbox", "Support"],
    )
    .stdin(Stdio::null())
    .output()
    .expect("run");
    assert_eq!(
        down.status.code(),
        Some(75),
        "a database that does not answer means try again: {}",
        text(&down.stderr)
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// One SMTP transaction on an open session; `Ok(true)` when the server answered 250 at the end.
fn smtp_transaction(
    write: &mut std::net::TcpStream,
    read: &mut BufReader<std::net::TcpStream>,
    message_id: &str,
) -> std::io::Result<bool> {
    write!(
        write,
        "MAIL FROM:<crash@customer.example>\r\nRCPT TO:<support@rapport.localhost>\r\nDATA\r\n\
         From: crash@customer.example\r\nSubject: crash test\r\nMessage-ID: <{message_id}>\r\n\r\n\
         Does this survive?\r\n.\r\n"
    )?;
    let mut all_ok = true;
    for want in ["250", "250", "354", "250"] {
        let mut line = String::new();
        if read.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        all_ok &= line.starts_with(want);
    }
    Ok(all_ok)
}

#[test]
fn every_message_answered_250_survives_a_crash() {
    let (dir, url) = temp_sqlite();
    let mut server = Running::start(rapport(&dir, &url, &["serve"]), "Mail out:");
    let clients: Vec<_> = (0..8)
        .map(|worker| {
            let smtp = server.smtp.clone();
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                let Ok(mut write) = std::net::TcpStream::connect(&smtp) else {
                    return acknowledged;
                };
                let Ok(clone) = write.try_clone() else {
                    return acknowledged;
                };
                let mut read = BufReader::new(clone);
                let mut greeting = String::new();
                if read.read_line(&mut greeting).is_err()
                    || write.write_all(b"HELO crash.example\r\n").is_err()
                {
                    return acknowledged;
                }
                let mut helo = String::new();
                let _ = read.read_line(&mut helo);
                for n in 0.. {
                    let id = format!("crash-{worker}-{n}@customer.example");
                    match smtp_transaction(&mut write, &mut read, &id) {
                        Ok(true) => acknowledged.push(id),
                        Ok(false) => panic!("a message was refused before the crash"),
                        Err(_) => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    let acknowledged = crash_under_load(&mut server, clients, 20);
    assert_all_stored(&dir, "SELECT message_id FROM inbound_emails", &acknowledged);
    let conn = rusqlite::Connection::open(dir.join("data/rapport.db")).unwrap();
    let tickets: i64 = conn
        .query_row("SELECT count(*) FROM tickets", [], |r| r.get(0))
        .unwrap();
    assert!(
        tickets as usize >= acknowledged.len(),
        "each acknowledged message is on a ticket"
    );
    drop(conn);
    let _ = std::fs::remove_dir_all(dir);
}
