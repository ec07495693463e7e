//! The real `rapport` binary, driven as a user would: commands, exit codes, messages, and a
//! running server answering over HTTP.

use rapport_core::TicketStatus;
use rapport_store::testing::TestDb;
use rapport_store::{CustomerFilter, PageRequest, TicketFilter};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[path = "cli/browser.rs"]
mod browser;
#[path = "cli/cluster.rs"]
mod cluster;
#[path = "cli/email.rs"]
mod email;
#[path = "cli/imap.rs"]
mod imap;

const BIN: &str = env!("CARGO_BIN_EXE_rapport");

fn rapport(dir: &Path, url: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RAPPORT_DATABASE_URL", url)
        .env("RAPPORT_LOG", "warn");
    cmd
}

fn run(dir: &Path, url: &str, args: &[&str]) -> Output {
    rapport(dir, url, args).output().expect("run rapport")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A running `rapport serve`/`demo`, stopped (SIGTERM, then killed) when dropped.
struct Running {
    child: Child,
    addr: String,
    /// Where its SMTP listener took mail, when it printed one.
    smtp: String,
    stdout: Vec<String>,
}

impl Running {
    fn start(mut cmd: Command, ready_marker: &str) -> Self {
        let mut child = cmd
            .env("RAPPORT_HTTP", "127.0.0.1:0")
            .env("RAPPORT_SMTP", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Keeps reading after the test stops listening, so the server never writes into a
            // closed pipe.
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut stdout = Vec::new();
        let mut running = Self {
            child,
            addr: String::new(),
            smtp: String::new(),
            stdout: Vec::new(),
        };
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(300))
                .unwrap_or_else(|_| panic!("no '{ready_marker}' from rapport; got {stdout:?}"));
            if let Some(rest) = line.split("listening on ").nth(1) {
                running.addr = rest
                    .split([',', ')'])
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
            }
            if let Some(rest) = line.trim().strip_prefix("SMTP:") {
                running.smtp = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
            }
            let done = line.contains(ready_marker);
            stdout.push(line);
            if done {
                break;
            }
        }
        running.stdout = stdout;
        running
    }

    /// A plain HTTP/1.1 GET over a socket: status and body.
    fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        http(&self.addr, "GET", path, token, None).unwrap_or((0, String::new()))
    }

    /// SIGTERM and wait: a clean stop exits 0.
    fn stop(mut self) -> i32 {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().expect("wait");
        status.code().unwrap_or(-1)
    }
}

/// One HTTP/1.1 request on its own connection: status and body, or the I/O error (a server
/// that died mid-request).
fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    json: Option<&str>,
) -> std::io::Result<(u16, String)> {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let body = json.unwrap_or("");
    let content = if json.is_some() {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )
    } else {
        String::new()
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}{content}Connection: close\r\n\r\n{body}"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let code = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates an agent and returns a fresh API token for them.
fn agent_token(dir: &Path, url: &str) -> String {
    let agent = run(
        dir,
        url,
        &[
            "admin",
            "create-agent",
            "--email",
            "sam@northwind.test",
            "--name",
            "Sam Reyes",
            "--role",
            "agent",
        ],
    );
    assert!(agent.status.success(), "{}", text(&agent.stderr));
    let token = run(
        dir,
        url,
        &[
            "admin",
            "create-token",
            "--agent",
            "sam@northwind.test",
            "--name",
            "e2e",
        ],
    );
    assert!(token.status.success(), "{}", text(&token.stderr));
    text(&token.stdout).trim().to_string()
}

/// Lets `clients` load the server for a moment, kills it with SIGKILL, and returns what they
/// had been told was stored (at least `at_least` of them, or the load never ran).
fn crash_under_load(
    server: &mut Running,
    clients: Vec<std::thread::JoinHandle<Vec<String>>>,
    at_least: usize,
) -> Vec<String> {
    std::thread::sleep(Duration::from_millis(1500));
    server.child.kill().expect("SIGKILL");
    let _ = server.child.wait();
    let acknowledged: Vec<String> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client"))
        .collect();
    assert!(
        acknowledged.len() > at_least,
        "the load ran: {}",
        acknowledged.len()
    );
    acknowledged
}

