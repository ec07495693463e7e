//! `rapport bench smtp`: messages per second through the SMTP listener into the store, each
//! durable (and threaded onto a ticket) before the client sees its 250.

use crate::bench::{ms, percentile};
use crate::email::{Inbound, reply_secret};
use rapport_mail::MailSink;
use rapport_mail::smtp_server::{SmtpConfig, serve};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const INBOX: &str = "support@rapport.localhost";
/// About the size of a real customer email with a few paragraphs and a quoted reply.
pub(crate) const BODY: &str = "Hello,\r\n\r\nsince the firmware update on Monday our router drops the \
connection every evening between 7 and 9 pm. We have restarted it several times and replaced \
the cable, but it still happens. Our order number is 4711-22 and the serial number is \
SN-77-AB.\r\n\r\nCould you tell us whether this is a known problem and when a fix is \
expected? We run a small shop and depend on the connection for card payments.\r\n\r\nThanks,\r\n\
Ann\r\n\r\nOn Mon, 23 Nov 2026, Northwind Support wrote:\r\n> We received your request.\r\n\
> Please reply to this email if anything changes.\r\n";

/// Runs the load and prints the figures; returns accepted messages per second.
pub async fn run(
    concurrency: usize,
    duration: Duration,
    url: &str,
    postgres: bool,
) -> anyhow::Result<f64> {
    let store = rapport_store::open(url).await?;
    let sink: Arc<dyn MailSink> = Arc::new(Inbound {
        secret: reply_secret(store.as_ref()).await?,
        store: store.clone(),
        max_attachment_bytes: 20 * 1024 * 1024,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        SmtpConfig {
            hostname: "bench.rapport.localhost".into(),
            ..SmtpConfig::default()
        },
        sink,
        async {
            let _ = stopped.await;
        },
    ));
    let durability = if postgres {
        "PostgreSQL"
    } else {
        "SQLite, WAL, synchronous=FULL"
    };
    println!(
        "bench smtp: {concurrency} concurrent SMTP clients for {}s against {addr} ({durability})",
        duration.as_secs()
    );
    let started = Instant::now();
    let deadline = started + duration;
    let mut clients = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        clients.spawn(client(addr, worker, deadline));
    }
    let mut latencies = Vec::new();
    let mut errors = 0u64;
    while let Some(result) = clients.join_next().await {
        let (l, e) = result??;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    server.await??;
    let stored = store
        .list_tickets(&Default::default(), rapport_store::PageRequest::first(1))
        .await?;
    store.close().await;

    latencies.sort();
    let rate = latencies.len() as f64 / elapsed;
    println!(
        "  messages accepted: {} ({errors} refused or failed); 1 in 5 is a reply threaded onto an earlier ticket",
        latencies.len()
    );
    println!("  throughput:        {rate:.0} messages/s (250 only after commit)");
    println!(
        "  latency:           p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (MAIL FROM to the 250 after DATA)",
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default())
    );
    if stored.items.is_empty() && !latencies.is_empty() {
        anyhow::bail!("messages were accepted but no ticket is stored");
    }
    if errors > 0 {
        anyhow::bail!("{errors} messages were not accepted");
    }
    Ok(rate)
}

/// One client on one connection: EHLO once, then pipelined transactions until the deadline.
async fn client(
    addr: std::net::SocketAddr,
    worker: usize,
    deadline: Instant,
) -> anyhow::Result<(Vec<Duration>, u64)> {
    let stream = TcpStream::connect(addr).await?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    expect(&mut lines, &mut line, "220").await?;
    write.write_all(b"EHLO bench.example\r\n").await?;
    expect(&mut lines, &mut line, "250").await?;
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut n = 0u64;
    while Instant::now() < deadline {
        n += 1;
        let sender = format!(
            "customer{}@shop{}.example",
            (worker as u64 * 7919 + n) % 2000,
            worker
        );
        let message_id = format!("bench-{worker}-{n}@shop.example");
        // Every fifth message answers the previous one from this client.
        let in_reply_to = if n.is_multiple_of(5) {
            format!("In-Reply-To: <bench-{worker}-{}@shop.example>\r\n", n - 1)
        } else {
            String::new()
        };
        let message = format!(
            "MAIL FROM:<{sender}>\r\nRCPT TO:<{INBOX}>\r\nDATA\r\n\
             From: Ann Customer <{sender}>\r\nTo: Support <{INBOX}>\r\n\
             Subject: Router drops the connection every evening (#{n})\r\n\
             Message-ID: <{message_id}>\r\n{in_reply_to}Date: Tue, 24 Nov 2026 09:00:00 +0000\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{BODY}.\r\n"
        );
        let sent = Instant::now();
        write.write_all(message.as_bytes()).await?;
        // MAIL, RCPT and DATA answer first (PIPELINING), then the final reply after the data.
        let mut ok = true;
        for want in ["250", "250", "354", "250"] {
            let got = read_reply(&mut lines, &mut line).await?;
            ok &= got.starts_with(want);
        }
        if ok {
            latencies.push(sent.elapsed());
        } else {
            errors += 1;
            write.write_all(b"RSET\r\n").await?;
            read_reply(&mut lines, &mut line).await?;
        }
    }
    write.write_all(b"QUIT\r\n").await?;
    Ok((latencies, errors))
}

/// Reads one (possibly multi-line) reply and returns its last line.
pub(crate) async fn read_reply(
    lines: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    line: &mut String,
) -> anyhow::Result<String> {
    loop {
        line.clear();
        if lines.read_line(line).await? == 0 {
            anyhow::bail!("the server closed the connection");
        }
        // `250-…` continues a multi-line reply; `250 …` ends it.
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(line.clone());
        }
    }
}

pub(crate) async fn expect(
    lines: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    line: &mut String,
    code: &str,
) -> anyhow::Result<()> {
    let reply = read_reply(lines, line).await?;
    if !reply.starts_with(code) {
        anyhow::bail!("expected {code}, got {}", reply.trim_end());
    }
    Ok(())
}
