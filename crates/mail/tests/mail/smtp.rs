//! The SMTP listener over real TCP (and TLS), and the relay client against it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rapport_mail::sender::{Relay, RelayTls, SendError, Sender};
use rapport_mail::smtp_server::{SmtpConfig, TlsError, load_tls, serve};
use rapport_mail::{Delivery, DeliveryError, MailSink, Source};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_rustls::rustls;

/// Generous: only a broken server should ever reach it.
const PATIENCE: Duration = Duration::from_secs(10);

/// Accepts `support@example.test` and its plus-addresses; records every delivery.
#[derive(Default)]
struct Recorder {
    deliveries: Mutex<Vec<Delivery>>,
    /// Every delivery fails with this.
    fail_with: Mutex<Option<DeliveryError>>,
    /// Each delivery takes this long.
    delay: Duration,
}

impl Recorder {
    fn slow(delay: Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.deliveries.lock().unwrap().len()
    }
}

#[async_trait::async_trait]
impl MailSink for Recorder {
    async fn accepts(&self, address: &str) -> Result<bool, DeliveryError> {
        let address = address.to_ascii_lowercase();
        if address == "flaky@example.test" {
            return Err(DeliveryError::Temporary("database unavailable".into()));
        }
        Ok(address == "support@example.test"
            || (address.starts_with("support+") && address.ends_with("@example.test")))
    }

    async fn deliver(&self, delivery: Delivery) -> Result<(), DeliveryError> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if let Some(error) = self.fail_with.lock().unwrap().clone() {
            return Err(error);
        }
        self.deliveries.lock().unwrap().push(delivery);
        Ok(())
    }
}

struct Server {
    addr: SocketAddr,
    sink: Arc<Recorder>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(config: SmtpConfig, sink: Recorder) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sink = Arc::new(sink);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, config, sink.clone(), async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            sink,
            stop: Some(stop),
            task,
        }
    }

    async fn default() -> Self {
        Self::start(test_config(), Recorder::default()).await
    }

    async fn connect(&self) -> Client<TcpStream> {
        let mut client = self.connect_raw().await;
        let greeting = client.reply().await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        client
    }

    async fn connect_raw(&self) -> Client<TcpStream> {
        Client::new(TcpStream::connect(self.addr).await.unwrap())
    }

    async fn shut_down(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        timeout(PATIENCE, &mut self.task)
            .await
            .expect("serve returns after shutdown")
            .unwrap()
            .unwrap();
    }
}

fn test_config() -> SmtpConfig {
    SmtpConfig {
        hostname: "mx.example.test".into(),
        ..SmtpConfig::default()
    }
}

struct Client<S> {
    stream: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    fn new(stream: S) -> Self {
        Self {
            stream: BufReader::new(stream),
        }
    }

    async fn send(&mut self, text: &str) {
        self.send_bytes(text.as_bytes()).await;
    }

    async fn send_bytes(&mut self, bytes: &[u8]) {
        let stream = self.stream.get_mut();
        stream.write_all(bytes).await.unwrap();
        stream.flush().await.unwrap();
    }

