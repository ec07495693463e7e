//! Test doubles for the suites of this and other crates (feature `testing`): an SMTP server
//! that keeps what it receives, to stand in for a relay or a customer's mail server, and a
//! private Dovecot to poll over IMAP.

use crate::imap::{ImapMailbox, ImapTls};
use crate::smtp_server::{SmtpConfig, serve};
use crate::{Delivery, DeliveryError, MailSink};
use async_imap::{Client, Session};
use futures::TryStreamExt;
use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::{Notify, oneshot};

/// Accepts every recipient and keeps every message.
#[derive(Default)]
pub struct Recorder {
    received: Mutex<Vec<Delivery>>,
    arrived: Notify,
    stalled: AtomicBool,
}

impl Recorder {
    pub fn received(&self) -> Vec<Delivery> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// From now on every message is kept but never answered after DATA, like a relay that
    /// hangs: the sender cannot know that it arrived.
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl MailSink for Recorder {
    async fn accepts(&self, _address: &str) -> Result<bool, DeliveryError> {
        Ok(true)
    }

    async fn deliver(&self, delivery: Delivery) -> Result<(), DeliveryError> {
        if let Ok(mut r) = self.received.lock() {
            r.push(delivery);
        }
        self.arrived.notify_waiters();
        if self.stalled.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

/// An SMTP server on a loopback port recording into a [`Recorder`]; stops when dropped.
pub struct SmtpSink {
    pub addr: SocketAddr,
    pub recorder: Arc<Recorder>,
    stop: Option<oneshot::Sender<()>>,
}

impl SmtpSink {
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(SmtpConfig::default()).await
    }

    /// A sink with other limits than a listener's defaults, e.g. room for the relay
    /// connections of several nodes on one address; it always calls itself `sink.test`.
    pub async fn start_with(config: SmtpConfig) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let recorder = Arc::new(Recorder::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let sink: Arc<dyn MailSink> = recorder.clone();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            let config = SmtpConfig {
                hostname: "sink.test".into(),
                ..config
            };
            let _ = serve(listener, config, sink, shutdown).await;
        });
        Ok(Self {
            addr,
            recorder,
            stop: Some(stop),
        })
    }

    /// Waits until at least `count` messages arrived (or `timeout` passed) and returns all.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.recorder.arrived.notified();
            let received = self.recorder.received();
            if received.len() >= count || tokio::time::Instant::now() >= deadline {
                return received;
            }
            let _ = tokio::time::timeout_at(deadline, arrived).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

const DOVECOT: &str = "/usr/sbin/dovecot";
/// Generous: a slow CI machine must never fail a test on Dovecot's start-up time alone.
const STARTUP_PATIENCE: Duration = Duration::from_secs(30);

/// A private Dovecot (IMAP only, plain text) on a free loopback port, with one user
/// ([`Dovecot::USER`]) whose `INBOX` starts empty; killed and its files removed on drop.
///
/// Needs `/usr/sbin/dovecot` (Debian: `dovecot-imapd`). [`Dovecot::start`] returns `None`
/// when it is missing so a test can skip, except under `CI=true`, where it panics: CI must
/// never pass by skipping.
pub struct Dovecot {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Dovecot {
    pub const USER: &str = "rapport";
    pub const PASSWORD: &str = "pw-Zebra-7731";

    /// `None` when Dovecot is not installed and the test should be skipped.
    pub async fn start() -> Option<Self> {
        Self::start_with("").await
    }

    /// `extra` is appended to the configuration (e.g. `imap_capability = …` to hide
    /// capabilities).
    pub async fn start_with(extra: &str) -> Option<Self> {
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

        std::fs::write(
            dir.join("users"),
            format!("{}:{{PLAIN}}{}\n", Self::USER, Self::PASSWORD),
        )
        .map_err(|e| e.to_string())?;
        let port = free_port().map_err(|e| e.to_string())?;
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
        // From here on, Drop kills the process and removes the directory, also on failure.
        let mut dovecot = Dovecot { child, dir, port };
        dovecot.wait_ready().await?;
        Ok(dovecot)
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_PATIENCE;
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

    /// The IMAP port on 127.0.0.1 (plain text: no TLS, no STARTTLS).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn user(&self) -> &'static str {
        Self::USER
    }