/// After a crash the SQLite file is intact and `sql` (one text column) lists every
/// acknowledged key.
fn assert_all_stored(dir: &Path, sql: &str, acknowledged: &[String]) {
    let conn = rusqlite::Connection::open(dir.join("data/rapport.db")).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let mut stmt = conn.prepare(sql).unwrap();
    let stored: std::collections::HashSet<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|k| !stored.contains(*k))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );
}

fn temp_sqlite() -> (PathBuf, String) {
    let dir = TestDb::temp_dir();
    let url = format!("sqlite://{}", dir.join("data/rapport.db").display());
    (dir, url)
}

#[test]
fn every_command_has_help() {
    let dir = TestDb::temp_dir();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["demo", "--help"],
        vec!["migrate", "--help"],
        vec!["backup", "--help"],
        vec!["admin", "--help"],
        vec!["admin", "create-agent", "--help"],
        vec!["admin", "create-token", "--help"],
        vec!["admin", "reset-password", "--help"],
        vec!["admin", "revoke-token", "--help"],
        vec!["bench", "--help"],
        vec!["bench", "create", "--help"],
    ] {
        let out = Command::new(BIN)
            .args(&args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(text(&out.stdout).contains("Usage: rapport"), "{args:?}");
    }
}

#[test]
fn invalid_configuration_stops_with_the_key_named() {
    let dir = TestDb::temp_dir();
    let out = rapport(&dir, "sqlite://x.db", &["migrate"])
        .env("RAPPORT_HTTP", "port-eighty")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("RAPPORT_HTTP") && err.contains("port-eighty"),
        "{err}"
    );
    let out = run(&dir, "mysql://root:hunter2@db/x", &["migrate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("RAPPORT_DATABASE_URL"));
    assert!(
        !text(&out.stderr).contains("hunter2"),
        "passwords are never printed"
    );
    std::fs::write(dir.join("rapport.toml"), "log = \"chatty\"\n").unwrap();
    let out = rapport(&dir, "sqlite://x.db", &["migrate"])
        .env_remove("RAPPORT_LOG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("log (in rapport.toml)"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !dir.join("x.db").exists(),
        "nothing is created before the configuration is valid"
    );
}

#[test]
fn admin_commands_then_serve_answers_with_the_token() {
    let (dir, url) = temp_sqlite();
    let out = run(&dir, &url, &["migrate"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("up to date"));

    let out = run(
        &dir,
        &url,
        &[
            "admin",
            "create-agent",
            "--email",
            "ann@example.com",
            "--name",
            "Ann",
            "--role",
            "supervisor",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("initial password: "));
    let again = run(
        &dir,
        &url,
        &[
            "admin",
            "create-agent",
            "--email",
            "ANN@example.com",
            "--name",
            "Ann",
            "--role",
            "agent",
        ],
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("already exists"),
        "{}",
        text(&again.stderr)
    );
    let bad_role = run(
        &dir,
        &url,
        &[
            "admin",
            "create-agent",
            "--email",
            "b@example.com",
            "--name",
            "B",
            "--role",
            "boss",
        ],
    );
    assert!(
        text(&bad_role.stderr).contains("--role"),
        "{}",
        text(&bad_role.stderr)
    );
    let bad_email = run(
        &dir,
        &url,
        &["admin", "create-agent", "--email", "nope", "--name", "B"],
    );
    assert!(
        text(&bad_email.stderr).contains("--email"),
        "{}",
        text(&bad_email.stderr)
    );
    let unknown = run(
        &dir,
        &url,
        &[
            "admin",
            "create-token",
            "--agent",
            "who@example.com",
            "--name",
            "x",
        ],
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains("--agent"));

    let mut reset = rapport(
        &dir,
        &url,
        &[
            "admin",
            "reset-password",
            "--email",
            "ann@example.com",
            "--password-stdin",
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    reset
        .stdin
        .take()
        .unwrap()
        .write_all(b"a much longer secret\n")
        .unwrap();
    assert!(reset.wait_with_output().unwrap().status.success());

    let unknown_customer = run(
        &dir,
        &url,
        &["admin", "portal-link", "--email", "nobody@x.example"],
    );
    assert_eq!(unknown_customer.status.code(), Some(1));
    assert!(text(&unknown_customer.stderr).contains("--email: no customer"));

    let out = run(
        &dir,
        &url,
        &[
            "admin",
            "create-token",
            "--agent",
            "ann@example.com",
            "--name",
            "ci",
        ],
    );
    assert!(out.status.success());
    let token = text(&out.stdout).trim().to_string();
    assert!(token.starts_with("rpt_"), "{token}");

    let server = Running::start(rapport(&dir, &url, &["serve"]), "OpenAPI");
    assert_eq!(server.get("/healthz", None).0, 200);
    assert_eq!(server.get("/api/v1/tickets", None).0, 401);
    let (code, body) = server.get("/api/v1/agents", Some(&token));
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("ann@example.com"));
    // A leaked token is revoked from the command line and refused at once.
    let revoke = run(
        &dir,
        &url,
        &[
            "admin",
            "revoke-token",
            "--agent",
            "ann@example.com",
            "--name",
            "ci",
        ],
    );
    assert!(revoke.status.success(), "{}", text(&revoke.stderr));
    assert_eq!(server.get("/api/v1/agents", Some(&token)).0, 401);
    let again = run(
        &dir,
        &url,
        &[
            "admin",
            "revoke-token",
            "--agent",
            "ann@example.com",
            "--name",
            "ci",
        ],
    );
    assert!(
        text(&again.stderr).contains("no active token"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(server.stop(), 0, "SIGTERM stops cleanly");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn serve_runs_on_postgresql() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let dir = TestDb::temp_dir();
    let url = db.url.clone();
    let server = tokio::task::spawn_blocking(move || {
        let server = Running::start(rapport(&dir, &url, &["serve"]), "OpenAPI");
        let health = server.get("/healthz", None);
        let code = server.stop();
        (health, code)
    })
    .await
    .unwrap();
    assert_eq!(server.0.0, 200);
    assert!(server.0.1.contains("postgres"), "{}", server.0.1);
    assert_eq!(server.1, 0);
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_fills_a_realistic_help_desk_once() {
    let (dir, url) = temp_sqlite();
    let first = {
        let (dir, url) = (dir.clone(), url.clone());
        tokio::task::spawn_blocking(move || {
            let demo = Running::start(rapport(&dir, &url, &["demo"]), "Try: curl");
            let token = demo
                .stdout
                .iter()
                .find_map(|l| l.split("API token (new for this run): ").nth(1))
                .map(str::to_string)
                .expect("token printed");
            let (code, body) = demo.get("/api/v1/tickets?limit=3", Some(&token));
            // The printed links work: the portal's opens the confirmation page (the portal
            // without mail), the widget's a page embedding the demo inbox's widget.
            for (path, page_shows) in [
                ("/portal/auth/", "portal-confirm"),
                ("/widget/demo?inbox=", "widget.js"),
            ] {
                let link = demo
                    .stdout
                    .iter()
                    .find_map(|l| l.split(path).nth(1))
                    .map(|rest| format!("{path}{}", rest.trim()))
                    .unwrap_or_else(|| panic!("no {path} link printed"));
                let (code, page) = demo.get(&link, None);
                assert_eq!(code, 200, "{link}: {page}");
                assert!(page.contains(page_shows), "{link}: {page}");
            }
            let lines = demo.stdout.clone();
            assert_eq!(demo.stop(), 0);
            (code, body, lines, token)
        })
        .await
        .unwrap()
    };
    assert_eq!(first.0, 200, "{}", first.1);
    assert!(first.2.iter().any(|l| l.contains("Demo data added")));
    assert!(
        first
            .2
            .iter()
            .any(|l| l.contains("ada@northwind.example") && l.contains("admin"))
    );

    let store = rapport_store::open(&url).await.unwrap();
    let counts = census(store.as_ref()).await;
    let channels = channel_census(store.as_ref()).await;
    store.close().await;
    assert!(channels.widget_enabled, "{channels:?}");
    assert!(
        channels.chats_waiting >= 2 && channels.chats_answered >= 2,
        "{channels:?}"
    );
    // Five scheduled; the one whose window passed yesterday may be marked missed already.
    assert!(channels.callbacks >= 4, "{channels:?}");
    assert!(channels.phone_matches >= 1, "{channels:?}");
    assert!(counts.tickets >= 2_000, "{counts:?}");
    assert!(counts.in_organizations >= 200, "{counts:?}");
    assert!(
        counts.customers >= 200
            && counts.organizations >= 20
            && counts.agents >= 10
            && counts.inboxes >= 3
            && counts.teams >= 3,
        "{counts:?}"
    );
    assert_eq!(
        counts.statuses.len(),
        TicketStatus::ALL.len(),
        "every status appears: {counts:?}"
    );

    let second = {
        let (dir, url) = (dir.clone(), url.clone());
        tokio::task::spawn_blocking(move || {
            let demo = Running::start(rapport(&dir, &url, &["demo"]), "Try: curl");
            let old_token = demo.get("/api/v1/tickets?limit=1", Some(&first.3)).0;
            let lines = demo.stdout.clone();
            assert_eq!(demo.stop(), 0);
            (lines, old_token)
        })
        .await
        .unwrap()
    };
    assert!(second.0.iter().any(|l| l.contains("already there")));
    assert_eq!(
        second.1, 401,
        "each run hands out a fresh token and retires the last"
    );
    let store = rapport_store::open(&url).await.unwrap();
    let again = census(store.as_ref()).await;
    let channels_again = channel_census(store.as_ref()).await;
    store.close().await;
    assert_eq!(
        channels_again, channels,
        "a second run adds no chats or callbacks"
    );
    assert_eq!(again.tickets, counts.tickets, "a second run adds nothing");
    assert_eq!(again.customers, counts.customers);
    let _ = std::fs::remove_dir_all(dir);
}

#[derive(Debug, PartialEq)]
struct ChannelCensus {
    widget_enabled: bool,
    chats_waiting: usize,
    chats_answered: usize,
    callbacks: usize,
    /// Whether a callback's number finds its customer.
    phone_matches: usize,
}

/// The demo's chat and phone data: the Support inbox's widget, the chat queue, the scheduled
/// callbacks, and number matching on a logged call.
async fn channel_census(store: &dyn rapport_store::Store) -> ChannelCensus {
    let inboxes = store.list_inboxes().await.unwrap();
    let support = inboxes.iter().find(|i| i.name == "Support").unwrap();
    let widget = store
        .chat_widget(support.id, rapport_core::Millis(0))
        .await
        .unwrap();
    // Each agent's queue shows the waiting chats and their own answered ones.
    let mut chats = Vec::new();
    for email in ["sam@northwind.example", "mateo@northwind.example"] {
        let agent = store.agent_login(email).await.unwrap().unwrap().agent.id;
        chats.extend(store.chat_queue(agent).await.unwrap());
    }
    chats.sort_by_key(|c| c.ticket.id);
    chats.dedup_by_key(|c| c.ticket.id);
    let callbacks = store
        .callback_queue(rapport_store::CallbackQueue::All, 100)
        .await
        .unwrap();
    // An agent's callback uses the customer's stored number, which finds them again.
    let scheduled = callbacks
        .iter()
        .find(|c| c.callback.origin == rapport_core::Channel::Phone)
        .expect("an agent's callback");
    let phone_matches = store
        .customers_by_phone(&scheduled.callback.number)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.id == scheduled.customer.id)
        .count();
    ChannelCensus {
        widget_enabled: widget.enabled && !widget.greeting.is_empty(),
        chats_waiting: chats.iter().filter(|c| c.waiting).count(),
        chats_answered: chats.iter().filter(|c| !c.waiting).count(),
        callbacks: callbacks.len(),
        phone_matches,
    }
}

#[derive(Debug)]
struct Census {
    tickets: usize,
    customers: usize,
    in_organizations: usize,
    organizations: usize,
    agents: usize,
    teams: usize,
    inboxes: usize,
    statuses: std::collections::BTreeSet<&'static str>,
}

async fn census(store: &dyn rapport_store::Store) -> Census {
    let mut tickets = 0;
    let mut statuses = std::collections::BTreeSet::new();
    let mut page = PageRequest::first(200);
    let mut with_notes_checked = false;
    loop {
        let got = store
            .list_tickets(&TicketFilter::default(), page)
            .await
            .unwrap();
        tickets += got.items.len();
        for t in &got.items {
            statuses.insert(t.status.as_str());
        }
        if !with_notes_checked {
            let t = got
                .items
                .iter()
                .find(|t| t.status == TicketStatus::Closed || t.status == TicketStatus::Solved);
            if let Some(t) = t {
                let messages = store
                    .list_messages(t.id, PageRequest::first(50))
                    .await
                    .unwrap()
                    .items;
                assert!(messages.len() >= 3, "multi-message conversations");
                assert!(messages.iter().any(|m| !m.public), "internal notes");
                assert!(
                    !t.tags.is_empty() && !t.custom_fields.is_empty(),
                    "tags and custom fields: {t:?}"
                );
                with_notes_checked = true;
            }
        }
        match got.next {
            Some(n) => page.after = Some(n),
            None => break,
        }
    }
    let mut customers = 0;
    let mut in_organizations = 0;
    let mut page = PageRequest::first(200);
    loop {
        let got = store
            .list_customers(&CustomerFilter::default(), page)
            .await
            .unwrap();
        customers += got.items.len();
        in_organizations += got
            .items
            .iter()
            .filter(|c| c.organization_id.is_some())
            .count();
        match got.next {
            Some(n) => page.after = Some(n),
            None => break,
        }
    }
    Census {
        tickets,
        customers,
        in_organizations,
        organizations: store
            .list_organizations(PageRequest::first(200))
            .await
            .unwrap()
            .items
            .len(),
        agents: store.list_agents().await.unwrap().len(),
        teams: store.list_teams().await.unwrap().len(),
        inboxes: store.list_inboxes().await.unwrap().len(),
        statuses,
    }
}

/// Acknowledged means durable: kill the server with SIGKILL while clients are creating tickets;
/// every ticket that got its 201 is there after a restart, and the database is intact.
#[test]
fn acknowledged_tickets_survive_a_crash() {
    let (dir, url) = temp_sqlite();
    assert!(
        run(
            &dir,
            &url,
            &[
                "admin",
                "create-agent",
                "--email",
                "crash@example.com",
                "--name",
                "Crash"
            ]
        )
        .status
        .success()
    );
    let out = run(
        &dir,
        &url,
        &[
            "admin",
            "create-token",
            "--agent",
            "crash@example.com",
            "--name",
            "t",
        ],
    );
    let token = text(&out.stdout).trim().to_string();
    let mut server = Running::start(rapport(&dir, &url, &["serve"]), "OpenAPI");
    let clients: Vec<_> = (0..8)
        .map(|worker| {
            let (addr, token) = (server.addr.clone(), token.clone());
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for n in 0.. {
                    let subject = format!("crash-{worker}-{n}");
                    let body = format!(r#"{{"subject":"{subject}","customer":{{"email":"c{worker}@example.com"}},"message":{{"body":"b"}}}}"#);
                    match http(&addr, "POST", "/api/v1/tickets", Some(&token), Some(&body)) {
                        Ok((201, _)) => acknowledged.push(subject),
                        Ok((status, body)) if status != 0 => panic!("unexpected {status}: {body}"),
                        _ => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    let acknowledged = crash_under_load(&mut server, clients, 50);
    assert_all_stored(&dir, "SELECT subject FROM tickets", &acknowledged);

    // And it starts again on the same files.
    let again = Running::start(rapport(&dir, &url, &["serve"]), "OpenAPI");
    assert_eq!(again.get("/healthz", None).0, 200);
    assert_eq!(again.stop(), 0);
    let _ = std::fs::remove_dir_all(dir);
}

/// The number of tickets in a SQLite file, read beside whatever else has it open.
fn tickets_in(db: &Path) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row("SELECT count(*) FROM tickets", [], |r| r.get(0))
        .unwrap()
}

/// A backup taken while `serve` keeps committing tickets is one moment of the database: whole,
/// openable by Rapport, and holding every ticket committed before it started and none from
/// after it ended.
#[test]
fn backup_copies_a_consistent_database_while_serve_writes() {
    let (dir, url) = temp_sqlite();
    let token = agent_token(&dir, &url);
    let server = Running::start(rapport(&dir, &url, &["serve"]), "OpenAPI");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|worker| {
            let (addr, token, stop) = (server.addr.clone(), token.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut created = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let body = format!(
                        r#"{{"subject":"backup-{worker}-{created}","customer":{{"email":"b{worker}@example.com"}},"message":{{"body":"b"}}}}"#
                    );
                    let (status, body) =
                        http(&addr, "POST", "/api/v1/tickets", Some(&token), Some(&body))
                            .expect("the server answers");
                    assert_eq!(status, 201, "{body}");
                    created += 1;
                }
                created
            })
        })
        .collect();
    let live = dir.join("data/rapport.db");
    while tickets_in(&live) < 50 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = tickets_in(&live);
    let out = run(&dir, &url, &["backup", "copy.db"]);
    let after = tickets_in(&live);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let created: usize = clients.into_iter().map(|c| c.join().expect("client")).sum();
    assert_eq!(server.stop(), 0);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(
        printed.contains("copy.db") && printed.contains("tickets"),
        "{printed}"
    );
    assert!(
        after > before,
        "tickets were being created during the backup ({before} → {after}, {created} in all)"
    );

    let copy = dir.join("copy.db");
    let in_copy = tickets_in(&copy);
    assert!(
        (before..=after).contains(&in_copy),
        "the copy holds {in_copy} tickets, not between {before} and {after}"
    );
    assert!(
        printed.contains(&format!("{in_copy} tickets")),
        "the printed count is the copy's: {printed}"
    );
    let copy_url = format!("sqlite://{}", copy.display());
    let migrate = run(&dir, &copy_url, &["migrate"]);
    assert!(migrate.status.success(), "{}", text(&migrate.stderr));
    let conn = rusqlite::Connection::open(&copy).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("rapport-backup"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn backup_never_overwrites_and_never_invents_a_database() {
    let (dir, url) = temp_sqlite();
    let out = run(&dir, &url, &["backup", "first.db"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no database at"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !dir.join("data/rapport.db").exists() && !dir.join("first.db").exists(),
        "a missing database is not created, and no empty copy is written"
    );

    assert!(run(&dir, &url, &["migrate"]).status.success());
    std::fs::write(dir.join("precious.db"), b"last week's backup").unwrap();
    let out = run(&dir, &url, &["backup", "precious.db"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("precious.db already exists"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read(dir.join("precious.db")).unwrap(),
        b"last week's backup"
    );
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains("rapport-backup")),
        "{names:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn backup_on_postgresql_says_how_to_use_pg_dump_without_the_password() {
    let dir = TestDb::temp_dir();
    let out = run(
        &dir,
        "postgres://u:secret@127.0.0.1:5432/x",
        &["backup", "rapport.dump"],
    );
    assert_eq!(out.status.code(), Some(1));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        stderr.contains(
            "pg_dump --format=custom --file='rapport.dump' 'postgres://u:***@127.0.0.1:5432/x'"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("pg_restore"), "{stderr}");
    assert!(
        !stdout.contains("secret") && !stderr.contains("secret"),
        "the password is never printed: {stdout}{stderr}"
    );
    assert!(!dir.join("rapport.dump").exists());
    let _ = std::fs::remove_dir_all(dir);
}

/// A benchmark run of the binary in `dir` (off the test's runtime: it takes seconds).
async fn bench(dir: &Path, args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(&args)
            .current_dir(&dir)
            .env("RAPPORT_LOG", "warn")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// `bench chat` must keep working: a small crowd of visitors on SQLite, every reply delivered.
#[tokio::test]
async fn bench_chat_delivers_every_reply() {
    let dir = TestDb::temp_dir();
    let args = [
        "bench",
        "chat",
        "--visitors",
        "40",
        "--seconds",
        "1",
        "--replies-per-second",
        "20",
        "--messages-per-second",
        "10",
    ];
    let out = bench(&dir, &args).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("arrival: 40 conversations started"),
        "{stdout}"
    );
    let replies = stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("agent replies: "))
        .unwrap_or_else(|| panic!("no replies line in:\n{stdout}"));
    let sent: u32 = replies.split_whitespace().next().unwrap().parse().unwrap();
    assert!(sent > 0, "{stdout}");
    assert!(
        replies.contains(&format!("{sent} delivered")),
        "every reply reaches its visitor: {stdout}"
    );
    assert!(
        stdout.contains("errors 0, unexpected frames 0, duplicate deliveries 0"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// The benchmark is not a test, but it must keep working: a one-second run prints its figures.
#[tokio::test]
async fn bench_create_runs_and_reports() {
    let dir = TestDb::temp_dir();
    let mut args = vec!["bench", "create", "--concurrency", "4", "--seconds", "1"];
    let admin = rapport_store::testing::postgres_admin_url();
    // On PostgreSQL when it is there (always in CI), since SQLite is what every other test uses.
    if let Some(reachable) = TestDb::postgres().await {
        reachable.finish().await;
        args.extend(["--postgres", admin.as_str()]);
    }
    let out = bench(&dir, &args).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    for figure in [
        "throughput:",
        "latency:",
        "store alone:",
        "baseline:",
        "ratio:",
    ] {
        assert!(stdout.contains(figure), "{figure} missing from:\n{stdout}");
    }
    assert!(stdout.contains("(0 errors)"), "{stdout}");
}

/// `bench cluster` must keep working: two nodes against one on PostgreSQL (always in CI), with
/// nothing lost or stored twice and tickets and mail moving in both phases.
#[tokio::test]
async fn bench_cluster_reports_no_errors_or_duplicates() {
    let Some(reachable) = TestDb::postgres().await else {
        return;
    };
    reachable.finish().await;
    let admin = rapport_store::testing::postgres_admin_url();
    let dir = TestDb::temp_dir();
    let args = [
        "bench",
        "cluster",
        "--nodes",
        "2",
        "--seconds",
        "2",
        "--concurrency",
        "4",
        "--postgres",
        &admin,
    ];
    let out = bench(&dir, &args).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    // The first number after a label, once per phase.
    let figures = |label: &str| -> Vec<f64> {
        stdout
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix(label))
            .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
            .collect()
    };
    for zero in ["errors:", "duplicates:", "lost:"] {
        assert_eq!(figures(zero), [0.0, 0.0], "{zero} in:\n{stdout}");
    }
    for rate in ["API:", "SMTP:"] {
        let rates = figures(rate);
        assert_eq!(rates.len(), 2, "{rate} in:\n{stdout}");
        assert!(rates.iter().all(|r| *r > 0.0), "{rate} in:\n{stdout}");
    }
    assert!(
        stdout.contains("round trips per API ticket:"),
        "where the time goes is missing from:\n{stdout}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
