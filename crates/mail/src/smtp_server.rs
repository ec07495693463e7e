//! The inbound ESMTP listener: a tokio session per connection around smtp-proto's sans-IO
//! command parser and its DATA receiver (dot-stuffing aware, and safe against SMTP smuggling:
//! only `CRLF . CRLF` ends a message).
//!
//! A message is answered `250` only after [`MailSink::deliver`] returned `Ok`, so a `250`
//! never promises more than the database holds.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smtp_proto::request::receiver::{DataReceiver, DummyDataReceiver};
use smtp_proto::{Error as ProtoError, Request};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use crate::{Delivery, DeliveryError, MailSink, Source};

/// Limits and identity of the listener.
#[derive(Clone)]
pub struct SmtpConfig {
    /// Announced in the greeting and the EHLO reply.
    pub hostname: String,
    /// Largest message accepted, after dot-unstuffing (announced as `SIZE`).
    pub max_message_bytes: usize,
    /// Recipients per message; more get `452 4.5.3`.
    pub max_recipients: usize,
    /// Longest command line, CRLF included. Data lines are bounded only by the message size.
    pub max_line_bytes: usize,
    /// Time to receive one complete command.
    pub command_timeout: Duration,
    /// Longest silence while receiving message data.
    pub data_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// Protocol errors (bad commands, bad sequence, long lines) before the session is closed.
    pub max_errors: usize,
    /// Enables STARTTLS.
    pub tls: Option<TlsAcceptor>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            hostname: "localhost".to_owned(),
            max_message_bytes: 25 * 1024 * 1024,
            max_recipients: 100,
            max_line_bytes: 4096,
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(300),
            max_connections: 256,
            max_connections_per_ip: 16,
            max_errors: 10,
            tls: None,
        }
    }
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("hostname", &self.hostname)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("max_recipients", &self.max_recipients)
            .field("max_line_bytes", &self.max_line_bytes)
            .field("command_timeout", &self.command_timeout)
            .field("data_timeout", &self.data_timeout)
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_ip", &self.max_connections_per_ip)
            .field("max_errors", &self.max_errors)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// Why a certificate and key could not be turned into a TLS acceptor.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{}: no PEM certificate found", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: no PEM private key found (PKCS#8, PKCS#1 or SEC1 expected)", path.display())]
    NoKey { path: PathBuf },
    #[error("certificate {} with key {} is not usable for TLS: {source}", cert.display(), key.display())]
    Config {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
}

/// Loads a PEM certificate chain and private key for STARTTLS.
pub fn load_tls(cert_pem: &Path, key_pem: &Path) -> Result<TlsAcceptor, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let cert_bytes = read(cert_pem)?;
    let key_bytes = read(key_pem)?;
    let certs = rustls_pemfile::certs(&mut cert_bytes.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Read {
            path: cert_pem.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_pem.to_owned(),
        });
    }
    let key = rustls_pemfile::private_key(&mut key_bytes.as_slice())
        .map_err(|source| TlsError::Read {
            path: key_pem.to_owned(),
            source,
        })?
        .ok_or_else(|| TlsError::NoKey {
            path: key_pem.to_owned(),
        })?;
    let config_error = |source| TlsError::Config {
        cert: cert_pem.to_owned(),
        key: key_pem.to_owned(),
        source,
    };
    // An explicit provider: the process-wide default panics when another crate in the
    // binary enables a second rustls backend.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(config_error)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(config_error)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts SMTP connections on `listener` until `shutdown` resolves, then stops accepting,