    pub fn password(&self) -> &'static str {
        Self::PASSWORD
    }

    /// This server's `INBOX` polled into the Rapport inbox `inbox`: no move, no IDLE, and an
    /// hour between polls, so a test sees only the polls it asks for.
    pub fn mailbox(&self, inbox: &str) -> ImapMailbox {
        ImapMailbox {
            port: self.port,
            poll_interval: Duration::from_secs(3600),
            idle: false,
            ..ImapMailbox::new(
                inbox,
                "127.0.0.1",
                ImapTls::None,
                Self::USER,
                Self::PASSWORD,
            )
        }
    }

    /// A separate client session for seeding and inspecting the mailbox. Panics on failure:
    /// it is for tests.
    pub async fn admin(&self) -> DovecotAdmin {
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
            .login(Self::USER, Self::PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .expect("admin login");
        DovecotAdmin { session }
    }

    // The helpers below each use a session of their own and log it out before returning:
    // Dovecot allows a user only 10 connections per IP, and a test polling these in a loop
    // must not leave closing sessions behind to count against that.

    /// Stores `raw` in `folder` (unseen).
    pub async fn append(&self, folder: &str, raw: &[u8]) {
        let mut admin = self.admin().await;
        admin.append(folder, raw).await;
        admin.logout().await;
    }

    /// Messages in `folder`.
    pub async fn count(&self, folder: &str) -> u32 {
        let mut admin = self.admin().await;
        let count = admin.count(folder).await;
        admin.logout().await;
        count
    }

    /// Messages in `folder` without `\Seen`.
    pub async fn unseen_count(&self, folder: &str) -> usize {
        let mut admin = self.admin().await;
        let unseen = admin.unseen(folder).await.len();
        admin.logout().await;
        unseen
    }

    /// Clears `\Seen` on every message in `folder`, as a person marking mail unread would.
    pub async fn mark_all_unseen(&self, folder: &str) {
        let mut admin = self.admin().await;
        admin.mark_all_unseen(folder).await;
        admin.logout().await;
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("dovecot log ({}):\n{}", self.dir.display(), self.log());
        }
        // By PID (the master); its children notice the master is gone and exit.
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

/// A loopback port nothing listens on right now (someone may take it before it is used).
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A logged-in session on a [`Dovecot`], for seeding and inspecting folders. Every method
/// panics on failure: it is for tests.
pub struct DovecotAdmin {
    session: Session<TcpStream>,
}

impl DovecotAdmin {
    pub async fn append(&mut self, folder: &str, raw: &[u8]) {
        self.session
            .append(folder, None, None, raw)
            .await
            .expect("APPEND");
    }

    pub async fn create(&mut self, folder: &str) {
        self.session.create(folder).await.expect("CREATE");
    }

    /// UIDs of unseen messages in `folder`, ascending.
    pub async fn unseen(&mut self, folder: &str) -> Vec<u32> {
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
    pub async fn flags(&mut self, folder: &str) -> Vec<Vec<String>> {
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

    pub async fn count(&mut self, folder: &str) -> u32 {
        self.session.select(folder).await.expect("SELECT").exists
    }

    /// Clears `\Seen` on every message in `folder`.
    pub async fn mark_all_unseen(&mut self, folder: &str) {
        let mailbox = self.session.select(folder).await.expect("SELECT");
        if mailbox.exists == 0 {
            return;
        }
        // The stream must be read to the end for the command to complete.
        let _: Vec<_> = self
            .session
            .uid_store("1:*", "-FLAGS.SILENT (\\Seen)")
            .await
            .expect("STORE")
            .try_collect()
            .await
            .expect("STORE");
    }

    /// Ends the session (LOGOUT), so the server has let go of it when this returns.
    pub async fn logout(mut self) {
        self.session.logout().await.expect("LOGOUT");
    }
}
