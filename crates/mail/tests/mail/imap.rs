//! The IMAP poller against a real Dovecot ([`rapport_mail::testing::Dovecot`]), started per
//! test from a generated configuration.
//!
//! Needs `/usr/sbin/dovecot` (Debian: `dovecot-imapd`). Without it the tests print a note and
//! pass, except under `CI=true`, where a missing server is a failure.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rapport_mail::imap::{self, ImapError, ImapMailbox, ImapTls, PollReport};
use rapport_mail::testing::{Dovecot, free_port};
use rapport_mail::{Delivery, DeliveryError, MailSink, Source};
use tokio::sync::watch;

/// Generous: a slow CI machine must never fail a test on timing alone.
const PATIENCE: Duration = Duration::from_secs(30);

/// A message with CRLF line ends, 8-bit UTF-8 and trailing white space, so that any
/// rewriting on the way shows.
fn message(n: usize) -> Vec<u8> {
    format!(
        "From: Customer {n} <customer{n}@example.com>\r\n\
         To: support@example.com\r\n\
         Subject: Help needed #{n}\r\n\
         Message-ID: <msg-{n}@example.com>\r\n\
         Date: Tue, 01 Apr 2025 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         Hello, message {n}. Grüße aus Köln.  \r\n\
         \r\n\
         -- \r\n\
         Customer {n}\r\n"
    )
    .into_bytes()
}

/// Records deliveries; can be told to refuse some.
#[derive(Default)]
struct Sink {
    delivered: Mutex<Vec<Delivery>>,
    /// The first delivery containing this text fails temporarily; later ones succeed.
    temporary_once: Mutex<Option<String>>,
    /// Deliveries containing this text always fail for good.
    permanent: Option<String>,
}

impl Sink {
    fn raws(&self) -> Vec<Vec<u8>> {
        self.delivered
            .lock()
            .expect("lock")
            .iter()
            .map(|d| d.raw.clone())
            .collect()
    }

    fn count(&self) -> usize {
        self.delivered.lock().expect("lock").len()
    }
}