    /// One reply, all its lines (CRLF kept), or "" at end of stream.
    async fn reply(&mut self) -> String {
        let mut reply = String::new();
        loop {
            let mut line = String::new();
            let n = timeout(PATIENCE, self.stream.read_line(&mut line))
                .await
                .expect("server answers in time")
                .unwrap();
            reply.push_str(&line);
            if n == 0 || line.as_bytes().get(3) != Some(&b'-') {
                return reply;
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r\n")).await;
        self.reply().await
    }

    /// Reads until the server closes, returning what it said.
    async fn rest(&mut self) -> String {
        let mut rest = Vec::new();
        timeout(PATIENCE, self.stream.read_to_end(&mut rest))
            .await
            .expect("server closes the connection")
            .unwrap();
        String::from_utf8_lossy(&rest).into_owned()
    }

    /// EHLO, MAIL, RCPT (each must be accepted) and DATA, ready for the message.
    async fn begin(&mut self, from: &str, to: &[&str]) {
        expect(&self.cmd("EHLO client.test").await, "250");
        expect(&self.cmd(&format!("MAIL FROM:<{from}>")).await, "250");
        for rcpt in to {
            expect(&self.cmd(&format!("RCPT TO:<{rcpt}>")).await, "250");
        }
        expect(&self.cmd("DATA").await, "354");
    }
}

#[track_caller]
fn expect(reply: &str, prefix: &str) {
    assert!(
        reply.starts_with(prefix),
        "expected a reply starting {prefix:?}, got {reply:?}"
    );
}

async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn smtp_message_arrives_byte_exact() {
    let server = Server::default().await;
    let mut c = server.connect().await;
    let ehlo = c.cmd("EHLO client.test").await;
    for capability in [
        "SIZE 26214400",
        "8BITMIME",
        "PIPELINING",
        "ENHANCEDSTATUSCODES",
    ] {
        assert!(ehlo.contains(capability), "{capability} missing: {ehlo}");
    }
    assert!(!ehlo.contains("STARTTLS"), "no TLS configured: {ehlo}");
    expect(
        &c.cmd("MAIL FROM:<Alice@Customer.test> BODY=8BITMIME").await,
        "250 2.1.0",
    );
    expect(&c.cmd("RCPT TO:<support@example.test>").await, "250 2.1.5");
    expect(
        &c.cmd("RCPT TO:<support+r42.abc@example.test>").await,
        "250 2.1.5",
    );
    expect(&c.cmd("DATA").await, "354");
    c.send(concat!(
        "..first line had a dot\r\n",
        "Subject: Grüße\r\n",
        "\r\n",
        "a bare\nLF and a bare\rCR stay\r\n",
        "...two dots\r\n",
        ". \r\n",
        "\r\n",
        ".\r\n",
    ))
    .await;
    expect(&c.reply().await, "250 2.0.0 Ok: queued");
    expect(&c.cmd("QUIT").await, "221");

    let got = server.sink.deliveries();
    assert_eq!(got.len(), 1);
    let d = &got[0];
    assert_eq!(d.source, Source::Smtp);
    assert_eq!(d.envelope_from.as_deref(), Some("Alice@Customer.test"));
    assert_eq!(
        d.recipients,
        ["support@example.test", "support+r42.abc@example.test"]
    );
    assert_eq!(d.inbox, None);
    assert_eq!(
        String::from_utf8(d.raw.clone()).unwrap(),
        concat!(
            ".first line had a dot\r\n",
            "Subject: Grüße\r\n",
            "\r\n",
            "a bare\nLF and a bare\rCR stay\r\n",
            "..two dots\r\n",
            " \r\n",
            "\r\n",
        )
    );
    server.shut_down().await;
}

#[tokio::test]
async fn smtp_null_sender_empty_message_and_helo() {
    let server = Server::default().await;
    let mut c = server.connect().await;
    expect(&c.cmd("HELO client.test").await, "250 mx.example.test");
    expect(&c.cmd("MAIL FROM:<>").await, "250");
    expect(&c.cmd("RCPT TO:<SUPPORT@example.test>").await, "250");
    expect(&c.cmd("DATA").await, "354");
    expect(&c.cmd(".").await, "250");
    let got = server.sink.deliveries();
    assert_eq!(got[0].envelope_from.as_deref(), Some(""));
    assert_eq!(got[0].raw, b"");
    server.shut_down().await;
}

#[tokio::test]
async fn smtp_pipelined_transactions_answered_in_order() {
    let server = Server::default().await;
    let mut c = server.connect().await;
    expect(&c.cmd("EHLO client.test").await, "250");
    // Two whole transactions in one write, bodies included.
    c.send(concat!(
        "MAIL FROM:<a@customer.test>\r\n",
        "RCPT TO:<support@example.test>\r\n",
        "RCPT TO:<nobody@example.test>\r\n",
        "DATA\r\n",
        "Subject: one\r\n\r\nfirst\r\n.\r\n",
        "RSET\r\n",
        "MAIL FROM:<b@customer.test>\r\n",
        "RCPT TO:<support+x@example.test>\r\n",
        "DATA\r\n",
        "Subject: two\r\n\r\nsecond\r\n.\r\n",
        "NOOP\r\n",
        "QUIT\r\n",
    ))
    .await;
    let mut codes = Vec::new();
    loop {
        let reply = c.reply().await;
        if reply.is_empty() {
            break;
        }
        codes.push(reply[..3].to_owned());
    }
    assert_eq!(
        codes,
        [
            "250", "250", "550", "354", "250", "250", "250", "250", "354", "250", "250", "221"
        ]
    );
    let got = server.sink.deliveries();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].raw, b"Subject: one\r\n\r\nfirst\r\n");
    assert_eq!(got[0].recipients, ["support@example.test"]);
    assert_eq!(got[1].raw, b"Subject: two\r\n\r\nsecond\r\n");
    assert_eq!(got[1].envelope_from.as_deref(), Some("b@customer.test"));
    server.shut_down().await;
}

