//! The IMAP poller: fetches unseen mail from a mailbox (a shared support address hosted
//! elsewhere) and hands each message to the [`MailSink`].
//!
//! A message is marked (`\Seen`, or moved) only after the sink has committed it, so the server
//! keeps the mail until the database holds it. A crash between `deliver` and the mark means the
//! message is fetched and delivered again on the next poll; that is safe because the sink
//! de-duplicates re-deliveries (by Message-ID, or a content hash when there is none).
//!
//! Caveat for whoever configures logging: async-imap writes every command it sends, LOGIN and
//! its password included, to the `log` crate at trace level. Never enable `async_imap=trace`.

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_imap::imap_proto::{Response, Status};
use async_imap::types::{Capabilities, Capability, Fetch, Flag, UnsolicitedResponse};
use async_imap::{Client, Session};
use futures::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use crate::{Delivery, DeliveryError, MailSink, Source};

/// Messages per UID FETCH: a large backlog is worked through (and marked) in steps.
const BATCH_MESSAGES: usize = 50;
/// Upper bound on message bytes held in memory per fetch, so a batch of large attachments
/// does not become one huge allocation.
const BATCH_BYTES: u64 = 32 * 1024 * 1024;
/// Connecting, TLS and LOGIN together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// Any single command; generous because a fetch may carry up to [`BATCH_BYTES`].
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10 * 60);
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(10);
/// RFC 2177: servers may drop a client idling for 30 minutes, so IDLE is re-issued before.
const IDLE_REISSUE: Duration = Duration::from_secs(25 * 60);
/// How long work under way may take to finish once shutdown is requested.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
const BACKOFF_FIRST: Duration = Duration::from_secs(2);
const BACKOFF_MAX: Duration = Duration::from_secs(5 * 60);
/// Keyword set on a message the sink refused for good, so a person can find it.
pub const FAILED_KEYWORD: &str = "$RapportFailed";

/// How the connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImapTls {
    /// Plain text (port 143). Only for a server on the same host or a trusted network.
    None,
    /// Plain connection upgraded with STARTTLS (port 143); refused if the server does not
    /// offer it, never silently continued in plain text.
    StartTls,
    /// TLS from the first byte (port 993).
    Tls,
}

impl ImapTls {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::StartTls => "starttls",
            Self::Tls => "tls",
        }
    }

    /// The usual port for this mode.
    pub fn default_port(self) -> u16 {
        match self {
            Self::None | Self::StartTls => 143,
            Self::Tls => 993,
        }
    }
}

impl fmt::Display for ImapTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown IMAP TLS mode {0:?}: expected \"none\", \"starttls\" or \"tls\"")]
pub struct ParseImapTlsError(pub String);

impl FromStr for ImapTls {
    type Err = ParseImapTlsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "plain" => Ok(Self::None),
            "starttls" => Ok(Self::StartTls),
            "tls" | "ssl" | "imaps" => Ok(Self::Tls),
            _ => Err(ParseImapTlsError(s.to_owned())),
        }
    }
}

/// One remote mailbox polled for one Rapport inbox.
#[derive(Clone)]
pub struct ImapMailbox {
    /// The Rapport inbox the mail belongs to (by name).
    pub inbox: String,
    pub host: String,
    pub port: u16,
    pub tls: ImapTls,
    pub user: String,
    pub password: String,
    /// The folder to read, usually `INBOX`.
    pub folder: String,
    /// Move delivered mail here instead of only flagging it `\Seen`.
    pub move_to: Option<String>,
    /// How often to poll when IDLE is off or unsupported.
    pub poll_interval: Duration,
    /// Wait with IDLE (RFC 2177) between polls when the server supports it.
    pub idle: bool,
}

impl ImapMailbox {
    /// A mailbox with the usual defaults: folder `INBOX`, the mode's default port, no move,
    /// IDLE on, and a one-minute poll interval for servers without IDLE.
    pub fn new(
        inbox: impl Into<String>,
        host: impl Into<String>,
        tls: ImapTls,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            inbox: inbox.into(),
            host: host.into(),
            port: tls.default_port(),
            tls,
            user: user.into(),
            password: password.into(),
            folder: "INBOX".to_owned(),
            move_to: None,
            poll_interval: Duration::from_secs(60),
            idle: true,
        }
    }
}

