//! The IMAP poller against a real Dovecot, started per test from a generated configuration.
//!
//! Needs `/usr/sbin/dovecot` (Debian: `dovecot-imapd`). Without it the tests print a note and
//! pass, except under `CI=true`, where a missing server is a failure.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_imap::{Client, Session};
use futures::TryStreamExt;
use rapport_mail::imap::{self, ImapError, ImapMailbox, ImapTls, PollReport};
use rapport_mail::{Delivery, DeliveryError, MailSink, Source};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

const DOVECOT: &str = "/usr/sbin/dovecot";
const USER: &str = "rapport";
const PASSWORD: &str = "pw-Zebra-7731";
/// Generous: a slow CI machine must never fail a test on timing alone.
const PATIENCE: Duration = Duration::from_secs(30);

/// A private Dovecot on a free port, killed and cleaned up on drop.
struct Dovecot {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Dovecot {
    /// `None` when Dovecot is not installed and the test should be skipped.
    async fn start() -> Option<Self> {
        Self::start_with("").await
    }

    /// `extra` is appended to the configuration (e.g. to hide capabilities).
    async fn start_with(extra: &str) -> Option<Self> {
        if !Path::new(DOVECOT).exists() {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "{DOVECOT} not found: install the Debian package dovecot-imapd \
                     (CI=true, so the IMAP tests fail instead of skipping)"
                );
            }
            eprintln!(
                "note: {DOVECOT} not found (apt-get install dovecot-imapd); skipping this IMAP test"
            );
            return None;
        }
        let mut last_error = String::new();
        // Another process may take the free port between our probe and Dovecot's bind.
        for _ in 0..5 {
            match Self::try_start(extra).await {
                Ok(dovecot) => return Some(dovecot),
                Err(error) => last_error = error,
            }
        }
        panic!("could not start Dovecot: {last_error}");
    }

    async fn try_start(extra: &str) -> Result<Self, String> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rapport-dovecot-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("mail")).map_err(|e| format!("{}: {e}", dir.display()))?;
        // Dovecot's unprivileged processes must be able to reach the mail directory.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;

        let me = std::fs::metadata(&dir).map_err(|e| e.to_string())?;
        let privileged = me.uid() == 0;
        // Dovecot refuses mail access as root, so as root mail belongs to `nobody`; otherwise
        // every Dovecot process runs as the current user.
        let (mail_uid, mail_gid) = if privileged {
            passwd_entry(|name, _| name == "nobody")
                .map_or((65534, 65534), |(_, uid, gid)| (uid, gid))
        } else {
            (me.uid(), me.gid())
        };
        std::os::unix::fs::chown(dir.join("mail"), Some(mail_uid), Some(mail_gid))
            .map_err(|e| e.to_string())?;
        let unprivileged_settings = if privileged {
            String::new()
        } else {
            let (name, _, _) = passwd_entry(|_, uid| uid == me.uid())
                .ok_or_else(|| format!("uid {} has no /etc/passwd entry", me.uid()))?;
            let group = group_name(me.gid())
                .ok_or_else(|| format!("gid {} has no /etc/group entry", me.gid()))?;
            format!(
                "default_login_user = {name}\n\
                 default_internal_user = {name}\n\
                 default_internal_group = {group}\n\
                 service anvil {{\n  chroot =\n}}\n"
            )
        };
        // Only root may chroot.
        let login_chroot = if privileged { "" } else { "chroot =" };

        std::fs::write(dir.join("users"), format!("{USER}:{{PLAIN}}{PASSWORD}\n"))
            .map_err(|e| e.to_string())?;
        let port = free_port()?;
        let d = dir.display();
        // imaps is disabled (port 0) so parallel instances do not fight over port 993.
        let config = format!(
            "
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:~/Maildir
{unprivileged_settings}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={d}/mail/%u
}}
service imap-login {{
  {login_chroot}
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
{extra}
"
        );
        let conf = dir.join("dovecot.conf");
        std::fs::write(&conf, config).map_err(|e| e.to_string())?;
        let child = Command::new(DOVECOT)
            .arg("-F")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawning {DOVECOT}: {e}"))?;
        let mut dovecot = Dovecot { child, dir, port };
        dovecot.wait_ready().await?;
        Ok(dovecot)
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("dovecot exited ({status}); log:\n{}", self.log()));
            }
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)).await {
                let mut buf = [0u8; 64];
                if let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await
                    && buf[..n].starts_with(b"* OK")
                {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!(
            "dovecot did not answer on port {}; log:\n{}",
            self.port,
            self.log()
        ))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dovecot.log")).unwrap_or_default()
    }

    fn mailbox(&self) -> ImapMailbox {
        ImapMailbox {
            inbox: "support".to_owned(),
            host: "127.0.0.1".to_owned(),
            port: self.port,
            tls: ImapTls::None,
            user: USER.to_owned(),
            password: PASSWORD.to_owned(),
            folder: "INBOX".to_owned(),
            move_to: None,
            poll_interval: Duration::from_secs(3600),
            idle: false,
        }
    }

    /// A separate client session for seeding and inspecting the mailbox.
    async fn admin(&self) -> Admin {
        let tcp = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect to dovecot");
        let mut client = Client::new(tcp);
        client
            .read_response()
            .await
            .expect("greeting")
            .expect("greeting");
        let session = client
            .login(USER, PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .expect("admin login");
        Admin { session }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("dovecot log ({}):\n{}", self.dir.display(), self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// (name, uid, gid) of the first /etc/passwd entry matching.
fn passwd_entry(matches: impl Fn(&str, u32) -> bool) -> Option<(String, u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        matches(name, uid).then(|| (name.to_owned(), uid, gid))
    })
}

fn group_name(gid: u32) -> Option<String> {
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        (fields.next()?.parse::<u32>().ok()? == gid).then(|| name.to_owned())
    })
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

