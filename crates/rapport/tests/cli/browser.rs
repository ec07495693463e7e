//! The web UI in a real browser: Debian's headless Chromium driven over WebDriver
//! (chromedriver + fantoccini) against the real `rapport serve`, as agents and customers use it:
//! sign-in, the views, a ticket's page, focus mode, live updates between two agents, and the
//! customer portal signed in by the link that arrives by email.
//!
//! Screenshots of each main page at desktop and phone sizes are written to
//! `target/screenshots/` for people to look at; nothing compares them.
//!
//! Needs `/usr/bin/chromedriver` and `/usr/bin/chromium` (Debian: `chromium-driver`,
//! `chromium`). Without them a test is skipped, except under `CI=true`, where it fails: CI must
//! never pass by skipping.

use super::*;
use fantoccini::elements::Element;
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use rapport_mail::testing::SmtpSink;
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::time::Instant;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::task::block_in_place;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long an element, a page or an email may take to appear before the test fails. Generous:
/// a debug build on a loaded 2-core machine can take seconds for a page, and only a failing
/// test ever waits this long.
const PATIENCE: Duration = Duration::from_secs(15);
/// Between two looks at the page while waiting.
const POLL: Duration = Duration::from_millis(100);
const DESKTOP: (u32, u32) = (1440, 900);
const PHONE: (u32, u32) = (390, 844);
/// Agents sign in with this (set through `--password-stdin`).
const PASSWORD: &str = "correct horse battery staple";

/// Each browser is a few hundred MB and busy while pages load; on the 2-core CI machine more
/// than two tests with browsers at once only make each slower and the waits tighter.
static BROWSERS: Semaphore = Semaphore::const_new(2);

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A free loopback port, found by binding to port 0. Another process may take it before
/// chromedriver binds, so the caller retries.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A chromedriver on a loopback port, in its own process group with every browser it starts;
/// the whole group is killed on drop, so a failing test leaves no Chromium behind.
struct ChromeDriver {
    child: Child,
    url: String,
    /// HOME for chromedriver and Chromium and the parent of each browser profile, so nothing
    /// is written outside it (Chromium's crash reports go under HOME); removed on drop.
    dir: PathBuf,
    profiles: usize,
}

impl ChromeDriver {
    /// `None` when chromedriver or Chromium is not installed and the test should be skipped.
    fn start() -> Option<Self> {
        if !Path::new(CHROMEDRIVER).exists() || !Path::new(CHROMIUM).exists() {
            if ci() {
                panic!(
                    "{CHROMEDRIVER} or {CHROMIUM} not found: install the Debian packages \
                     chromium and chromium-driver (CI=true, so the browser tests fail instead \
                     of skipping)"
                );
            }
            eprintln!(
                "note: {CHROMEDRIVER} not found (apt-get install chromium chromium-driver); \
                 skipping this browser test"
            );
            return None;
        }
        let dir = TestDb::temp_dir();
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .env("HOME", &dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("spawn chromedriver");
            let addr = format!("127.0.0.1:{port}");
            let deadline = Instant::now() + PATIENCE;
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    last_error = format!("chromedriver on port {port} exited: {status}");
                    break;
                }
                if driver_ready(&addr) {
                    return Some(Self {
                        child,
                        url: format!("http://{addr}"),
                        dir,
                        profiles: 0,
                    });
                }
                if Instant::now() >= deadline {
                    last_error = format!("chromedriver on port {port} never answered /status");
                    kill_group(&mut child);
                    break;
                }
                std::thread::sleep(POLL);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("could not start chromedriver: {last_error}");
    }

    /// A new browser (its own WebDriver session and fresh profile) opening pages of `base`.
    async fn browser(&mut self, base: &str) -> Browser {
        self.profiles += 1;
        let profile = self.dir.join(format!("profile-{}", self.profiles));
        let (width, height) = DESKTOP;
        let mut caps = Capabilities::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.display()),
                    format!("--window-size={width},{height}"),
                ],
            }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a WebDriver session with Chromium");
        Browser {
            client,
            base: base.to_string(),
        }
    }
}

/// Whether the chromedriver at `addr` answers `/status` with `"ready": true`. Read only until
/// that is seen: chromedriver keeps the connection open whatever the request asks.
fn driver_ready(addr: &str) -> bool {
    use std::io::Read;
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(stream, "GET /status HTTP/1.1\r\nHost: {addr}\r\n\r\n").is_err() {
        return false;
    }
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        seen.extend_from_slice(&buf[..n]);
        if String::from_utf8_lossy(&seen).contains("\"ready\":true") {
            return true;
        }
    }
    false
}

fn kill_group(child: &mut Child) {
    // The negative id names the process group chromedriver leads (`process_group(0)`): its
    // browsers with it.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .status();
    let _ = child.wait();
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        kill_group(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where screenshots go: `target/screenshots`, under `CARGO_TARGET_DIR` when it is set.
fn screenshot_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        // A relative target dir is relative to where cargo ran: the workspace, in practice.
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    };
    target.join("screenshots")
}

/// One browser window, with helpers that wait for what they need and, when it never comes,
/// fail with the address and the end of the page's source.
struct Browser {
    client: Client,
    /// `http://127.0.0.1:port` of the server under test.
    base: String,
}