#[tokio::test]
async fn smtp_unknown_recipient_is_refused_and_nothing_stored() {
    let server = Server::default().await;
    let mut c = server.connect().await;
    expect(&c.cmd("EHLO client.test").await, "250");
    expect(&c.cmd("MAIL FROM:<a@customer.test>").await, "250");
    let refused = c.cmd("RCPT TO:<nobody@example.test>").await;
    expect(
        &refused,
        "550 5.1.1 <nobody@example.test>: no such mailbox here",
    );
    expect(&c.cmd("DATA").await, "503");
    expect(&c.cmd("RCPT TO:<flaky@example.test>").await, "451 4.3.0");
    expect(&c.cmd("RCPT TO:<>").await, "501");
    expect(&c.cmd("DATA").await, "503");
    expect(&c.cmd("QUIT").await, "221");
    assert_eq!(server.sink.count(), 0);
    server.shut_down().await;
}

#[tokio::test]
async fn smtp_size_limits() {
    let config = SmtpConfig {
        max_message_bytes: 1000,
        ..test_config()
    };
    let server = Server::start(config, Recorder::default()).await;
    let mut c = server.connect().await;
    expect(&c.cmd("EHLO client.test").await, "250");
    // Declared size over the limit: refused before any data is sent.
    expect(
        &c.cmd("MAIL FROM:<a@customer.test> SIZE=1001").await,
        "552 5.3.4",
    );
    expect(&c.cmd("MAIL FROM:<a@customer.test> SIZE=1000").await, "250");
    expect(&c.cmd("RCPT TO:<support@example.test>").await, "250");
    expect(&c.cmd("DATA").await, "354");
    // Actual data over the limit: read to the end, refused, nothing kept.
    let big = format!(
        "Subject: big\r\n\r\n{}\r\n.\r\n",
        "x".repeat(70).repeat(3000)
    );
    c.send(&big).await;
    expect(&c.reply().await, "552 5.3.4");
    assert_eq!(server.sink.count(), 0);

    // The connection is still good for the next message.
    expect(&c.cmd("MAIL FROM:<a@customer.test>").await, "250");
    expect(&c.cmd("RCPT TO:<support@example.test>").await, "250");
    expect(&c.cmd("DATA").await, "354");
    let exact = format!("{}\r\n", "y".repeat(998));
    c.send(&format!("{exact}.\r\n")).await;
    expect(&c.reply().await, "250");
    assert_eq!(server.sink.deliveries()[0].raw, exact.as_bytes());
    server.shut_down().await;
}

#[tokio::test]
async fn smtp_malformed_commands_and_sequence_errors() {
    let server = Server::default().await;
    let mut c = server.connect().await;
    expect(&c.cmd("MAIL FROM:<a@customer.test>").await, "503 5.5.1");
    expect(&c.cmd("FROBNICATE").await, "500 5.5.2");
    expect(&c.cmd("EHLO").await, "501");
    expect(&c.cmd("EHLO client.test").await, "250");
    expect(&c.cmd("MAIL FROM:a@customer.test").await, "501");
    expect(&c.cmd("MAIL FROM:<a..b@customer.test>").await, "501 5.1.7");
    expect(
        &c.cmd("MAIL FROM:<a@customer.test> FROB=1").await,
        "555 5.5.4",
    );
    expect(&c.cmd("RCPT TO:<support@example.test>").await, "503");
    expect(&c.cmd("VRFY support").await, "252");
    expect(&c.cmd("HELP").await, "214");
    expect(&c.cmd("NOOP").await, "250");
    expect(&c.cmd("STARTTLS").await, "502");
    expect(&c.cmd("RSET").await, "250");
    // Non-UTF-8 and control bytes are just another bad command.
    c.send_bytes(b"\xff\xfe\x00\x01\r\n").await;
    expect(&c.reply().await, "500");
    expect(&c.cmd("QUIT").await, "221 2.0.0");
    assert_eq!(c.rest().await, "");
    server.shut_down().await;
}