impl fmt::Debug for ImapMailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapMailbox")
            .field("inbox", &self.inbox)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("folder", &self.folder)
            .field("move_to", &self.move_to)
            .field("poll_interval", &self.poll_interval)
            .field("idle", &self.idle)
            .finish()
    }
}

/// What one poll did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Messages downloaded.
    pub fetched: usize,
    /// Messages the sink accepted (and that were then marked).
    pub delivered: usize,
    /// Messages the sink refused, temporarily (left unseen) or for good (flagged).
    pub failed: usize,
}

/// Why a poll failed. No variant ever contains the password.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("IMAP connection failed: {0}")]
    Connect(String),
    #[error("IMAP TLS failed: {0}")]
    Tls(String),
    #[error("IMAP login failed: {0}")]
    Login(String),
    #[error("IMAP protocol error: {0}")]
    Protocol(String),
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Io for T {}

/// Plain and TLS connections behind one type, so the session code is written once.
type Stream = Box<dyn Io>;
type ImapSession = Session<Stream>;

/// Connects, fetches every unseen message in the folder, delivers each to `sink` and marks
/// the delivered ones, then logs out.
pub async fn poll_once(
    mailbox: &ImapMailbox,
    sink: &dyn MailSink,
) -> Result<PollReport, ImapError> {
    let (mut session, caps) = connect(mailbox).await?;
    let polled = poll_session(&mut session, &caps, mailbox, sink, None).await;
    if polled.is_ok() {
        logout(&mut session).await;
    }
    polled.map(|polled| polled.report)
}

/// Polls `mailbox` until `shutdown` becomes true (or its sender is dropped): waits with IDLE
/// when enabled and supported, else sleeps `poll_interval` between polls. Errors are logged
/// and retried with exponential back-off; this never returns for any other reason.
pub async fn run(
    mailbox: ImapMailbox,
    sink: Arc<dyn MailSink>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::default();
    let mut use_idle = mailbox.idle;
    loop {
        if stop_requested(&shutdown) {
            return;
        }
        let outcome = {
            // The work below notices shutdown itself at its waits and between messages; this
            // only bounds how long a slow connect or command can hold the process up.
            let mut watcher = shutdown.clone();
            let work = attempt(&mailbox, &*sink, &mut shutdown, &mut backoff, use_idle);
            tokio::pin!(work);
            tokio::select! {
                outcome = &mut work => outcome,
                () = shutdown_signal(&mut watcher) => {
                    match tokio::time::timeout(SHUTDOWN_GRACE, &mut work).await {
                        Ok(outcome) => outcome,
                        Err(_) => return,
                    }
                }
            }
        };
        match outcome {
            Ok(Next::Stop) => return,
            Ok(Next::Again) => {}
            Ok(Next::NoIdle) => {
                tracing::info!(
                    inbox = %mailbox.inbox,
                    host = %mailbox.host,
                    interval_secs = mailbox.poll_interval.as_secs(),
                    "IMAP server does not support IDLE; polling instead"
                );
                use_idle = false;
            }
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(
                    inbox = %mailbox.inbox,
                    host = %mailbox.host,
                    user = %mailbox.user,
                    %error,
                    retry_in_secs = delay.as_secs(),
                    "IMAP polling failed"
                );
                if wait_or_shutdown(delay, &mut shutdown).await {
                    return;
                }
            }
        }
    }
}

enum Next {
    Again,
    Stop,
    NoIdle,
}

/// One connection's worth of work: an IDLE session, or one poll and the wait after it.
async fn attempt(
    mailbox: &ImapMailbox,
    sink: &dyn MailSink,
    shutdown: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
    use_idle: bool,
) -> Result<Next, ImapError> {
    if use_idle {
        return idle_session(mailbox, sink, shutdown, backoff).await;
    }
    let report = poll_session_once(mailbox, sink, shutdown).await?;
    log_report(mailbox, &report);
    backoff.reset();
    if wait_or_shutdown(mailbox.poll_interval, shutdown).await {
        Ok(Next::Stop)
    } else {
        Ok(Next::Again)
    }
}