impl Browser {
    async fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.client
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The path and query of the page shown.
    async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current URL");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    async fn source(&self) -> String {
        self.client.source().await.unwrap_or_default()
    }

    /// Fails the test with what the browser shows.
    async fn fail(&self, what: &str) -> ! {
        let url = self
            .client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default();
        let source = self.source().await;
        let tail: String = {
            let chars: Vec<char> = source.chars().collect();
            chars[chars.len().saturating_sub(3000)..].iter().collect()
        };
        panic!("{what}\n  at {url}\n  page source (end):\n{tail}");
    }

    /// The first element matching `css`, once there is one.
    async fn wait_for(&self, css: &str) -> Element {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                return element;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("nothing matches `{css}`")).await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Every element matching `css` now (none is not an error).
    async fn all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_default()
    }

    /// The texts of every element matching `css` now.
    async fn texts(&self, css: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for element in self.all(css).await {
            texts.push(element.text().await.unwrap_or_default());
        }
        texts
    }

    /// The first element matching `css` whose text contains `needle`, once there is one.
    async fn wait_for_text(&self, css: &str, needle: &str) -> Element {
        let deadline = Instant::now() + PATIENCE;
        loop {
            for element in self.all(css).await {
                if element.text().await.is_ok_and(|t| t.contains(needle)) {
                    return element;
                }
            }
            if Instant::now() >= deadline {
                let seen = self.texts(css).await;
                self.fail(&format!("no `{css}` contains {needle:?}; seen: {seen:?}"))
                    .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn text(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.expect("element text")
    }

    async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.wait_for(css)
            .await
            .attr(name)
            .await
            .expect("attribute")
    }

    async fn fill(&self, css: &str, text: &str) {
        let field = self.wait_for(css).await;
        // File inputs cannot be cleared; they are always empty on a fresh page anyway.
        if field.attr("type").await.ok().flatten().as_deref() != Some("file") {
            field.clear().await.expect("clear the field");
        }
        field.send_keys(text).await.expect("type into the field");
    }

    /// Types at the end of a field's text, as a person continuing a draft.
    async fn type_more(&self, css: &str, text: &str) {
        let field = self.wait_for(css).await;
        field.send_keys(text).await.expect("type into the field");
    }

    /// Clicks the first element matching `css`, retrying while it is not yet clickable (a page
    /// still being swapped in).
    async fn click(&self, css: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let error = match self.client.find(Locator::Css(css)).await {
                Ok(element) => match element.click().await {
                    Ok(()) => return,
                    Err(e) => e.to_string(),
                },
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                self.fail(&format!("cannot click `{css}`: {error}")).await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Picks the `<option>` of the `select` matching `css` whose value is `value`.
    async fn select(&self, css: &str, value: &str) {
        let select = self.wait_for(css).await;
        if let Err(e) = select.select_by_value(value).await {
            let options = self.texts(&format!("{css} option")).await;
            self.fail(&format!(
                "`{css}` has no option {value:?} ({e}); options: {options:?}"
            ))
            .await;
        }
    }

    /// Picks the `<option>` of the `select` matching `css` whose label contains `label`.
    async fn select_labelled(&self, css: &str, label: &str) {
        let option = self.wait_for_text(&format!("{css} option"), label).await;
        option.click().await.expect("pick the option");
    }

    /// Waits until the page shown is `expected` (path and query) or `accept` says it is right.
    async fn wait_for_path(&self, accept: impl Fn(&str) -> bool, expected: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let path = self.path().await;
            if accept(&path) {
                return path;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("expected to be at {expected}, still at {path}"))
                    .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Makes the page's viewport (what a screenshot shows) `width`×`height`. The window is
    /// sized first and then corrected by what its frame takes, since headless Chromium keeps
    /// room for browser UI that is not drawn.
    async fn resize(&self, (width, height): (u32, u32)) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("resize the window");
        let inner = self
            .client
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await
            .expect("the viewport size");
        let (Some(inner_width), Some(inner_height)) = (inner[0].as_u64(), inner[1].as_u64()) else {
            panic!("the viewport size: {inner}");
        };
        let grow =
            |want: u32, got: u64| u32::try_from(2 * u64::from(want) - got.min(u64::from(want)));
        if (inner_width, inner_height) != (u64::from(width), u64::from(height)) {
            let (outer_width, outer_height) = (
                grow(width, inner_width).expect("window width"),
                grow(height, inner_height).expect("window height"),
            );
            self.client
                .set_window_size(outer_width, outer_height)
                .await
                .expect("resize the window");
        }
    }

    /// Saves what the window shows as `target/screenshots/<name>.png`.
    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write the screenshot");
    }

    /// `<name>-desktop.png` at 1440×900 and `<name>-phone.png` at 390×844, then back to the
    /// desktop size.
    async fn screenshots(&self, name: &str) {
        self.resize(DESKTOP).await;
        self.screenshot(&format!("{name}-desktop")).await;
        self.resize(PHONE).await;
        self.screenshot(&format!("{name}-phone")).await;
        self.resize(DESKTOP).await;
    }

    /// The cookies this browser would send, as a `Cookie` header value.
    async fn cookie_header(&self) -> String {
        self.client
            .get_all_cookies()
            .await
            .expect("cookies")
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Signs an agent in through the login form and waits for the views page.
    async fn login(&self, email: &str) {
        self.goto("/login").await;
        self.fill("form#login input[name=email]", email).await;
        self.fill("form#login input[name=password]", PASSWORD).await;
        self.click("form#login button[type=submit]").await;
        self.wait_for("nav#views").await;
    }

    async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// A running help desk: one inbox, agents who sign in with [`PASSWORD`], an API token, and a
/// recording SMTP sink standing in for the relay.
struct Desk {
    server: Running,
    sink: SmtpSink,
    token: String,
    dir: PathBuf,
    url: String,
}

/// The agent `agent_token` creates.
const SAM: (&str, &str) = ("sam@northwind.test", "Sam Reyes");
const PRIYA: (&str, &str) = ("priya@northwind.test", "Priya Natarajan");

impl Desk {
    /// Sam (who also holds the API token) and Priya, both agents.
    async fn start() -> Self {
        let sink = SmtpSink::start().await.expect("sink");
        let relay = sink.addr.to_string();
        let (dir, url) = temp_sqlite();
        let (server, token) = block_in_place(|| {
            let inbox = run(
                &dir,
                &url,
                &[
                    "admin",
                    "create-inbox",
                    "--name",
                    "Help",
                    "--address",
                    "help@northwind.test",
                    "--from-name",
                    "Northwind Help",
                ],
            );
            assert!(inbox.status.success(), "{}", text(&inbox.stderr));
            let token = agent_token(&dir, &url);
            with_password(&dir, &url, &["admin", "reset-password", "--email", SAM.0]);
            with_password(
                &dir,
                &url,
                &[
                    "admin",
                    "create-agent",
                    "--email",
                    PRIYA.0,
                    "--name",
                    PRIYA.1,
                    "--role",
                    "agent",
                ],
            );
            let mut cmd = rapport(&dir, &url, &["serve"]);
            cmd.env("RAPPORT_SMTP_RELAY", relay)
                .env("RAPPORT_SMTP_RELAY_TLS", "none");
            (Running::start(cmd, "Mail out:"), token)
        });
        Self {
            server,
            sink,
            token,
            dir,
            url,
        }
    }

    /// An admin with an API token (for setting up teams); returns the token.
    async fn admin_token(&self) -> String {
        block_in_place(|| {
            let made = run(
                &self.dir,
                &self.url,
                &[
                    "admin",
                    "create-agent",
                    "--email",
                    "ada@northwind.test",
                    "--name",
                    "Ada Admin",
                    "--role",
                    "admin",
                ],
            );
            assert!(made.status.success(), "{}", text(&made.stderr));
            let token = run(
                &self.dir,
                &self.url,
                &[
                    "admin",
                    "create-token",
                    "--agent",
                    "ada@northwind.test",
                    "--name",
                    "setup",
                ],
            );
            assert!(token.status.success(), "{}", text(&token.stderr));
            text(&token.stdout).trim().to_string()
        })
    }

    /// An API call with another agent's token.
    async fn api_as(&self, token: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
        let body = body.to_string();
        let (code, text) = block_in_place(|| {
            http(
                &self.server.addr,
                method,
                &format!("/api/v1{path}"),
                Some(token),
                Some(&body),
            )
        })
        .expect("API request");
        (code, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn base(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// An API call with the token: status and JSON body (`null` when the body is not JSON).
    async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string());
        let (code, text) = block_in_place(|| {
            http(
                &self.server.addr,
                method,
                &format!("/api/v1{path}"),
                Some(&self.token),
                body.as_deref(),
            )
        })
        .expect("API request");
        (code, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn agent_id(&self, email: &str) -> i64 {
        let (code, body) = self.api("GET", "/agents", None).await;
        assert_eq!(code, 200, "{body}");
        body["items"]
            .as_array()
            .and_then(|agents| agents.iter().find(|a| a["email"] == email))
            .and_then(|a| a["id"].as_i64())
            .unwrap_or_else(|| panic!("no agent {email}: {body}"))
    }

    /// A customer's request through the API; returns the ticket.
    async fn ticket(
        &self,
        subject: &str,
        customer: (&str, &str),
        body: &str,
        extra: Value,
    ) -> Value {
        let mut request = json!({
            "subject": subject,
            "customer": { "email": customer.0, "name": customer.1 },
            "message": { "body": body },
        });
        if let (Some(request), Some(extra)) = (request.as_object_mut(), extra.as_object()) {
            request.extend(extra.clone());
        }
        let (code, ticket) = self.api("POST", "/tickets", Some(request)).await;
        assert_eq!(code, 201, "{ticket}");
        ticket
    }

    async fn ticket_id(
        &self,
        subject: &str,
        customer: (&str, &str),
        body: &str,
        extra: Value,
    ) -> i64 {
        self.ticket(subject, customer, body, extra).await["id"]
            .as_i64()
            .expect("ticket id")
    }

    /// An internal note through the API.
    async fn note(&self, ticket: i64, body: &str) {
        let path = format!("/tickets/{ticket}/messages");
        let (code, answer) = self
            .api("POST", &path, Some(json!({ "kind": "note", "body": body })))
            .await;
        if code == 201 {
            return;
        }
        // The API took `"public": false` for notes before it took `"kind"`.
        let (code, answer2) = self
            .api(
                "POST",
                &path,
                Some(json!({ "public": false, "body": body })),
            )
            .await;
        assert_eq!(code, 201, "a note: {answer} / {answer2}");
    }

    async fn get_ticket(&self, id: i64) -> Value {
        let (code, ticket) = self.api("GET", &format!("/tickets/{id}"), None).await;
        assert_eq!(code, 200, "{ticket}");
        ticket
    }

    async fn messages(&self, id: i64) -> Vec<Value> {
        let (code, body) = self
            .api("GET", &format!("/tickets/{id}/messages?limit=100"), None)
            .await;
        assert_eq!(code, 200, "{body}");
        body["items"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until the API shows `ticket` as `accept` wants it (a form's effect is stored by the
    /// time the next page shows, but the page may be swapped in by script before the check).
    async fn wait_for_ticket(&self, id: i64, accept: impl Fn(&Value) -> bool, what: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let ticket = self.get_ticket(id).await;
            if accept(&ticket) {
                return ticket;
            }
            if Instant::now() >= deadline {
                panic!("ticket {id} never {what}: {ticket}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The first email to `to` whose text contains `needle`, once it reached the relay.
    async fn wait_for_mail(&self, to: &str, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE * 2;
        let mut count = 1;
        loop {
            let received = self.sink.wait_for(count, Duration::from_secs(1)).await;
            count = received.len() + 1;
            for delivery in &received {
                if !delivery.recipients.iter().any(|r| r == to) {
                    continue;
                }
                let mail = rapport_mail::parse(&delivery.raw);
                let text = format!("{}\n{}", mail.text, mail.html.unwrap_or_default());
                if text.contains(needle) {
                    return text;
                }
            }
            if tokio::time::Instant::now() >= deadline {
                let subjects: Vec<_> = received
                    .iter()
                    .map(|d| (d.recipients.clone(), rapport_mail::parse(&d.raw).subject))
                    .collect();
                panic!("no mail to {to} containing {needle:?}; received: {subjects:?}");
            }
        }
    }
}

impl Drop for Desk {
    fn drop(&mut self) {
        // Fields are dropped after this body: stop the server before its files go.
        let _ = self.server.child.kill();
        let _ = self.server.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs an admin command that reads a password from standard input, with [`PASSWORD`].
fn with_password(dir: &Path, url: &str, args: &[&str]) {
    let mut args = args.to_vec();
    args.push("--password-stdin");
    let mut child = rapport(dir, url, &args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rapport");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .expect("write the password");
    let out = child.wait_with_output().expect("wait for rapport");
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
}

/// A plain GET with a `Cookie` header, as the browser holding those cookies would send it:
/// the status alone (pages in a browser hide it).
fn status_with_cookie(addr: &str, path: &str, cookie: &str) -> u16 {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// What one browser test holds: a permit (see [`BROWSERS`]), the driver and the desk; the start
/// time, to report how long the test took.
struct Session {
    _permit: SemaphorePermit<'static>,
    driver: ChromeDriver,
    desk: Desk,
    started: Instant,
    name: &'static str,
}

impl Session {
    /// `None` when the test is skipped (no chromedriver outside CI).
    async fn start(name: &'static str) -> Option<Self> {
        let permit = BROWSERS.acquire().await.expect("semaphore");
        let started = Instant::now();
        let driver = block_in_place(ChromeDriver::start)?;
        let desk = Desk::start().await;
        Some(Self {
            _permit: permit,
            driver,
            desk,
            started,
            name,
        })
    }

    async fn browser(&mut self) -> Browser {
        let base = self.desk.base();
        self.driver.browser(&base).await
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Printed with --nocapture: how long each browser test takes, for the suite's budget.
        eprintln!(
            "browser test {} took {:.1}s",
            self.name,
            self.started.elapsed().as_secs_f64()
        );
    }
}

const ANN: (&str, &str) = ("ann@customer.example", "Ann Müller");
const BOB: (&str, &str) = ("bob@other.example", "Bob Okafor");

/// Sign-in (a wrong password refused, then the right one), the views with their tickets, and
/// sign-out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_signs_in_sees_the_views_and_signs_out() {
    let Some(mut s) = Session::start("agent_signs_in_sees_the_views_and_signs_out").await else {
        return;
    };
    let sam = s.desk.agent_id(SAM.0).await;
    let priya = s.desk.agent_id(PRIYA.0).await;
    let mine = s
        .desk
        .ticket_id(
            "Router reboots every evening",
            ANN,
            "My router reboots every evening at 8pm.",
            json!({ "assignee_id": sam, "priority": "high" }),
        )
        .await;
    let unassigned = s
        .desk
        .ticket_id(
            "Invoice 2026-114 is wrong",
            BOB,
            "The VAT is missing.",
            json!({}),
        )
        .await;
    let theirs = s
        .desk
        .ticket_id(
            "VPN drops every hour",
            BOB,
            "The tunnel drops hourly.",
            json!({ "assignee_id": priya }),
        )
        .await;
    let b = s.browser().await;

    b.goto("/login").await;
    b.wait_for("form#login").await;
    b.wait_for("form#login input[name=email]").await;
    b.wait_for("form#login input[name=password]").await;
    b.screenshots("login").await;
    b.fill("form#login input[name=email]", SAM.0).await;
    b.fill("form#login input[name=password]", "not the password at all")
        .await;
    b.click("form#login button[type=submit]").await;
    b.wait_for(".flash.error").await;
    assert!(
        b.all("nav#views").await.is_empty(),
        "a wrong password signs nobody in"
    );

    b.fill("form#login input[name=email]", SAM.0).await;
    b.fill("form#login input[name=password]", PASSWORD).await;
    b.click("form#login button[type=submit]").await;
    b.wait_for("nav#views").await;
    assert_eq!(b.path().await, "/", "signing in lands on the views");
    for view in ["mine", "unassigned", "team", "pending", "all"] {
        b.wait_for(&format!("nav#views a[data-view={view}]")).await;
    }
    b.wait_for("tr.ticket-row[data-ticket-id]").await;
    b.screenshots("views").await;

    // Each view lists exactly its tickets, each linking to its page.
    for (view, expected) in [
        ("all", vec![mine, unassigned, theirs]),
        ("mine", vec![mine]),
        ("unassigned", vec![unassigned]),
    ] {
        b.click(&format!("nav#views a[data-view={view}]")).await;
        wait_for_rows(&b, &expected, view).await;
        for id in expected {
            let link = format!("tr.ticket-row[data-ticket-id='{id}'] a.ticket-link");
            let href = b.attr(&link, "href").await.unwrap_or_default();
            assert!(href.ends_with(&format!("/t/{id}")), "{view}: {href}");
        }
    }
    // The last view shown is "unassigned".
    b.click(&format!(
        "tr.ticket-row[data-ticket-id='{unassigned}'] a.ticket-link"
    ))
    .await;
    let page = format!("/t/{unassigned}");
    b.wait_for_path(|p| p == page, &page).await;

    b.click("form#logout button").await;
    b.wait_for("form#login").await;
    // Signed out means signed out: the views send us back to the login form.
    b.goto("/").await;
    b.wait_for("form#login").await;
    assert!(b.all("nav#views").await.is_empty());
    b.close().await;
}

/// Waits until the rows shown are exactly `expected` (in any order).
async fn wait_for_rows(b: &Browser, expected: &[i64], view: &str) {
    let mut want: Vec<String> = expected.iter().map(|id| id.to_string()).collect();
    want.sort();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut seen = Vec::new();
        for row in b.all("tr.ticket-row[data-ticket-id]").await {
            if let Ok(Some(id)) = row.attr("data-ticket-id").await {
                seen.push(id);
            }
        }
        seen.sort();
        if seen == want {
            return;
        }
        if Instant::now() >= deadline {
            b.fail(&format!("view {view}: rows {seen:?}, expected {want:?}"))
                .await;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A ticket's page: the conversation (customer message, note, events), a reply that reaches
/// the customer's mail, a note that does not, the properties form and the customer's context.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_works_a_ticket_on_its_page() {
    let Some(mut s) = Session::start("agent_works_a_ticket_on_its_page").await else {
        return;
    };
    let priya = s.desk.agent_id(PRIYA.0).await;
    let ticket = s
        .desk
        .ticket(
            "Router reboots every evening",
            ANN,
            "My router from order 4711-22 reboots every evening at 8pm.",
            json!({}),
        )
        .await;
    let id = ticket["id"].as_i64().expect("id");
    let customer = ticket["customer"]["id"].as_i64().expect("customer id");
    let (code, body) = s
        .desk
        .api(
            "PATCH",
            &format!("/customers/{customer}"),
            Some(json!({ "time_zone": "Europe/Berlin" })),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    s.desk
        .note(id, "Known firmware issue, see the 2.4 release notes.")
        .await;
    let b = s.browser().await;
    b.login(SAM.0).await;

    b.goto(&format!("/t/{id}")).await;
    b.wait_for_text(
        "#conversation .message[data-kind=customer]",
        "reboots every evening",
    )
    .await;
    b.wait_for_text(
        "#conversation .message[data-kind=note]",
        "Known firmware issue",
    )
    .await;
    let aside = b.text("aside#customer").await;
    assert!(aside.contains(ANN.1), "the customer is named: {aside}");
    let local = b.text("aside#customer #customer-local-time").await;
    assert!(
        local.chars().any(|c| c.is_ascii_digit()),
        "the customer's local time: {local:?}"
    );
    b.wait_for("form#reply textarea[name=body]").await;
    b.wait_for("form#reply button[name=kind][value=reply]")
        .await;
    b.wait_for("form#reply button[name=kind][value=note]").await;
    b.screenshots("ticket").await;
    // The SLA clock runs beside the conversation; a promise made with a quick choice shows
    // with its countdown and goes out under the next reply.
    b.wait_for_text(
        "#sla .sla-target[data-target=first_response][data-state=running]",
        "First response",
    )
    .await;
    b.select("form#commitment-form select[name=kind]", "promise")
        .await;
    b.fill(
        "form#commitment-form input[name=description]",
        "A replacement router ships this week",
    )
    .await;
    b.click("form#commitment-form button[name=quick][value=next_week]")
        .await;
    b.wait_for_text(
        "#commitments .commitment[data-kind=promise]",
        "A replacement router ships this week",
    )
    .await;
    b.goto(&format!("/t/{id}")).await;
    b.wait_for("#commitments .commitment[data-kind=promise] .sla")
        .await;
    b.screenshots("commitments").await;

    // A public reply shows in the conversation and leaves as mail to the customer.
    b.fill(
        "form#reply textarea[name=body]",
        "A new firmware fixes this; it is on its way.",
    )
    .await;
    b.click("form#reply button[name=kind][value=reply]").await;
    b.wait_for_text(
        "#conversation .message[data-kind=reply]",
        "A new firmware fixes this",
    )
    .await;
    let mail = s
        .desk
        .wait_for_mail(ANN.0, "A new firmware fixes this")
        .await;
    assert!(
        mail.contains("What we have promised you") && mail.contains("A replacement router ships"),
        "the reply repeats the promise: {mail}"
    );

    // A note shows as a note, and the customer is never mailed it.
    b.fill(
        "form#reply textarea[name=body]",
        "Escalated to the firmware team.",
    )
    .await;
    b.click("form#reply button[name=kind][value=note]").await;
    b.wait_for_text(
        "#conversation .message[data-kind=note]",
        "Escalated to the firmware team",
    )
    .await;
    let messages = s.desk.messages(id).await;
    let note = messages
        .iter()
        .find(|m| m["body"] == "Escalated to the firmware team.")
        .unwrap_or_else(|| panic!("the note is stored: {messages:?}"));
    assert_eq!(note["public"], false, "{note}");

    // Properties: status, priority and assignee in one save, each recorded.
    b.select("form#props select[name=status]", "pending").await;
    b.select("form#props select[name=priority]", "high").await;
    b.select_labelled("form#props select[name=assignee]", PRIYA.1)
        .await;
    b.click("form#props button#save-props").await;
    s.desk
        .wait_for_ticket(
            id,
            |t| t["status"] == "pending" && t["priority"] == "high" && t["assignee_id"] == priya,
            "became pending, high, Priya's",
        )
        .await;
    b.goto(&format!("/t/{id}")).await;
    b.wait_for("#conversation .event").await;
    let status = b
        .wait_for("form#props select[name=status]")
        .await
        .prop("value")
        .await
        .expect("value");
    assert_eq!(
        status.as_deref(),
        Some("pending"),
        "the page shows the change"
    );
    b.close().await;
}

/// Focus mode opens the most urgent ticket; "done, next" solves it and opens the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn focus_mode_goes_from_the_most_urgent_to_the_next() {
    let Some(mut s) = Session::start("focus_mode_goes_from_the_most_urgent_to_the_next").await
    else {
        return;
    };
    let sam = s.desk.agent_id(SAM.0).await;
    let mut ids = Vec::new();
    for (subject, priority) in [
        ("Printer offline", "low"),
        ("Whole office offline", "urgent"),
        ("Slow Wi-Fi upstairs", "high"),
    ] {
        ids.push(
            s.desk
                .ticket_id(
                    subject,
                    ANN,
                    &format!("{subject}, please help."),
                    json!({ "assignee_id": sam, "priority": priority }),
                )
                .await,
        );
    }
    let (urgent, high) = (ids[1], ids[2]);
    let b = s.browser().await;
    b.login(SAM.0).await;

    b.goto("/focus").await;
    let first = format!("/t/{urgent}?focus=1");
    b.wait_for_path(|p| p == first, &first).await;
    b.wait_for("body.focus").await;
    b.wait_for_text("#conversation .message", "Whole office offline")
        .await;
    b.screenshots("focus").await;

    b.click("form#done-next button").await;
    let next = format!("/t/{high}?focus=1");
    b.wait_for_path(|p| p == next, &next).await;
    b.wait_for("body.focus").await;
    s.desk
        .wait_for_ticket(urgent, |t| t["status"] == "solved", "was solved")
        .await;
    b.close().await;
}

/// Two agents on one ticket: each sees the other arrive and write without reloading, and a
/// reply written on a page that is out of date is held back with what changed until confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_see_each_other_live_and_stale_replies_are_held() {
    let Some(mut s) =
        Session::start("two_agents_see_each_other_live_and_stale_replies_are_held").await
    else {
        return;
    };
    let id = s
        .desk
        .ticket_id(
            "Router reboots every evening",
            ANN,
            "My router reboots every evening at 8pm.",
            json!({}),
        )
        .await;
    let a = s.browser().await;
    let b = s.browser().await;
    a.login(SAM.0).await;
    b.login(PRIYA.0).await;

    a.goto(&format!("/t/{id}")).await;
    a.wait_for("#conversation").await;
    b.goto(&format!("/t/{id}")).await;
    b.wait_for("#conversation").await;
    // A's page, untouched since it loaded, shows B arriving and B's note.
    a.wait_for_text("#presence", PRIYA.1).await;
    b.fill("form#reply textarea[name=body]", "Checking the logs now.")
        .await;
    b.click("form#reply button[name=kind][value=note]").await;
    a.wait_for_text("#conversation .message", "Checking the logs now")
        .await;

    // A starts a reply (the draft is based on what A's page shows now); B replies to the
    // customer meanwhile; A's page shows it live, but A's draft predates it.
    a.fill(
        "form#reply textarea[name=body]",
        "Please try the new firmware",
    )
    .await;
    b.fill(
        "form#reply textarea[name=body]",
        "We are replacing your router today.",
    )
    .await;
    b.click("form#reply button[name=kind][value=reply]").await;
    a.wait_for_text("#conversation .message", "We are replacing your router")
        .await;
    a.type_more("form#reply textarea[name=body]", " first.")
        .await;
    a.click("form#reply button[name=kind][value=reply]").await;
    let warning = a.wait_for("#stale-warning").await;
    let said = warning.text().await.expect("warning text");
    assert!(
        said.contains(PRIYA.1) || said.contains("We are replacing your router"),
        "the warning says what changed: {said:?}"
    );
    let held = s.desk.messages(id).await;
    assert!(
        !held
            .iter()
            .any(|m| m["body"] == "Please try the new firmware first."),
        "nothing is sent before A confirms: {held:?}"
    );
    a.click("#stale-warning button[name=confirm_stale]").await;
    a.wait_for_text(
        "#conversation .message[data-kind=reply]",
        "Please try the new firmware first",
    )
    .await;
    let sent = s.desk.messages(id).await;
    let copies = sent
        .iter()
        .filter(|m| m["body"] == "Please try the new firmware first.")
        .count();
    assert_eq!(copies, 1, "sent once after confirming: {sent:?}");
    a.close().await;
    b.close().await;
}

/// The customer portal: a sign-in link by email (good once), the customer's own tickets only,
/// never internal notes, a reply with a file, a person to contact on every page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_signs_in_by_email_link_and_replies_in_the_portal() {
    let Some(mut s) =
        Session::start("customer_signs_in_by_email_link_and_replies_in_the_portal").await
    else {
        return;
    };
    let mine = s
        .desk
        .ticket_id(
            "Router reboots every evening",
            ANN,
            "My router reboots every evening at 8pm.",
            json!({}),
        )
        .await;
    s.desk
        .note(mine, "INTERNAL: customer is on the legacy plan")
        .await;
    let (code, body) = s
        .desk
        .api(
            "POST",
            &format!("/tickets/{mine}/messages"),
            Some(json!({ "body": "Thanks Ann, a new firmware is on its way." })),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let other = s
        .desk
        .ticket_id(
            "Invoice 2026-114 is wrong",
            BOB,
            "SECRET-BOB: the VAT is missing.",
            json!({}),
        )
        .await;
    let b = s.browser().await;

    b.goto("/portal/login").await;
    b.wait_for("#human-contact").await;
    b.fill("form#portal-login input[name=email]", ANN.0).await;
    b.click("form#portal-login button").await;
    b.wait_for("#link-sent").await;
    b.wait_for("#human-contact").await;

    let mail = s.desk.wait_for_mail(ANN.0, "/portal/auth/").await;
    let token: String = mail
        .split("/portal/auth/")
        .nth(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                .collect()
        })
        .unwrap_or_default();
    assert!(token.len() >= 16, "a sign-in link in: {mail}");
    // The link names the configured base URL; the test server listens on another port.
    let link = format!("/portal/auth/{token}");
    b.goto(&link).await;
    // The link opens a confirmation (mail scanners open links too); the button signs in.
    b.click("form#portal-confirm button").await;
    b.wait_for_path(|p| p == "/portal", "/portal").await;
    b.wait_for("#human-contact").await;
    b.wait_for(".portal-ticket a").await;
    let mut hrefs = Vec::new();
    for a in b.all(".portal-ticket a").await {
        hrefs.push(a.attr("href").await.ok().flatten().unwrap_or_default());
    }
    assert!(
        hrefs
            .iter()
            .any(|h| h.ends_with(&format!("/portal/t/{mine}"))),
        "{hrefs:?}"
    );
    assert!(
        !hrefs
            .iter()
            .any(|h| h.ends_with(&format!("/portal/t/{other}"))),
        "only the customer's own tickets: {hrefs:?}"
    );
    b.screenshots("portal-list").await;

    b.click(&format!(".portal-ticket a[href$='/portal/t/{mine}']"))
        .await;
    let page = format!("/portal/t/{mine}");
    b.wait_for_path(|p| p == page, &page).await;
    b.wait_for_text(".message", "reboots every evening").await;
    b.wait_for_text(".message", "a new firmware is on its way")
        .await;
    b.wait_for("#human-contact").await;
    assert!(
        !b.source().await.contains("legacy plan"),
        "internal notes never reach the portal"
    );
    b.wait_for("form#portal-reply input[type=file][name=file]")
        .await;
    b.screenshots("portal-ticket").await;

    let upload = s.desk.dir.join("router-log.txt");
    std::fs::write(&upload, "20:00:01 watchdog reset\n").expect("write the upload");
    b.fill(
        "form#portal-reply textarea[name=body]",
        "It happened again tonight, log attached.",
    )
    .await;
    b.fill(
        "form#portal-reply input[type=file][name=file]",
        &upload.display().to_string(),
    )
    .await;
    b.click("form#portal-reply button").await;
    b.wait_for_text(".message", "It happened again tonight")
        .await;
    let messages = s.desk.messages(mine).await;
    let reply = messages
        .iter()
        .find(|m| m["body"] == "It happened again tonight, log attached.")
        .unwrap_or_else(|| panic!("the portal reply is stored: {messages:?}"));
    assert_eq!(
        reply["attachments"][0]["filename"], "router-log.txt",
        "{reply}"
    );

    // A sign-in link works once.
    b.goto(&link).await;
    b.wait_for(".flash.error").await;
    b.wait_for("#human-contact").await;

    // Another customer's ticket is not found, whether asked in the browser or directly.
    b.goto(&format!("/portal/t/{other}")).await;
    b.wait_for("h1").await;
    assert!(!b.source().await.contains("SECRET-BOB"));
    let cookie = b.cookie_header().await;
    let code = block_in_place(|| {
        status_with_cookie(&s.desk.server.addr, &format!("/portal/t/{other}"), &cookie)
    });
    assert_eq!(code, 404, "another customer's ticket, with Ann's session");
    let code = block_in_place(|| {
        status_with_cookie(&s.desk.server.addr, &format!("/portal/t/{mine}"), "")
    });
    assert_ne!(code, 200, "no ticket without a session");
    // Last, so that a missing contact on the error page hides no other check.
    b.wait_for("#human-contact").await;
    b.close().await;
}

/// One owner, other teams helping, an honest no and an irate customer, in the workspace: Sam
/// sets himself away and back, asks Finance about a refund from the ticket page; Priya (in
/// Finance) finds it in her team's queue and answers it done; Sam sees the answer on his ticket,
/// hands it over with a reason, and tells another customer honestly that someone else can help —
/// which solves the ticket and reaches the customer by mail. An irate message is flagged with its
/// reasons on the ticket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_asks_a_team_refers_and_meets_an_irate_customer() {
    let Some(mut s) = Session::start("owner_asks_a_team_refers_and_meets_an_irate_customer").await
    else {
        return;
    };
    let sam = s.desk.agent_id(SAM.0).await;
    let priya = s.desk.agent_id(PRIYA.0).await;
    let admin = s.desk.admin_token().await;
    let (code, team) = s
        .desk
        .api_as(&admin, "POST", "/teams", json!({ "name": "Finance" }))
        .await;
    assert_eq!(code, 201, "{team}");
    let finance = team["id"].as_i64().expect("team id");
    let (code, body) = s
        .desk
        .api_as(
            &admin,
            "POST",
            &format!("/teams/{finance}/members"),
            json!({ "agent_id": priya }),
        )
        .await;
    assert!(code == 200 || code == 201 || code == 204, "{code} {body}");
    let refund = s
        .desk
        .ticket_id(
            "Charged twice for March",
            ANN,
            "I was charged twice for my March invoice, please refund one.",
            json!({ "assignee_id": sam }),
        )
        .await;
    let angry = s
        .desk
        .ticket_id(
            "Still no internet",
            BOB,
            "This is the THIRD time I'm writing. Absolutely unacceptable!!! Fix it today or I'm \
             cancelling and telling everyone.",
            json!({ "assignee_id": sam }),
        )
        .await;

    let b = s.browser().await;
    b.login(SAM.0).await;
    // Availability from the header, on every page.
    b.select("form#availability select[name=availability]", "away")
        .await;
    b.wait_for("form#availability[data-availability=away]")
        .await;
    b.select("form#availability select[name=availability]", "online")
        .await;
    b.wait_for("form#availability[data-availability=online]")
        .await;

    // The owner asks Finance, from the ticket.
    b.goto(&format!("/t/{refund}")).await;
    b.select_labelled("form#ask-form select[name=team]", "Finance")
        .await;
    b.fill(
        "form#ask-form textarea[name=body]",
        "Was the second March charge refunded? Which date?",
    )
    .await;
    b.click("form#ask-form button#ask-team").await;
    b.wait_for_text(
        "#requests .internal-request.request-open",
        "second March charge",
    )
    .await;
    let request = b
        .attr("#requests .internal-request", "data-request")
        .await
        .expect("request id");

    // Priya works it from her team's queue and answers it done.
    let p = s.browser().await;
    p.login(PRIYA.0).await;
    p.goto("/requests").await;
    p.wait_for_text("#request-list .request-row", "second March charge")
        .await;
    p.goto(&format!("/requests/{request}")).await;
    p.fill(
        &format!("#request-{request} form.request-reply textarea[name=body]"),
        "Refunded on 3 March, reference RF-2201.",
    )
    .await;
    p.click(&format!(
        "#request-{request} form.request-reply button.request-done"
    ))
    .await;
    p.wait_for(&format!("#request-{request}.request-done"))
        .await;
    p.close().await;

    // The owner sees the answer on his ticket, still his; the customer saw none of it.
    b.goto(&format!("/t/{refund}")).await;
    b.wait_for_text("#requests .internal-request.request-done", "RF-2201")
        .await;
    b.screenshots("internal-request").await;
    let messages = s.desk.messages(refund).await;
    assert!(
        messages
            .iter()
            .all(|m| !m["body"].as_str().unwrap_or("").contains("RF-2201")),
        "the team's answer is not a message on the ticket: {messages:?}"
    );

    // Handing it over needs a reason; with one, the transfer shows.
    b.select_labelled("form#props select[name=assignee]", PRIYA.1)
        .await;
    b.click("form#props button#save-props").await;
    b.wait_for("p.flash.error").await;
    assert_eq!(
        s.desk.get_ticket(refund).await["assignee_id"],
        sam,
        "nothing changed"
    );
    b.goto(&format!("/t/{refund}")).await;
    b.select_labelled("form#props select[name=assignee]", PRIYA.1)
        .await;
    b.fill(
        "form#props input[name=transfer_reason]",
        "Priya handles refunds",
    )
    .await;
    b.click("form#props button#save-props").await;
    s.desk
        .wait_for_ticket(refund, |t| t["assignee_id"] == priya, "went to Priya")
        .await;
    b.goto(&format!("/t/{refund}")).await;
    b.wait_for_text("#transfers .transfer", "Priya handles refunds")
        .await;

    // The irate customer: flagged with the reasons, raised one step.
    b.goto(&format!("/t/{angry}")).await;
    b.wait_for("#irate-badge").await;
    b.wait_for("#tone .tone-reasons li[data-rule]").await;
    b.screenshots("tone").await;
    assert_eq!(s.desk.get_ticket(angry).await["priority"], "high");

    // The honest no: said early, with who can help and how; the ticket is solved.
    b.client
        .execute("window.confirm = () => true;", vec![])
        .await
        .expect("accept confirmations");
    b.click("details#refer summary").await;
    b.fill(
        "form#refer-form textarea[name=body]",
        "I'm sorry: the outage is in your building's wiring, which we cannot repair.",
    )
    .await;
    b.fill(
        "form#refer-form input[name=referred_to]",
        "Your landlord's electrician",
    )
    .await;
    b.fill(
        "form#refer-form input[name=how_to_reach]",
        "the caretaker's number on the notice board",
    )
    .await;
    b.click("form#refer-form button#send-referral").await;
    s.desk
        .wait_for_ticket(angry, |t| t["status"] == "solved", "was solved")
        .await;
    b.goto(&format!("/t/{angry}")).await;
    b.wait_for_text("#referral", "Your landlord's electrician")
        .await;
    let mail = s.desk.wait_for_mail(BOB.0, "Who can help").await;
    assert!(
        mail.contains("Your landlord's electrician") && mail.contains("caretaker's number"),
        "the customer is told who and how: {mail}"
    );
    b.close().await;
}
#[path = "browser/chat.rs"]
mod chat;
#[path = "browser/phone.rs"]
mod phone;