#[tokio::test]
async fn smtp_too_many_errors_closes_the_connection() {
    let config = SmtpConfig {
        max_errors: 3,
        ..test_config()
    };
    let server = Server::start(config, Recorder::default()).await;
    let mut c = server.connect().await;
    expect(&c.cmd("BOGUS 1").await, "500");
    expect(&c.cmd("BOGUS 2").await, "500");
    c.send("BOGUS 3\r\n").await;
    let rest = c.rest().await;
    assert!(rest.starts_with("500 "), "{rest}");
    assert!(rest.contains("\r\n421 4.7.0"), "{rest}");
    server.shut_down().await;
}

#[tokio::test]
async fn smtp_too_many_recipients() {
    let config = SmtpConfig {
        max_recipients: 2,
        ..test_config()
    };
    let server = Server::start(config, Recorder::default()).await;
    let mut c = server.connect().await;
    expect(&c.cmd("EHLO client.test").await, "250");
    expect(&c.cmd("MAIL FROM:<a@customer.test>").await, "250");
    expect(&c.cmd("RCPT TO:<support+1@example.test>").await, "250");
    expect(&c.cmd("RCPT TO:<support+2@example.test>").await, "250");
    expect(
        &c.cmd("RCPT TO:<support+3@example.test>").await,
        "452 4.5.3",
    );
    expect(&c.cmd("DATA").await, "354");
    expect(&c.cmd("Subject: hi\r\n\r\nbody\r\n.").await, "250");
    assert_eq!(
        server.sink.deliveries()[0].recipients,
        ["support+1@example.test", "support+2@example.test"]
    );
    server.shut_down().await;
}

#[tokio::test]
async fn smtp_line_too_long() {
    let config = SmtpConfig {
        max_line_bytes: 100,
        ..test_config()
    };
    let server = Server::start(config, Recorder::default()).await;
    let mut c = server.connect().await;
    expect(
        &c.cmd(&format!("NOOP {}", "x".repeat(200))).await,
        "500 5.5.6",
    );
    // A long line arriving in pieces is answered once the limit is passed, and its tail
    // is skipped rather than read as commands.
    c.send(&format!("NOOP {}", "y".repeat(150))).await;
    expect(&c.reply().await, "500 5.5.6");
    c.send(&format!("{}\r\n", "z".repeat(5000))).await;
    expect(&c.cmd("NOOP").await, "250");
    // Data lines may be longer than command lines.
    c.begin("a@customer.test", &["support@example.test"]).await;
    let long_line = format!("{}\r\n", "d".repeat(2000));
    c.send(&format!("{long_line}.\r\n")).await;
    expect(&c.reply().await, "250");
    assert_eq!(server.sink.deliveries()[0].raw, long_line.as_bytes());
    server.shut_down().await;
}

#[tokio::test]
async fn smtp_idle_client_times_out() {
    let config = SmtpConfig {
        command_timeout: Duration::from_millis(300),
        data_timeout: Duration::from_millis(300),
        ..test_config()
    };
    let server = Server::start(config, Recorder::default()).await;
    let mut c = server.connect().await;
    expect(&c.rest().await, "421 4.4.2");

    // Silence inside DATA too; the partial message is dropped.
    let mut c = server.connect().await;
    c.begin("a@customer.test", &["support@example.test"]).await;
    c.send("Subject: half\r\n").await;
    expect(&c.rest().await, "421 4.4.2");
    assert_eq!(server.sink.count(), 0);
    server.shut_down().await;
}