/// lets open sessions finish the message they are receiving (idle ones get `421`), and
/// returns once every session has ended.
pub async fn serve(
    listener: TcpListener,
    config: SmtpConfig,
    sink: Arc<dyn MailSink>,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let config = Arc::new(config);
    let limits = Arc::new(Limits::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut sessions = JoinSet::new();
    tokio::pin!(shutdown);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "SMTP listener accepting connections");
    }

    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(joined) = sessions.join_next(), if !sessions.is_empty() => {
                if let Err(error) = joined
                    && error.is_panic()
                {
                    tracing::error!(%error, "SMTP session panicked");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    match limits.acquire(peer.ip(), &config) {
                        Ok(slot) => {
                            let session = Session::new(
                                peer,
                                config.clone(),
                                sink.clone(),
                                stop_rx.clone(),
                            );
                            sessions.spawn(session.run(stream, slot));
                        }
                        Err(reason) => {
                            tracing::warn!(%peer, reason, "SMTP connection refused");
                            sessions.spawn(refuse(stream));
                        }
                    }
                }
                Err(error) => {
                    // Usually a connection reset before it was accepted, or out of file
                    // descriptors; neither should end the listener. The pause keeps the
                    // latter from spinning.
                    tracing::warn!(%error, "SMTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }

    drop(listener);
    tracing::info!(
        open_sessions = sessions.len(),
        "SMTP listener stopped accepting; waiting for open sessions"
    );
    // Unlike `send`, this stores the value even when no session is listening.
    stop_tx.send_replace(true);
    while let Some(joined) = sessions.join_next().await {
        if let Err(error) = joined
            && error.is_panic()
        {
            tracing::error!(%error, "SMTP session panicked");
        }
    }
    Ok(())
}

async fn refuse(mut stream: TcpStream) {
    let _ = timeout(
        Duration::from_secs(1),
        stream.write_all(b"421 4.7.0 too many connections, try again later\r\n"),
    )
    .await;
}

#[derive(Default)]
struct Limits {
    inner: Mutex<LimitCounts>,
}

#[derive(Default)]
struct LimitCounts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// One counted connection; the counts drop when the session ends.
struct Slot {
    limits: Arc<Limits>,
    ip: IpAddr,
}

impl Limits {
    fn acquire(self: &Arc<Self>, ip: IpAddr, config: &SmtpConfig) -> Result<Slot, &'static str> {
        // A dual-stack socket shows IPv4 clients as ::ffff:a.b.c.d; count them as IPv4.
        let ip = ip.to_canonical();
        let mut counts = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if counts.total >= config.max_connections {
            return Err("too many connections");
        }
        let from_ip = counts.per_ip.entry(ip).or_insert(0);
        if *from_ip >= config.max_connections_per_ip {
            return Err("too many connections from this address");
        }
        *from_ip += 1;
        counts.total += 1;
        Ok(Slot {
            limits: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self
            .limits
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(from_ip) = counts.per_ip.get_mut(&self.ip) {
            *from_ip -= 1;
            if *from_ip == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
    }
}

/// Big enough that a read usually takes everything the kernel holds.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// A buffered connection: commands are parsed straight out of `buf[start..end]`, and replies
/// collect in `out` until the session would wait for input, which is what lets pipelined
/// commands be answered in one write.
struct Conn<S> {
    stream: S,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    out: Vec<u8>,
    /// Inside an over-long command line: skip to its end before reading the next command.
    skipping_line: bool,
}

enum Read {
    /// A complete command line of this many bytes (LF included) at the front of the buffer.
    Line(usize),
    TooLong,
    Closed,
    TimedOut,
    Shutdown,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    fn new(stream: S, max_line_bytes: usize) -> Self {
        Self {
            stream,
            buf: vec![0; READ_BUFFER_BYTES.max(max_line_bytes + 1)],
            start: 0,
            end: 0,
            out: Vec::with_capacity(512),
            skipping_line: false,
        }
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    fn reply(&mut self, line: &str) {
        self.out.extend_from_slice(line.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    async fn flush(&mut self, limit: Duration) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let write = async {
            self.stream.write_all(&self.out).await?;
            self.stream.flush().await
        };
        // A client that never reads would otherwise hold the session forever.
        timeout(limit, write)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "write timed out"))??;
        self.out.clear();
        Ok(())
    }

    /// Reads more bytes into the buffer; `Ok(0)` at end of stream.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    async fn read_line(
        &mut self,
        max_line_bytes: usize,
        deadline: Instant,
        write_limit: Duration,
        stop: &mut watch::Receiver<bool>,
    ) -> io::Result<Read> {
        loop {
            let newline = self.buffered().iter().position(|&b| b == b'\n');
            if self.skipping_line {
                match newline {
                    Some(pos) => {
                        self.consume(pos + 1);
                        self.skipping_line = false;
                        continue;
                    }
                    None => self.consume(self.end - self.start),
                }
            } else if let Some(pos) = newline {
                if pos + 1 > max_line_bytes {
                    self.consume(pos + 1);
                    return Ok(Read::TooLong);
                }
                return Ok(Read::Line(pos + 1));
            } else if self.end - self.start >= max_line_bytes {
                // Answer now rather than buffer the rest of the line.
                self.consume(self.end - self.start);
                self.skipping_line = true;
                return Ok(Read::TooLong);
            }

            self.flush(write_limit).await?;
            tokio::select! {
                read = timeout_at(deadline, self.fill()) => match read {
                    Err(_) => return Ok(Read::TimedOut),
                    Ok(Err(error)) => return Err(error),
                    Ok(Ok(0)) => return Ok(Read::Closed),
                    Ok(Ok(_)) => {}
                },
                _ = stop.wait_for(|&stopping| stopping) => return Ok(Read::Shutdown),
            }
        }
    }
}

enum Next {
    Close,
    StartTls,
}

/// What is known about one client; survives STARTTLS except for what must be forgotten.
struct Session {
    peer: SocketAddr,
    config: Arc<SmtpConfig>,
    sink: Arc<dyn MailSink>,
    stop: watch::Receiver<bool>,
    tls_active: bool,
    helo: Option<String>,
    mail_from: Option<String>,
    /// The `SIZE=` the client announced, 0 if none.
    declared_size: usize,
    recipients: Vec<String>,
    errors: usize,
}

impl Session {
    fn new(
        peer: SocketAddr,
        config: Arc<SmtpConfig>,
        sink: Arc<dyn MailSink>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            peer,
            config,
            sink,
            stop,
            tls_active: false,
            helo: None,
            mail_from: None,
            declared_size: 0,
            recipients: Vec::new(),
            errors: 0,
        }
    }

    async fn run(mut self, stream: TcpStream, _slot: Slot) {
        let peer = self.peer;
        tracing::debug!(%peer, "SMTP connection opened");
        let _ = stream.set_nodelay(true);
        let mut conn = Conn::new(stream, self.config.max_line_bytes);
        conn.reply(&format!("220 {} ESMTP Rapport", self.config.hostname));
        let next = self.converse(&mut conn).await;
        match next {
            Ok(Next::StartTls) => self.start_tls(conn).await,
            Ok(Next::Close) => {}
            Err(error) => tracing::debug!(%peer, %error, "SMTP connection failed"),
        }
        tracing::debug!(%peer, "SMTP connection closed");
    }

    async fn start_tls(&mut self, conn: Conn<TcpStream>) {
        let peer = self.peer;
        let Some(acceptor) = self.config.tls.clone() else {
            return;
        };
        let handshake = timeout(self.config.command_timeout, acceptor.accept(conn.stream)).await;
        let stream = match handshake {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                tracing::info!(%peer, %error, "SMTP TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::info!(%peer, "SMTP TLS handshake timed out");
                return;
            }
        };
        tracing::debug!(%peer, "SMTP connection now TLS");
        self.tls_active = true;
        // RFC 3207: everything learnt before the handshake is forgotten.
        self.helo = None;
        self.reset_transaction();
        let mut conn = Conn::new(stream, self.config.max_line_bytes);
        if let Err(error) = self.converse(&mut conn).await {
            tracing::debug!(%peer, %error, "SMTP connection failed");
        }
    }

    fn reset_transaction(&mut self) {
        self.mail_from = None;
        self.declared_size = 0;
        self.recipients.clear();
    }

    /// Answers with a protocol error; `true` when the client has used up its errors and the
    /// session must end.
    fn protocol_error<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
        reply: &str,
    ) -> bool {
        conn.reply(reply);
        self.errors += 1;
        if self.errors >= self.config.max_errors {
            tracing::info!(peer = %self.peer, errors = self.errors, "SMTP client made too many errors");
            conn.reply("421 4.7.0 too many errors, closing connection");
            return true;
        }
        false
    }

    async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
    ) -> io::Result<Next> {
        let config = self.config.clone();
        let write_limit = config.command_timeout;
        loop {
            if *self.stop.borrow() {
                conn.reply("421 4.3.2 shutting down, try again later");
                conn.flush(write_limit).await?;
                return Ok(Next::Close);
            }
            let deadline = Instant::now() + config.command_timeout;
            let read = conn
                .read_line(config.max_line_bytes, deadline, write_limit, &mut self.stop)
                .await?;
            let len = match read {
                Read::Line(len) => len,
                Read::TooLong => {
                    if self.protocol_error(conn, "500 5.5.6 line too long") {
                        conn.flush(write_limit).await?;
                        return Ok(Next::Close);
                    }
                    continue;
                }
                Read::Closed => return Ok(Next::Close),
                Read::TimedOut => {
                    tracing::info!(peer = %self.peer, "SMTP client timed out");
                    conn.reply("421 4.4.2 timeout, closing connection");
                    conn.flush(write_limit).await?;
                    return Ok(Next::Close);
                }
                Read::Shutdown => {
                    conn.reply("421 4.3.2 shutting down, try again later");
                    conn.flush(write_limit).await?;
                    return Ok(Next::Close);
                }
            };
            let parsed =
                Request::parse(&mut conn.buffered()[..len].iter()).map(Request::into_owned);
            conn.consume(len);
            let request = match parsed {
                Ok(request) => request,
                Err(error) => {
                    if self.protocol_error(conn, &parse_error_reply(&error)) {
                        conn.flush(write_limit).await?;
                        return Ok(Next::Close);
                    }
                    continue;
                }
            };
            match self.command(conn, request).await? {
                Some(next) => {
                    conn.flush(write_limit).await?;
                    return Ok(next);
                }
                None => continue,
            }
        }
    }

    /// Handles one parsed command; `Some` ends this conversation.
    async fn command<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
        request: Request<String>,
    ) -> io::Result<Option<Next>> {
        let config = self.config.clone();
        match request {
            Request::Ehlo { host } => {
                self.reset_transaction();
                self.helo = Some(host);
                let mut lines = vec![
                    format!("{} Hello {}", config.hostname, self.peer.ip()),
                    format!("SIZE {}", config.max_message_bytes),
                    "8BITMIME".to_owned(),
                    "PIPELINING".to_owned(),
                    "ENHANCEDSTATUSCODES".to_owned(),
                    "SMTPUTF8".to_owned(),
                ];
                if config.tls.is_some() && !self.tls_active {
                    lines.push("STARTTLS".to_owned());
                }
                let last = lines.len() - 1;
                for (i, line) in lines.iter().enumerate() {
                    let sep = if i == last { ' ' } else { '-' };
                    conn.reply(&format!("250{sep}{line}"));
                }
            }
            Request::Helo { host } => {
                self.reset_transaction();
                self.helo = Some(host);
                conn.reply(&format!("250 {}", config.hostname));
            }
            Request::Mail { from } => {
                if self.helo.is_none() {
                    return Ok(self.sequence_error(conn, "503 5.5.1 send EHLO or HELO first"));
                }
                if self.mail_from.is_some() {
                    return Ok(self.sequence_error(conn, "503 5.5.1 sender already given"));
                }
                if from.size > config.max_message_bytes {
                    conn.reply(&format!(
                        "552 5.3.4 message size exceeds the limit of {} bytes",
                        config.max_message_bytes
                    ));
                    return Ok(None);
                }
                self.mail_from = Some(from.address);
                self.declared_size = from.size;
                conn.reply("250 2.1.0 Ok");
            }
            Request::Rcpt { to } => {
                if self.mail_from.is_none() {
                    return Ok(self.sequence_error(conn, "503 5.5.1 send MAIL first"));
                }
                self.recipient(conn, to.address).await;
            }
            Request::Data => {
                if self.mail_from.is_none() || self.recipients.is_empty() {
                    return Ok(self.sequence_error(conn, "503 5.5.1 no valid recipients"));
                }
                conn.reply("354 End data with <CR><LF>.<CR><LF>");
                if !self.data(conn).await? {
                    return Ok(Some(Next::Close));
                }
            }
            Request::Rset => {
                self.reset_transaction();
                conn.reply("250 2.0.0 Ok");
            }
            Request::Noop { .. } => conn.reply("250 2.0.0 Ok"),
            Request::Vrfy { .. } => {
                conn.reply("252 2.5.0 cannot verify the user, but will accept the message")
            }
            Request::Help { .. } => {
                conn.reply("214 2.0.0 commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY")
            }
            Request::Quit => {
                conn.reply("221 2.0.0 Bye");
                return Ok(Some(Next::Close));
            }
            Request::StartTls => {
                if config.tls.is_none() || self.tls_active {
                    return Ok(self.sequence_error(conn, "502 5.5.1 STARTTLS not available"));
                }
                conn.reply("220 2.0.0 Ready to start TLS");
                // Anything the client pipelined after STARTTLS was sent in plain text and
                // must not be taken as coming over TLS (CVE-2011-0411).
                let pending = conn.end - conn.start;
                conn.consume(pending);
                return Ok(Some(Next::StartTls));
            }
            Request::Lhlo { .. }
            | Request::Bdat { .. }
            | Request::Auth { .. }
            | Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => {
                return Ok(self.sequence_error(conn, "502 5.5.1 command not implemented"));
            }
        }
        Ok(None)
    }

    fn sequence_error<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
        reply: &str,
    ) -> Option<Next> {
        self.protocol_error(conn, reply).then_some(Next::Close)
    }

    async fn recipient<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
        address: String,
    ) {
        let shown = printable(&address);
        if address.is_empty() {
            conn.reply("501 5.1.3 a recipient address is required");
            return;
        }
        if self.recipients.len() >= self.config.max_recipients {
            conn.reply("452 4.5.3 too many recipients");
            return;
        }
        if self
            .recipients
            .iter()
            .any(|known| known.eq_ignore_ascii_case(&address))
        {
            conn.reply("250 2.1.5 Ok");
            return;
        }
        match self.sink.accepts(&address).await {
            Ok(true) => {
                self.recipients.push(address);
                conn.reply("250 2.1.5 Ok");
            }
            Ok(false) => conn.reply(&format!("550 5.1.1 <{shown}>: no such mailbox here")),
            Err(DeliveryError::Temporary(error)) => {
                tracing::warn!(peer = %self.peer, %error, "SMTP recipient check failed");
                conn.reply(&format!(
                    "451 4.3.0 <{shown}>: temporary failure, try again later"
                ));
            }
            Err(DeliveryError::Permanent(error)) => {
                tracing::info!(peer = %self.peer, %error, "SMTP recipient refused");
                conn.reply(&format!("550 5.7.1 <{shown}>: recipient refused"));
            }
        }
    }

    /// Receives one message after `354` and answers it; `false` when the connection is gone.
    async fn data<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
    ) -> io::Result<bool> {
        let config = self.config.clone();
        let mut receiver = DataReceiver::new();
        // Sized for the announced message, but not so far that announcing alone ties up
        // memory.
        let capacity = match self.declared_size {
            0 => 64 * 1024,
            declared => declared.min(config.max_message_bytes).min(4 * 1024 * 1024),
        };
        let mut message = Vec::with_capacity(capacity + 2);
        // The receiver only recognises a dot at the start of a line after it has seen a CRLF;
        // the one that ended the DATA command counts, so that an empty message (".") and a
        // stuffed first line ("..") are read right. Removed again below.
        receiver.ingest(&mut b"\r\n".iter(), &mut message);
        let mut discard: Option<DummyDataReceiver> = None;
        loop {
            let chunk = conn.buffered();
            if !chunk.is_empty() {
                let mut bytes = chunk.iter();
                let done = match &mut discard {
                    Some(dummy) => dummy.ingest(&mut bytes),
                    None => receiver.ingest(&mut bytes, &mut message),
                };
                let used = chunk.len() - bytes.as_slice().len();
                conn.consume(used);
                if discard.is_none() && message.len().saturating_sub(2) > config.max_message_bytes {
                    discard = Some(DummyDataReceiver::new_data(&receiver));
                    message = Vec::new();
                }
                if done {
                    break;
                }
                continue;
            }
            conn.flush(config.command_timeout).await?;
            match timeout(config.data_timeout, conn.fill()).await {
                Ok(Ok(0)) => {
                    tracing::info!(peer = %self.peer, "SMTP client closed the connection inside DATA");
                    return Ok(false);
                }
                Ok(Ok(_)) => {}
                Ok(Err(error)) => return Err(error),
                Err(_) => {
                    tracing::info!(peer = %self.peer, "SMTP client timed out inside DATA");
                    conn.reply("421 4.4.2 timeout, closing connection");
                    conn.flush(config.command_timeout).await?;
                    return Ok(false);
                }
            }
        }

        let from = self.mail_from.take();
        let recipients = std::mem::take(&mut self.recipients);
        self.declared_size = 0;
        if discard.is_some() {
            tracing::info!(peer = %self.peer, "SMTP message over the size limit refused");
            conn.reply(&format!(
                "552 5.3.4 message size exceeds the limit of {} bytes",
                config.max_message_bytes
            ));
            return Ok(true);
        }
        message.drain(..2);
        let size = message.len();
        let count = recipients.len();
        let delivery = Delivery {
            source: Source::Smtp,
            envelope_from: from,
            recipients,
            inbox: None,
            raw: message,
        };
        // Not raced against the socket or shutdown: once the data is in, the sink runs to
        // completion, so a client that gives up still gets at most one stored copy.
        match self.sink.deliver(delivery).await {
            Ok(()) => {
                // One line per message at debug level, like the HTTP request log.
                tracing::debug!(
                    peer = %self.peer,
                    helo = self.helo.as_deref(),
                    size,
                    recipients = count,
                    "SMTP message accepted"
                );
                conn.reply("250 2.0.0 Ok: queued");
            }
            Err(DeliveryError::Temporary(error)) => {
                tracing::warn!(peer = %self.peer, %error, "SMTP message not stored");
                conn.reply("451 4.3.0 temporary failure, try again later");
            }
            Err(DeliveryError::Permanent(error)) => {
                tracing::info!(peer = %self.peer, %error, "SMTP message refused");
                conn.reply("554 5.6.0 message refused");
            }
        }
        Ok(true)
    }
}

fn parse_error_reply(error: &ProtoError) -> String {
    match error {
        ProtoError::UnknownCommand => "500 5.5.2 command not recognized".to_owned(),
        ProtoError::SyntaxError { syntax } => format!("501 5.5.4 syntax: {syntax}"),
        ProtoError::InvalidSenderAddress => "501 5.1.7 bad sender address syntax".to_owned(),
        ProtoError::InvalidRecipientAddress => "501 5.1.3 bad recipient address syntax".to_owned(),
        ProtoError::InvalidParameter { param } => format!("501 5.5.4 invalid {param} parameter"),
        ProtoError::UnsupportedParameter { param } => {
            format!("555 5.5.4 unsupported parameter {}", printable(param))
        }
        ProtoError::NeedsMoreData { .. }
        | ProtoError::ResponseTooLong
        | ProtoError::InvalidResponse { .. } => "501 5.5.2 syntax error".to_owned(),
    }
}

/// Client text made safe to echo in a reply: no control characters, bounded length.
fn printable(text: &str) -> String {
    text.chars()
        .take(256)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}