/// `poll_once` that also stops between messages when shutdown is requested.
async fn poll_session_once(
    mailbox: &ImapMailbox,
    sink: &dyn MailSink,
    shutdown: &watch::Receiver<bool>,
) -> Result<PollReport, ImapError> {
    let (mut session, caps) = connect(mailbox).await?;
    let polled = poll_session(&mut session, &caps, mailbox, sink, Some(shutdown)).await;
    if polled.is_ok() {
        logout(&mut session).await;
    }
    polled.map(|polled| polled.report)
}

/// One connection kept open: poll, IDLE until something happens, poll again.
async fn idle_session(
    mailbox: &ImapMailbox,
    sink: &dyn MailSink,
    shutdown: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> Result<Next, ImapError> {
    let (mut session, caps) = connect(mailbox).await?;
    if !has_capability(&caps, "IDLE") {
        logout(&mut session).await;
        return Ok(Next::NoIdle);
    }
    // Mail the sink could not take yet is retried after a growing delay; IDLE alone would
    // leave it until new mail arrives or IDLE is re-issued.
    let mut retry = Backoff::default();
    loop {
        let polled = poll_session(&mut session, &caps, mailbox, sink, Some(&*shutdown)).await?;
        log_report(mailbox, &polled.report);
        backoff.reset();
        let idle_for = if polled.left_unmarked > 0 {
            retry.next_delay().min(IDLE_REISSUE)
        } else {
            retry.reset();
            IDLE_REISSUE
        };
        if stop_requested(shutdown) {
            logout(&mut session).await;
            return Ok(Next::Stop);
        }
        // Mail that arrived while we were polling was announced (EXISTS) during the commands
        // of that poll, not during the coming IDLE, so IDLE would not wake for it.
        if announced_new_mail(&session) {
            continue;
        }

        let mut handle = session.idle();
        command("IDLE", handle.init()).await?;
        let stop = {
            // The library's own timeout restarts at every "* OK Still here" keep-alive,
            // so the re-issue deadline is kept here.
            let (wait, interrupt) = handle.wait_with_timeout(idle_for);
            let stop = tokio::select! {
                woke = wait => {
                    woke.map_err(|e| imap_error("IDLE", e))?;
                    false
                }
                () = tokio::time::sleep(idle_for) => false,
                () = shutdown_signal(shutdown) => true,
            };
            drop(interrupt);
            stop
        };
        session = command("DONE", handle.done()).await?;
        if stop {
            logout(&mut session).await;
            return Ok(Next::Stop);
        }
    }
}

async fn connect(mailbox: &ImapMailbox) -> Result<(ImapSession, Capabilities), ImapError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, connect_inner(mailbox)).await {
        Ok(result) => result,
        Err(_) => Err(ImapError::Connect(format!(
            "{}:{}: no answer within {} s",
            mailbox.host,
            mailbox.port,
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

async fn connect_inner(mailbox: &ImapMailbox) -> Result<(ImapSession, Capabilities), ImapError> {
    let endpoint = format!("{}:{}", mailbox.host, mailbox.port);
    let tcp = TcpStream::connect((mailbox.host.as_str(), mailbox.port))
        .await
        .map_err(|e| ImapError::Connect(format!("{endpoint}: {e}")))?;
    // Best effort: IMAP is request/response, so Nagle only adds latency.
    let _ = tcp.set_nodelay(true);

    let client: Client<Stream> = match mailbox.tls {
        ImapTls::None => {
            let mut client = Client::new(Box::new(tcp) as Stream);
            read_greeting(&mut client, &endpoint).await?;
            client
        }
        ImapTls::Tls => {
            let tls = tls_handshake(tcp, &mailbox.host).await?;
            let mut client = Client::new(Box::new(tls) as Stream);
            read_greeting(&mut client, &endpoint).await?;
            client
        }
        ImapTls::StartTls => {
            let mut client = Client::new(tcp);
            read_greeting(&mut client, &endpoint).await?;
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| ImapError::Tls(format!("{endpoint} refused STARTTLS: {e}")))?;
            // into_inner drops anything the server sent after its STARTTLS answer, which is
            // what must happen to plain-text bytes injected before the handshake.
            let tls = tls_handshake(client.into_inner(), &mailbox.host).await?;
            // No greeting follows a STARTTLS handshake.
            Client::new(Box::new(tls) as Stream)
        }
    };

    let (mut session, caps) = client
        .login_with_capabilities(&mailbox.user, &mailbox.password)
        .await
        .map_err(|(e, _client)| {
            ImapError::Login(login_failure(&mailbox.user, &mailbox.password, e))
        })?;
    let caps = match caps {
        Some(caps) => caps,
        None => command("CAPABILITY", session.capabilities()).await?,
    };
    Ok((session, caps))
}

async fn read_greeting<T>(client: &mut Client<T>, endpoint: &str) -> Result<(), ImapError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug,
{
    let greeting = client
        .read_response()
        .await
        .map_err(|e| ImapError::Connect(format!("{endpoint}: reading the greeting: {e}")))?
        .ok_or_else(|| {
            ImapError::Connect(format!("{endpoint} closed the connection before greeting"))
        })?;
    match greeting.parsed() {
        Response::Data {
            status: Status::Ok | Status::PreAuth,
            ..
        } => Ok(()),
        Response::Data {
            status: Status::Bye,
            outcome,
        } => Err(ImapError::Connect(format!(
            "{endpoint} refused the connection: {}",
            outcome.information.as_deref().unwrap_or("BYE")
        ))),
        other => Err(ImapError::Protocol(format!(
            "{endpoint} sent an unexpected greeting: {other:?}"
        ))),
    }
}

async fn tls_handshake(
    tcp: TcpStream,
    host: &str,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ImapError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // The provider is named rather than taken from the process default: another crate in
    // the binary may enable a second rustls provider, and then there is no default.
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| ImapError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| ImapError::Tls(format!("{host:?} is not a valid TLS server name: {e}")))?;
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| ImapError::Tls(format!("handshake with {host}: {e}")))
}

/// The server's reason for refusing the login, with the password scrubbed in case a server
/// echoes it.
fn login_failure(user: &str, password: &str, error: async_imap::error::Error) -> String {
    use async_imap::error::Error;
    let text = match error {
        Error::No(reason) | Error::Bad(reason) => {
            format!("the server refused user {user:?}: {reason}")
        }
        // The library names the offending character; say less, it came from the password.
        Error::Validate(_) => {
            "the user name or password contains a line break, which IMAP LOGIN cannot carry"
                .to_owned()
        }
        other => format!("as user {user:?}: {other}"),
    };
    if password.is_empty() {
        text
    } else {
        text.replace(password, "<redacted>")
    }
}

struct Polled {
    report: PollReport,
    /// Messages left unseen to be tried again (temporary failures, missing bodies).
    left_unmarked: usize,
}

/// Delivers every unseen, undeleted message in the folder, oldest UID first.
async fn poll_session(
    session: &mut ImapSession,
    caps: &Capabilities,
    mailbox: &ImapMailbox,
    sink: &dyn MailSink,
    shutdown: Option<&watch::Receiver<bool>>,
) -> Result<Polled, ImapError> {
    // What was announced before this poll is covered by the search below.
    while session.unsolicited_responses.try_recv().is_ok() {}

    // Selecting on every poll, even on a kept connection, gives a fresh view of the folder
    // and of which keywords it accepts.
    let selected = command("SELECT", session.select(&mailbox.folder)).await?;
    let keywords_allowed = selected.permanent_flags.iter().any(|flag| match flag {
        Flag::MayCreate => true,
        Flag::Custom(name) => name.eq_ignore_ascii_case(FAILED_KEYWORD),
        _ => false,
    });

    let mut uids: Vec<u32> = command("UID SEARCH", session.uid_search("UNSEEN UNDELETED"))
        .await?
        .into_iter()
        .collect();
    uids.sort_unstable();

    let mut report = PollReport::default();
    let mut left_unmarked = 0;
    for batch in uids.chunks(BATCH_MESSAGES) {
        for part in split_by_size(session, batch).await? {
            let fetches = fetch_bodies(session, &part).await?;
            for uid in part {
                if shutdown.is_some_and(stop_requested) {
                    return Ok(Polled {
                        report,
                        left_unmarked,
                    });
                }
                let Some(fetch) = fetches.iter().find(|f| f.uid == Some(uid)) else {
                    // Expunged by another client since the search.
                    continue;
                };
                let Some(raw) = fetch.body() else {
                    tracing::warn!(
                        inbox = %mailbox.inbox,
                        uid,
                        "IMAP server returned no body; left unseen"
                    );
                    report.failed += 1;
                    left_unmarked += 1;
                    continue;
                };
                report.fetched += 1;
                let delivery = Delivery {
                    source: Source::Imap,
                    envelope_from: None,
                    recipients: vec![],
                    inbox: Some(mailbox.inbox.clone()),
                    raw: raw.to_vec(),
                };
                match sink.deliver(delivery).await {
                    Ok(()) => {
                        mark_delivered(session, caps, mailbox, uid).await?;
                        report.delivered += 1;
                    }
                    Err(DeliveryError::Temporary(reason)) => {
                        tracing::warn!(
                            inbox = %mailbox.inbox,
                            uid,
                            %reason,
                            "message not stored, left unseen for the next poll"
                        );
                        report.failed += 1;
                        left_unmarked += 1;
                    }
                    Err(DeliveryError::Permanent(reason)) => {
                        // Marked so that one message the store can never take does not
                        // block the mailbox; the keyword lets a person find it.
                        tracing::warn!(
                            inbox = %mailbox.inbox,
                            uid,
                            %reason,
                            keyword = FAILED_KEYWORD,
                            "message refused for good, marked seen and left in the folder"
                        );
                        let flags = if keywords_allowed {
                            format!("+FLAGS.SILENT (\\Seen {FAILED_KEYWORD})")
                        } else {
                            "+FLAGS.SILENT (\\Seen)".to_owned()
                        };
                        store(session, uid, &flags).await?;
                        report.failed += 1;
                    }
                }
            }
        }
    }
    Ok(Polled {
        report,
        left_unmarked,
    })
}

/// Splits a batch so that no fetch holds more than [`BATCH_BYTES`] (a message larger than
/// that is fetched on its own).
async fn split_by_size(
    session: &mut ImapSession,
    batch: &[u32],
) -> Result<Vec<Vec<u32>>, ImapError> {
    let set = uid_set(batch);
    let sizes: Vec<Fetch> = command("UID FETCH RFC822.SIZE", async {
        session
            .uid_fetch(&set, "(UID RFC822.SIZE)")
            .await?
            .try_collect()
            .await
    })
    .await?;
    let mut parts: Vec<Vec<u32>> = Vec::new();
    let mut current: Vec<u32> = Vec::new();
    let mut bytes = 0u64;
    for &uid in batch {
        let size = sizes
            .iter()
            .find(|f| f.uid == Some(uid))
            .and_then(|f| f.size)
            .map_or(0, u64::from);
        if !current.is_empty() && bytes + size > BATCH_BYTES {
            parts.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(uid);
        bytes += size;
    }
    if !current.is_empty() {
        parts.push(current);
    }
    Ok(parts)
}

async fn fetch_bodies(session: &mut ImapSession, uids: &[u32]) -> Result<Vec<Fetch>, ImapError> {
    let set = uid_set(uids);
    // PEEK: reading must not set \Seen; only a committed delivery does.
    command("UID FETCH BODY.PEEK[]", async {
        session
            .uid_fetch(&set, "(UID BODY.PEEK[])")
            .await?
            .try_collect()
            .await
    })
    .await
}

async fn mark_delivered(
    session: &mut ImapSession,
    caps: &Capabilities,
    mailbox: &ImapMailbox,
    uid: u32,
) -> Result<(), ImapError> {
    // \Seen first, also when moving: the copy in the destination then reads as handled, and
    // if the move fails the message is still not delivered twice.
    store(session, uid, "+FLAGS.SILENT (\\Seen)").await?;
    let Some(dest) = &mailbox.move_to else {
        return Ok(());
    };
    let uid_text = uid.to_string();
    if has_capability(caps, "MOVE") {
        return command("UID MOVE", session.uid_mv(&uid_text, dest))
            .await
            .map_err(|e| in_context(e, &format!("moving UID {uid} to {dest:?}")));
    }
    command("UID COPY", session.uid_copy(&uid_text, dest))
        .await
        .map_err(|e| in_context(e, &format!("copying UID {uid} to {dest:?}")))?;
    store(session, uid, "+FLAGS.SILENT (\\Deleted)").await?;
    if has_capability(caps, "UIDPLUS") {
        command("UID EXPUNGE", async {
            session
                .uid_expunge(&uid_text)
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
    } else {
        // Without UIDPLUS, EXPUNGE also removes messages another client marked \Deleted in
        // this folder; that is what such a client asked for anyway.
        command("EXPUNGE", async {
            session.expunge().await?.try_collect::<Vec<_>>().await
        })
        .await?;
    }
    Ok(())
}

async fn store(session: &mut ImapSession, uid: u32, flags: &str) -> Result<(), ImapError> {
    let uid_text = uid.to_string();
    // The stream must be drained: the command's completion is read through it.
    command("UID STORE", async {
        session
            .uid_store(&uid_text, flags)
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await?;
    Ok(())
}

async fn logout(session: &mut ImapSession) {
    // Best effort: the poll's work is done and marked; a lost LOGOUT changes nothing.
    let _ = tokio::time::timeout(LOGOUT_TIMEOUT, session.logout()).await;
}

/// Runs one IMAP command with the command timeout and names it in any error.
async fn command<T>(
    what: &str,
    fut: impl Future<Output = async_imap::error::Result<T>>,
) -> Result<T, ImapError> {
    match tokio::time::timeout(COMMAND_TIMEOUT, fut).await {
        Ok(result) => result.map_err(|e| imap_error(what, e)),
        Err(_) => Err(ImapError::Connect(format!(
            "{what}: no answer within {} s",
            COMMAND_TIMEOUT.as_secs()
        ))),
    }
}

fn imap_error(what: &str, error: async_imap::error::Error) -> ImapError {
    use async_imap::error::Error;
    match error {
        Error::Io(_) | Error::ConnectionLost => ImapError::Connect(format!("{what}: {error}")),
        other => ImapError::Protocol(format!("{what}: {other}")),
    }
}

fn in_context(error: ImapError, context: &str) -> ImapError {
    match error {
        ImapError::Connect(m) => ImapError::Connect(format!("{context}: {m}")),
        ImapError::Tls(m) => ImapError::Tls(format!("{context}: {m}")),
        ImapError::Login(m) => ImapError::Login(format!("{context}: {m}")),
        ImapError::Protocol(m) => ImapError::Protocol(format!("{context}: {m}")),
    }
}

/// Capability names are case-insensitive (RFC 3501 §7.2.1); the library compares exactly.
fn has_capability(caps: &Capabilities, name: &str) -> bool {
    caps.iter().any(|cap| match cap {
        Capability::Atom(atom) => atom.eq_ignore_ascii_case(name),
        _ => false,
    })
}

fn announced_new_mail(session: &ImapSession) -> bool {
    let mut new_mail = false;
    while let Ok(response) = session.unsolicited_responses.try_recv() {
        if matches!(
            response,
            UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
        ) {
            new_mail = true;
        }
    }
    new_mail
}

/// A compact UID set, `1:3,7,9:10`, for sorted, distinct UIDs.
fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

fn log_report(mailbox: &ImapMailbox, report: &PollReport) {
    if report.fetched > 0 || report.failed > 0 {
        tracing::info!(
            inbox = %mailbox.inbox,
            fetched = report.fetched,
            delivered = report.delivered,
            failed = report.failed,
            "IMAP poll"
        );
    }
}

fn stop_requested(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}

/// Resolves once shutdown is requested; a dropped sender counts, since nobody could ever
/// request it any more.
async fn shutdown_signal(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|&stop| stop).await;
}

/// Sleeps, or returns early with `true` when shutdown is requested.
async fn wait_or_shutdown(delay: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => stop_requested(shutdown),
        () = shutdown_signal(shutdown) => true,
    }
}

#[derive(Debug, Default)]
struct Backoff {
    last: Option<Duration>,
}

impl Backoff {
    fn next_delay(&mut self) -> Duration {
        let next = match self.last {
            None => BACKOFF_FIRST,
            Some(last) => (last * 2).min(BACKOFF_MAX),
        };
        self.last = Some(next);
        next
    }

    fn reset(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[]), "");
        assert_eq!(uid_set(&[7]), "7");
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(
            uid_set(&[u32::MAX - 1, u32::MAX]),
            format!("{}:{}", u32::MAX - 1, u32::MAX)
        );
    }

    #[test]
    fn tls_modes_parse_and_name_the_choices_on_error() {
        assert_eq!("STARTTLS".parse::<ImapTls>(), Ok(ImapTls::StartTls));
        assert_eq!(" tls ".parse::<ImapTls>(), Ok(ImapTls::Tls));
        assert_eq!("none".parse::<ImapTls>(), Ok(ImapTls::None));
        for mode in [ImapTls::None, ImapTls::StartTls, ImapTls::Tls] {
            assert_eq!(mode.as_str().parse::<ImapTls>(), Ok(mode));
        }
        let error = "tsl".parse::<ImapTls>().unwrap_err().to_string();
        assert!(
            error.contains("\"tsl\"") && error.contains("starttls"),
            "{error}"
        );
    }

    #[test]
    fn debug_never_shows_the_password() {
        let mailbox = ImapMailbox::new(
            "support",
            "imap.example.com",
            ImapTls::Tls,
            "help",
            "hunter2-secret",
        );
        let shown = format!("{mailbox:?}");
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(shown.contains("imap.example.com"));
        assert_eq!(mailbox.port, 993);
    }

    #[test]
    fn login_failures_scrub_an_echoed_password() {
        let text = login_failure(
            "help",
            "s3cret",
            async_imap::error::Error::No("LOGIN help s3cret rejected".to_owned()),
        );
        assert!(!text.contains("s3cret"), "{text}");
        let text = login_failure(
            "help",
            "a\nb",
            async_imap::error::Error::Validate(async_imap::error::ValidateError('\n')),
        );
        assert!(text.contains("line break"), "{text}");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::default();
        assert_eq!(backoff.next_delay(), BACKOFF_FIRST);
        assert_eq!(backoff.next_delay(), BACKOFF_FIRST * 2);
        for _ in 0..20 {
            backoff.next_delay();
        }
        assert_eq!(backoff.next_delay(), BACKOFF_MAX);
        backoff.reset();
        assert_eq!(backoff.next_delay(), BACKOFF_FIRST);
    }

    #[test]
    fn run_is_send_so_it_can_be_spawned() {
        fn assert_send<T: Send>(_: &T) {}
        struct Nothing;
        #[async_trait::async_trait]
        impl MailSink for Nothing {
            async fn accepts(&self, _: &str) -> Result<bool, DeliveryError> {
                Ok(false)
            }
            async fn deliver(&self, _: Delivery) -> Result<(), DeliveryError> {
                Ok(())
            }
        }
        let (_tx, rx) = watch::channel(false);
        let mailbox = ImapMailbox::new("support", "localhost", ImapTls::None, "u", "p");
        let future = run(mailbox, Arc::new(Nothing), rx);
        assert_send(&future);
    }
}