#[tokio::test]
async fn smtp_connection_limit_per_ip() {
    let config = SmtpConfig {
        max_connections_per_ip: 2,
        ..test_config()
    };
    let server = Server::start(config, Recorder::default()).await;
    let first = server.connect().await;
    let _second = server.connect().await;
    let mut third = server.connect_raw().await;
    expect(&third.rest().await, "421 4.7.0 too many connections");

    drop(first);
    // The slot frees once the server has seen the close.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut again = server.connect_raw().await;
        let reply = again.reply().await;
        if reply.starts_with("220 ") {
            break;
        }
        expect(&reply, "421");
        assert!(tokio::time::Instant::now() < deadline, "slot never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.shut_down().await;
}

#[tokio::test]
async fn smtp_total_connection_limit() {
    let config = SmtpConfig {
        max_connections: 1,
        ..test_config()
    };
    let server = Server::start(config, Recorder::default()).await;
    let _first = server.connect().await;
    let mut second = server.connect_raw().await;
    expect(&second.rest().await, "421 4.7.0");
    server.shut_down().await;
}

#[tokio::test]
async fn smtp_sink_failures_are_reported_and_nothing_stored() {
    let sink = Recorder::default();
    *sink.fail_with.lock().unwrap() = Some(DeliveryError::Temporary("disk full".into()));
    let server = Server::start(test_config(), sink).await;
    let mut c = server.connect().await;
    c.begin("a@customer.test", &["support@example.test"]).await;
    let reply = c.cmd("Subject: x\r\n\r\nbody\r\n.").await;
    expect(&reply, "451 4.3.0");
    assert!(
        !reply.contains("disk full"),
        "internal detail leaked: {reply}"
    );

    *server.sink.fail_with.lock().unwrap() = Some(DeliveryError::Permanent("no".into()));
    expect(&c.cmd("MAIL FROM:<a@customer.test>").await, "250");
    expect(&c.cmd("RCPT TO:<support@example.test>").await, "250");
    expect(&c.cmd("DATA").await, "354");
    expect(&c.cmd("Subject: x\r\n\r\nbody\r\n.").await, "554 5.6.0");
    assert_eq!(server.sink.count(), 0);
    server.shut_down().await;
}

#[tokio::test]
async fn smtp_slow_sink_gets_exactly_one_delivery_per_data() {
    let server = Server::start(test_config(), Recorder::slow(Duration::from_millis(200))).await;
    let mut c = server.connect().await;
    c.begin("a@customer.test", &["support@example.test"]).await;
    expect(&c.cmd("Subject: one\r\n\r\nbody\r\n.").await, "250");
    assert_eq!(server.sink.count(), 1);

    // A client that hangs up while the sink works still gets its message stored once.
    let mut c = server.connect().await;
    c.begin("a@customer.test", &["support@example.test"]).await;
    c.send("Subject: two\r\n\r\nbody\r\n.\r\n").await;
    drop(c);
    eventually("second delivery", || server.sink.count() == 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.sink.count(), 2);
    server.shut_down().await;
}

#[tokio::test]
async fn smtp_smuggling_attempts_do_not_end_the_message() {
    let server = Server::default().await;
    for smuggled_end in ["\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r\n"] {
        let mut c = server.connect().await;
        c.begin("a@customer.test", &["support@example.test"]).await;
        let body = format!(
            "Subject: x\r\n\r\nhello{smuggled_end}MAIL FROM:<evil@attacker.test>\r\n\
             RCPT TO:<support@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n"
        );
        c.send(&body).await;
        expect(&c.reply().await, "250");
        // Had the smuggled commands been read as commands, their replies would come first.
        expect(&c.cmd("QUIT").await, "221");
    }
    let got = server.sink.deliveries();
    assert_eq!(got.len(), 4, "each attempt is one message");
    for d in &got {
        let raw = String::from_utf8_lossy(&d.raw);
        assert!(raw.contains("MAIL FROM:<evil@attacker.test>"), "{raw}");
        assert!(raw.ends_with("evil\r\n"), "{raw}");
    }
    server.shut_down().await;
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

fn tls_connector() -> tokio_rustls::TlsConnector {
    let pem = std::fs::read(fixture("cert.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn smtp_starttls_then_message() {
    let acceptor = load_tls(&fixture("cert.pem"), &fixture("key.pem")).unwrap();
    let config = SmtpConfig {
        tls: Some(acceptor),
        ..test_config()
    };
    let server = Server::start(config, Recorder::default()).await;
    let mut c = server.connect().await;
    let ehlo = c.cmd("EHLO client.test").await;
    assert!(
        ehlo.contains("250-STARTTLS") || ehlo.contains("250 STARTTLS"),
        "{ehlo}"
    );
    expect(&c.cmd("MAIL FROM:<a@customer.test>").await, "250");
    // A command pipelined after STARTTLS arrives in plain text and must be dropped.
    c.send("STARTTLS\r\nNOOP\r\n").await;
    expect(&c.reply().await, "220 2.0.0");

    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tls_connector()
        .connect(name, c.stream.into_inner())
        .await
        .unwrap();
    let mut c = Client::new(tls);
    // State is reset: no EHLO and no sender yet.
    expect(&c.cmd("RCPT TO:<support@example.test>").await, "503");
    expect(&c.cmd("MAIL FROM:<a@customer.test>").await, "503");
    let ehlo = c.cmd("EHLO client.test").await;
    assert!(ehlo.starts_with("250-mx.example.test"), "{ehlo}");
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    expect(&c.cmd("STARTTLS").await, "502");
    expect(&c.cmd("MAIL FROM:<a@customer.test>").await, "250");
    expect(&c.cmd("RCPT TO:<support@example.test>").await, "250");
    expect(&c.cmd("DATA").await, "354");
    expect(&c.cmd("Subject: secret\r\n\r\nover TLS\r\n.").await, "250");
    expect(&c.cmd("QUIT").await, "221");
    assert_eq!(
        server.sink.deliveries()[0].raw,
        b"Subject: secret\r\n\r\nover TLS\r\n"
    );
    server.shut_down().await;
}

#[test]
fn smtp_load_tls_errors_name_the_file() {
    let missing = fixture("missing.pem");
    let error = load_tls(&missing, &fixture("key.pem")).err().unwrap();
    assert!(matches!(error, TlsError::Read { .. }), "{error:?}");
    assert!(error.to_string().contains("missing.pem"), "{error}");

    let error = load_tls(&fixture("key.pem"), &fixture("key.pem"))
        .err()
        .unwrap();
    assert!(matches!(error, TlsError::NoCertificate { .. }), "{error:?}");
    assert!(error.to_string().contains("key.pem"), "{error}");

    let error = load_tls(&fixture("cert.pem"), &fixture("cert.pem"))
        .err()
        .unwrap();
    assert!(matches!(error, TlsError::NoKey { .. }), "{error:?}");
    assert!(error.to_string().contains("cert.pem"), "{error}");
}

#[tokio::test]
async fn smtp_shutdown_lets_the_current_message_finish() {
    let server = Server::default().await;
    let mut idle = server.connect().await;
    expect(&idle.cmd("EHLO client.test").await, "250");
    let mut busy = server.connect().await;
    busy.begin("a@customer.test", &["support@example.test"])
        .await;
    busy.send("Subject: in flight\r\n\r\nfirst half\r\n").await;

    let Server {
        addr,
        sink,
        mut stop,
        mut task,
    } = server;
    stop.take().unwrap().send(()).unwrap();
    expect(&idle.rest().await, "421 4.3.2");

    busy.send("second half\r\n.\r\n").await;
    expect(&busy.reply().await, "250");
    expect(&busy.cmd("NOOP").await, "421 4.3.2");
    timeout(PATIENCE, &mut task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        sink.deliveries()[0].raw,
        b"Subject: in flight\r\n\r\nfirst half\r\nsecond half\r\n"
    );
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
}

fn relay_to(addr: SocketAddr) -> Relay {
    Relay {
        host: addr.ip().to_string(),
        port: addr.port(),
        tls: RelayTls::None,
        user: None,
        password: None,
    }
}

#[tokio::test]
async fn smtp_sender_delivers_byte_exact() {
    let server = Server::default().await;
    let sender = Sender::new(&relay_to(server.addr)).unwrap();
    let raw = concat!(
        "From: Support <support@example.test>\r\n",
        "To: alice@customer.test\r\n",
        "Subject: Grüße\r\n",
        "Content-Type: text/plain; charset=utf-8\r\n",
        "Content-Transfer-Encoding: 8bit\r\n",
        "\r\n",
        ".a line starting with a dot\r\n",
        ".\r\n",
        "Grüße\r\n",
    );
    let recipients = [
        "support@example.test".to_owned(),
        "support+r1@example.test".to_owned(),
    ];
    sender
        .send("bounces@example.test", &recipients, raw.as_bytes())
        .await
        .unwrap();
    // A second message reuses the pooled connection.
    sender
        .send("", &recipients[..1], b"Subject: no newline at the end")
        .await
        .unwrap();

    let got = server.sink.deliveries();
    assert_eq!(got.len(), 2);
    assert_eq!(String::from_utf8(got[0].raw.clone()).unwrap(), raw);
    assert_eq!(
        got[0].envelope_from.as_deref(),
        Some("bounces@example.test")
    );
    assert_eq!(got[0].recipients, recipients);
    // SMTP can only carry whole lines.
    assert_eq!(got[1].raw, b"Subject: no newline at the end\r\n");
    assert_eq!(got[1].envelope_from.as_deref(), Some(""));
    server.shut_down().await;
}

#[tokio::test]
async fn smtp_sender_connection_refused_is_temporary() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let sender = Sender::new(&relay_to(addr)).unwrap();
    let error = sender
        .send(
            "a@example.test",
            &["b@example.test".to_owned()],
            b"Subject: x\r\n\r\nx\r\n",
        )
        .await
        .unwrap_err();
    assert!(matches!(error, SendError::Temporary(_)), "{error:?}");
}

#[tokio::test]
async fn smtp_sender_refused_recipient_is_permanent() {
    let server = Server::default().await;
    let sender = Sender::new(&relay_to(server.addr)).unwrap();
    let error = sender
        .send(
            "a@example.test",
            &["nobody@example.test".to_owned()],
            b"Subject: x\r\n\r\nx\r\n",
        )
        .await
        .unwrap_err();
    assert!(matches!(error, SendError::Permanent(_)), "{error:?}");

    let error = sender
        .send("a@example.test", &["not an address".to_owned()], b"x\r\n")
        .await
        .unwrap_err();
    assert!(matches!(error, SendError::Permanent(_)), "{error:?}");
    assert_eq!(server.sink.count(), 0);

    // The sink failing for a while is worth retrying.
    *server.sink.fail_with.lock().unwrap() = Some(DeliveryError::Temporary("busy".into()));
    let error = sender
        .send(
            "a@example.test",
            &["support@example.test".to_owned()],
            b"Subject: x\r\n\r\nx\r\n",
        )
        .await
        .unwrap_err();
    assert!(matches!(error, SendError::Temporary(_)), "{error:?}");
    server.shut_down().await;
}

#[tokio::test]
async fn smtp_relay_settings() {
    assert_eq!("none".parse::<RelayTls>().unwrap(), RelayTls::None);
    assert_eq!("STARTTLS".parse::<RelayTls>().unwrap(), RelayTls::StartTls);
    assert_eq!("tls".parse::<RelayTls>().unwrap(), RelayTls::Tls);
    let error = "ssl".parse::<RelayTls>().unwrap_err().to_string();
    assert!(
        error.contains("\"ssl\"") && error.contains("starttls"),
        "{error}"
    );

    let relay = Relay {
        host: "smtp.example.test".into(),
        port: 587,
        tls: RelayTls::StartTls,
        user: Some("rapport".into()),
        password: Some("hunter2-secret".into()),
    };
    let shown = format!("{relay:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(
        shown.contains("rapport") && shown.contains("587"),
        "{shown}"
    );

    let half = Relay {
        password: None,
        ..relay.clone()
    };
    assert!(matches!(Sender::new(&half), Err(SendError::Permanent(_))));
    assert!(Sender::new(&relay).is_ok());
}