struct Admin {
    session: Session<TcpStream>,
}

impl Admin {
    async fn append(&mut self, folder: &str, raw: &[u8]) {
        self.session
            .append(folder, None, None, raw)
            .await
            .expect("APPEND");
    }

    async fn create(&mut self, folder: &str) {
        self.session.create(folder).await.expect("CREATE");
    }

    /// UIDs of unseen messages in `folder`.
    async fn unseen(&mut self, folder: &str) -> Vec<u32> {
        self.session.select(folder).await.expect("SELECT");
        let mut uids: Vec<u32> = self
            .session
            .uid_search("UNSEEN")
            .await
            .expect("SEARCH")
            .into_iter()
            .collect();
        uids.sort_unstable();
        uids
    }

    /// The flags of every message in `folder`, in UID order, as IMAP writes them.
    async fn flags(&mut self, folder: &str) -> Vec<Vec<String>> {
        let mailbox = self.session.select(folder).await.expect("SELECT");
        if mailbox.exists == 0 {
            return vec![];
        }
        let mut fetches: Vec<_> = self
            .session
            .uid_fetch("1:*", "(UID FLAGS)")
            .await
            .expect("FETCH")
            .try_collect()
            .await
            .expect("FETCH");
        fetches.sort_by_key(|f| f.uid);
        fetches
            .iter()
            .map(|f| {
                f.flags()
                    .map(|flag| match flag {
                        async_imap::types::Flag::Seen => "\\Seen".to_owned(),
                        async_imap::types::Flag::Deleted => "\\Deleted".to_owned(),
                        async_imap::types::Flag::Custom(name) => name.into_owned(),
                        other => format!("{other:?}"),
                    })
                    .collect()
            })
            .collect()
    }

    async fn count(&mut self, folder: &str) -> u32 {
        self.session.select(folder).await.expect("SELECT").exists
    }
}

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
    let mailbox = dovecot.mailbox();
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
    let mailbox = dovecot.mailbox();

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
    let mailbox = dovecot.mailbox();

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
        ..dovecot.mailbox()
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
        ..dovecot.mailbox()
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
        ..dovecot.mailbox()
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
    assert!(!text.contains(PASSWORD), "{text}");
}

#[tokio::test]
async fn imap_tls_modes_never_fall_back_to_plain_text() {
    let Some(dovecot) = Dovecot::start().await else {
        return;
    };
    for tls in [ImapTls::StartTls, ImapTls::Tls] {
        let mailbox = ImapMailbox {
            tls,
            ..dovecot.mailbox()
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
        ..dovecot.mailbox()
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
        ..dovecot.mailbox()
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
    let task = tokio::spawn(imap::run(dovecot.mailbox(), sink.clone(), shutdown));
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
        user: USER.into(),
        password: PASSWORD.into(),
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
        ..ImapMailbox::new("support", "127.0.0.1", ImapTls::None, USER, PASSWORD)
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