fn contains(raw: &[u8], needle: &str) -> bool {
    raw.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[async_trait::async_trait]
impl MailSink for Sink {
    async fn accepts(&self, _address: &str) -> Result<bool, DeliveryError> {
        Ok(true)
    }

    async fn deliver(&self, delivery: Delivery) -> Result<(), DeliveryError> {
        if let Some(needle) = &self.permanent
            && contains(&delivery.raw, needle)
        {
            return Err(DeliveryError::Permanent("refused by the test".into()));
        }
        {
            let mut once = self.temporary_once.lock().expect("lock");
            if once
                .as_deref()
                .is_some_and(|needle| contains(&delivery.raw, needle))
            {
                *once = None;
                return Err(DeliveryError::Temporary("database busy (test)".into()));
            }
        }
        self.delivered.lock().expect("lock").push(delivery);
        Ok(())
    }
}

async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn report(fetched: usize, delivered: usize, failed: usize) -> PollReport {
    PollReport {
        fetched,
        delivered,
        failed,
    }
}

#[tokio::test]
async fn imap_poll_delivers_unseen_mail_byte_exact_and_marks_it_seen() {
    let Some(dovecot) = Dovecot::start().await else {
        return;
    };
    let mut admin = dovecot.admin().await;
    let messages: Vec<Vec<u8>> = (1..=3).map(message).collect();
    for raw in &messages {
        admin.append("INBOX", raw).await;
    }
    assert_eq!(admin.unseen("INBOX").await.len(), 3);

    let sink = Sink::default();
    let mailbox = dovecot.mailbox("support");
    assert_eq!(
        imap::poll_once(&mailbox, &sink).await.expect("poll"),
        report(3, 3, 0)
    );

    assert_eq!(
        sink.raws(),
        messages,
        "delivered in UID order, byte for byte"
    );
    for delivery in sink.delivered.lock().expect("lock").iter() {
        assert_eq!(delivery.source, Source::Imap);
        assert_eq!(delivery.inbox.as_deref(), Some("support"));
        assert_eq!(delivery.envelope_from, None);
        assert!(delivery.recipients.is_empty());
    }
    assert_eq!(admin.unseen("INBOX").await, Vec::<u32>::new());
    for flags in admin.flags("INBOX").await {
        assert!(flags.contains(&"\\Seen".to_owned()), "{flags:?}");
    }

    assert_eq!(
        imap::poll_once(&mailbox, &sink).await.expect("second poll"),
        report(0, 0, 0)
    );
    assert_eq!(sink.count(), 3);
}

#[tokio::test]
async fn imap_temporary_failure_leaves_the_message_for_the_next_poll() {
    let Some(dovecot) = Dovecot::start().await else {
        return;
    };
    let mut admin = dovecot.admin().await;
    for n in 1..=3 {
        admin.append("INBOX", &message(n)).await;
    }
    let sink = Sink {
        temporary_once: Mutex::new(Some("Help needed #2".into())),
        ..Sink::default()
    };
    let mailbox = dovecot.mailbox("support");

    assert_eq!(
        imap::poll_once(&mailbox, &sink).await.expect("poll"),
        report(3, 2, 1)
    );
    assert_eq!(sink.raws(), vec![message(1), message(3)]);
    assert_eq!(
        admin.unseen("INBOX").await.len(),
        1,
        "the refused message stays unseen"
    );

    assert_eq!(
        imap::poll_once(&mailbox, &sink).await.expect("retry"),
        report(1, 1, 0)
    );
    assert_eq!(sink.raws(), vec![message(1), message(3), message(2)]);
    assert_eq!(admin.unseen("INBOX").await, Vec::<u32>::new());
}

#[tokio::test]
async fn imap_permanent_failure_marks_the_message_seen_and_flags_it() {
    let Some(dovecot) = Dovecot::start().await else {
        return;
    };
    let mut admin = dovecot.admin().await;
    for n in 1..=2 {
        admin.append("INBOX", &message(n)).await;
    }
    let sink = Sink {
        permanent: Some("Help needed #1".into()),
        ..Sink::default()
    };
    let mailbox = dovecot.mailbox("support");

    assert_eq!(
        imap::poll_once(&mailbox, &sink).await.expect("poll"),
        report(2, 1, 1)
    );
    assert_eq!(sink.raws(), vec![message(2)]);
    let flags = admin.flags("INBOX").await;
    assert!(
        flags[0].contains(&"\\Seen".to_owned())
            && flags[0].contains(&imap::FAILED_KEYWORD.to_owned()),
        "{flags:?}"
    );
    assert!(
        !flags[1].contains(&imap::FAILED_KEYWORD.to_owned()),
        "{flags:?}"
    );
    assert_eq!(
        imap::poll_once(&mailbox, &sink).await.expect("second poll"),
        report(0, 0, 0),
        "the poison message is not retried"
    );
}

#[tokio::test]
async fn imap_move_to_moves_delivered_mail() {
    let Some(dovecot) = Dovecot::start().await else {
        return;
    };
    let mut admin = dovecot.admin().await;
    admin.create("Processed").await;
    for n in 1..=2 {
        admin.append("INBOX", &message(n)).await;
    }
    let sink = Sink::default();
    let mailbox = ImapMailbox {
        move_to: Some("Processed".into()),
        ..dovecot.mailbox("support")
    };

    assert_eq!(
        imap::poll_once(&mailbox, &sink).await.expect("poll"),
        report(2, 2, 0)
    );
    assert_eq!(sink.raws(), vec![message(1), message(2)]);
    assert_eq!(admin.count("INBOX").await, 0);
    assert_eq!(admin.count("Processed").await, 2);
    assert_eq!(
        admin.unseen("Processed").await,
        Vec::<u32>::new(),
        "moved mail reads as handled"
    );
}

/// A server without MOVE, UIDPLUS and IDLE (Dovecot told to advertise only the basics): the
/// move falls back to COPY + \Deleted + EXPUNGE, and `run` polls instead of idling.
#[tokio::test]
async fn imap_without_move_or_idle_falls_back_to_copy_and_polling() {
    let Some(dovecot) = Dovecot::start_with("imap_capability = IMAP4rev1 LITERAL+").await else {
        return;
    };
    let mut admin = dovecot.admin().await;
    admin.create("Processed").await;
    admin.append("INBOX", &message(1)).await;
    let sink = Arc::new(Sink::default());
    let mailbox = ImapMailbox {
        move_to: Some("Processed".into()),
        idle: true,
        poll_interval: Duration::from_millis(200),
        ..dovecot.mailbox("support")
    };

    assert_eq!(
        imap::poll_once(&mailbox, &*sink).await.expect("poll"),
        report(1, 1, 0)
    );
    assert_eq!(admin.count("INBOX").await, 0);
    assert_eq!(admin.count("Processed").await, 1);

    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(imap::run(mailbox, sink.clone(), shutdown));
    admin.append("INBOX", &message(2)).await;
    eventually("the polled delivery", || sink.count() == 2).await;
    assert_eq!(sink.raws()[1], message(2));
    stop.send(true).expect("send shutdown");
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("run returns on shutdown")
        .expect("run did not panic");
    assert_eq!(admin.count("Processed").await, 2);
}

#[tokio::test]
async fn imap_wrong_password_is_a_login_error_without_the_password() {
    let Some(dovecot) = Dovecot::start().await else {
        return;
    };
    let wrong = "Wrong-Horse-Battery-9";
    let mailbox = ImapMailbox {
        password: wrong.into(),
        ..dovecot.mailbox("support")
    };
    let error = imap::poll_once(&mailbox, &Sink::default())
        .await
        .expect_err("login must fail");
    let text = error.to_string();
    assert!(matches!(error, ImapError::Login(_)), "{error:?}");
    assert!(
        !text.contains(wrong) && !format!("{error:?}").contains(wrong),
        "{text}"
    );
    assert!(!text.contains(Dovecot::PASSWORD), "{text}");
}

#[tokio::test]
async fn imap_tls_modes_never_fall_back_to_plain_text() {
    let Some(dovecot) = Dovecot::start().await else {
        return;
    };
    for tls in [ImapTls::StartTls, ImapTls::Tls] {
        let mailbox = ImapMailbox {
            tls,
            ..dovecot.mailbox("support")
        };
        let error = imap::poll_once(&mailbox, &Sink::default())
            .await
            .expect_err("plain-text server must be refused");
        assert!(matches!(error, ImapError::Tls(_)), "{tls}: {error:?}");
    }
}

#[tokio::test]
async fn imap_run_with_idle_delivers_mail_appended_later_and_stops_on_shutdown() {
    let Some(dovecot) = Dovecot::start().await else {
        return;
    };
    let mut admin = dovecot.admin().await;
    admin.append("INBOX", &message(1)).await;
    let sink = Arc::new(Sink::default());
    // An hour between polls: only IDLE can notice the second message in time.
    let mailbox = ImapMailbox {
        idle: true,
        ..dovecot.mailbox("support")
    };
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(imap::run(mailbox, sink.clone(), shutdown));

    eventually("the first delivery", || sink.count() == 1).await;
    admin.append("INBOX", &message(2)).await;
    eventually("the delivery woken by IDLE", || sink.count() == 2).await;
    assert_eq!(sink.raws(), vec![message(1), message(2)]);

    stop.send(true).expect("send shutdown");
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("run returns on shutdown")
        .expect("run did not panic");
    assert_eq!(admin.unseen("INBOX").await, Vec::<u32>::new());
}

/// While idling, a message the sink refused temporarily is retried without waiting for new
/// mail to wake the connection.
#[tokio::test]
async fn imap_run_with_idle_retries_a_temporary_failure() {
    let Some(dovecot) = Dovecot::start().await else {
        return;
    };
    let mut admin = dovecot.admin().await;
    admin.append("INBOX", &message(1)).await;
    let sink = Arc::new(Sink {
        temporary_once: Mutex::new(Some("Help needed #1".into())),
        ..Sink::default()
    });
    let mailbox = ImapMailbox {
        idle: true,
        ..dovecot.mailbox("support")
    };
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(imap::run(mailbox, sink.clone(), shutdown));

    eventually("the retried delivery", || sink.count() == 1).await;
    assert!(
        sink.temporary_once.lock().expect("lock").is_none(),
        "the first attempt failed"
    );
    stop.send(true).expect("send shutdown");
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("run returns on shutdown")
        .expect("run did not panic");
    assert_eq!(admin.unseen("INBOX").await, Vec::<u32>::new());
}

#[tokio::test]
async fn imap_run_without_idle_stops_on_shutdown_between_polls() {
    let Some(dovecot) = Dovecot::start().await else {
        return;
    };
    let mut admin = dovecot.admin().await;
    admin.append("INBOX", &message(1)).await;
    let sink = Arc::new(Sink::default());
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(imap::run(
        dovecot.mailbox("support"),
        sink.clone(),
        shutdown,
    ));
    eventually("the first delivery", || sink.count() == 1).await;
    stop.send(true).expect("send shutdown");
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("run returns on shutdown")
        .expect("run did not panic");
}

/// No server at all: `run` keeps retrying with back-off, and still stops at once on
/// shutdown, or when the shutdown sender is dropped.
#[tokio::test]
async fn imap_run_stops_on_shutdown_while_backing_off() {
    let port = free_port().expect("free port");
    let mailbox = ImapMailbox {
        inbox: "support".into(),
        host: "127.0.0.1".into(),
        port,
        tls: ImapTls::None,
        user: Dovecot::USER.into(),
        password: Dovecot::PASSWORD.into(),
        folder: "INBOX".into(),
        move_to: None,
        poll_interval: Duration::from_secs(3600),
        idle: true,
    };
    let sink: Arc<dyn MailSink> = Arc::new(Sink::default());

    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(imap::run(mailbox.clone(), sink.clone(), shutdown));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!task.is_finished(), "run must keep retrying, not give up");
    stop.send(true).expect("send shutdown");
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("run returns on shutdown")
        .expect("run did not panic");

    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(imap::run(mailbox, sink, shutdown));
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(stop);
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("run returns when the sender is gone")
        .expect("run did not panic");
}

/// A server that accepts the connection and never greets: shutdown still ends `run` (after a
/// short grace period), rather than waiting out the connect timeout.
#[tokio::test]
async fn imap_run_stops_on_shutdown_while_a_server_stays_silent() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let mailbox = ImapMailbox {
        port,
        idle: true,
        ..ImapMailbox::new(
            "support",
            "127.0.0.1",
            ImapTls::None,
            Dovecot::USER,
            Dovecot::PASSWORD,
        )
    };
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(imap::run(mailbox, Arc::new(Sink::default()), shutdown));
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(true).expect("send shutdown");
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("run returns on shutdown")
        .expect("run did not panic");
    silent.abort();
}
