//! The workspace and the portal over real HTTP, on SQLite and PostgreSQL: every page renders
//! (in English and German), sessions, CSRF, lockout, the stale-reply check, focus mode, live
//! events, and the portal's walls between customers.

use rapport_core::{Actor, Channel, MessageKind, Millis, Priority, Role, TicketStatus};
use rapport_store::{
    Ctx, CustomerPatch, NewAgent, NewMessage, NewOrganization, NewTicket, Requester, Store,
};
use rapport_web::auth;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use std::collections::HashMap;
use std::sync::Arc;

pub(super) const PASSWORD: &str = "a long enough password";

/// A browser without a browser: keeps cookies, never follows redirects.
pub(super) struct Visitor {
    base: String,
    pub(super) client: reqwest::Client,
    cookies: HashMap<String, String>,
    pub(super) language: &'static str,
    /// What a reverse proxy in front would write into `X-Forwarded-For`.
    pub(super) forwarded_for: Option<&'static str>,
}

pub(super) struct Page {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: String,
}

impl Page {
    pub(super) fn location(&self) -> String {
        self.headers
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }

    /// The value of the first hidden `_csrf` field.
    pub(super) fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"_csrf\" value=\"")
            .expect("a form with a CSRF token");
        let rest = &self.body[at + 20..];
        rest[..rest.find('"').unwrap()].to_string()
    }
}

impl Visitor {
    pub(super) fn new(base: &str) -> Self {
        Self {
            base: base.to_string(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
            language: "en",
            forwarded_for: None,
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub(super) async fn send(&mut self, mut req: reqwest::RequestBuilder) -> Page {
        if let Some(client) = self.forwarded_for {
            req = req.header("x-forwarded-for", client);
        }
        let resp = req
            .header("cookie", self.cookie_header())
            .header("accept-language", self.language)
            .send()
            .await
            .unwrap();
        for v in resp.headers().get_all(SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), val.to_string());
            }
        }
        let status = resp.status();
        let headers = resp.headers().clone();
        Page {
            status,
            headers,
            body: resp.text().await.unwrap(),
        }
    }

    pub(super) async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    pub(super) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self.client.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }

    pub(super) async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let csrf = self.get("/login").await.csrf();
        self.post(
            "/login",
            &[
                ("_csrf", &csrf),
                ("email", email),
                ("password", password),
                ("next", "/"),
            ],
        )
        .await
    }
}

pub(super) struct Desk {
    pub(super) store: Arc<dyn Store>,
    pub(super) base: String,
    pub(super) ann: i64,
    pub(super) bo: i64,
    /// Customer tickets: Carla's urgent one (Ann's), Carla's normal one, Dan's.
    pub(super) urgent: i64,
    pub(super) normal: i64,
    pub(super) dans: i64,
    pub(super) carla: i64,
    pub(super) stop: tokio::sync::oneshot::Sender<()>,
}

pub(super) fn ctx(actor: Actor) -> Ctx {
    Ctx {
        actor,
        at: rapport_web::now(),
    }
}

pub(super) async fn open_desk(store: Arc<dyn Store>) -> Desk {
    open_desk_behind(store, rapport_web::TrustedProxies::default()).await
}

/// A desk whose clients come through reverse proxies at these addresses.
async fn open_desk_behind(store: Arc<dyn Store>, proxies: rapport_web::TrustedProxies) -> Desk {
    let hash = auth::hash_password(PASSWORD).unwrap();
    let mut agents = Vec::new();
    for (email, name) in [
        ("ann@example.com", "Ann Agent"),
        ("bo@example.com", "Bo Colleague"),
    ] {
        let a = store
            .create_agent(
                ctx(Actor::SYSTEM),
                NewAgent {
                    email: email.into(),
                    name: name.into(),
                    role: Role::Agent,
                    password_hash: Some(hash.clone()),
                },
            )
            .await
            .unwrap();
        store
            .add_team_member(ctx(Actor::SYSTEM), 1, a.id)
            .await
            .unwrap();
        agents.push(a.id);
    }
    let org = store
        .create_organization(
            ctx(Actor::SYSTEM),
            NewOrganization {
                name: "Acme".into(),
                tier: rapport_core::contact::Tier::Enterprise,
                contract_value_cents: 1_200_000,
                domains: vec!["acme.example".into()],
                notes: "Key account".into(),
            },
            None,
        )
        .await
        .unwrap()
        .value;
    let ticket =
        |subject: &str, email: &str, priority: Priority, assignee: Option<i64>| NewTicket {
            subject: subject.into(),
            requester: Requester {
                customer_id: None,
                email: email.into(),
                name: None,
            },
            body: format!("Body of {subject}"),
            channel: Channel::Email,
            priority,
            status: TicketStatus::Open,
            tags: vec!["vip".into()],
            inbox: None,
            assignee_id: assignee,
            team_id: Some(1),
            custom_fields: Default::default(),
        };
    let create = |t: NewTicket| {
        let store = store.clone();
        async move {
            store
                .create_ticket(ctx(Actor::SYSTEM), t, None)
                .await
                .unwrap()
                .value
        }
    };
    let urgent = create(ticket(
        "Router down at HQ",
        "carla@acme.example",
        Priority::Urgent,
        Some(agents[0]),
    ))
    .await;
    let normal = create(ticket(
        "Invoice question",
        "carla@acme.example",
        Priority::Normal,
        Some(agents[0]),
    ))
    .await;
    let dans = create(ticket(
        "Dan's private matter",
        "dan@acme.example",
        Priority::Normal,
        None,
    ))
    .await;
    let carla = urgent.customer.id;
    let patch = CustomerPatch {
        time_zone: Some(Some("Europe/Berlin".into())),
        notes: Some("Prefers mornings".into()),
        ..Default::default()
    };
    store
        .update_customer(ctx(Actor::SYSTEM), carla, patch)
        .await
        .unwrap();
    assert_eq!(
        store.customer(carla).await.unwrap().organization_id,
        Some(org.id)
    );
    // An internal note the customer must never see.
    let note = NewMessage {
        kind: MessageKind::Note,
        channel: Channel::Email,
        body: "Internal: check the warranty".into(),
        send_email: false,
        attachments: Vec::new(),
    };
    store
        .add_message(ctx(Actor::agent(agents[1])), urgent.id, note, None)
        .await
        .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = rapport_web::AppState::new(
        store.clone(),
        rapport_web::ui::UiConfig {
            base_url: base.clone(),
        },
    )
    .with_trusted_proxies(proxies);
    tokio::spawn(rapport_web::serve(listener, state, async {
        let _ = stopped.await;
    }));
    Desk {
        store,
        base,
        ann: agents[0],
        bo: agents[1],
        urgent: urgent.id,
        normal: normal.id,
        dans: dans.id,
        carla,
        stop,
    }
}

async fn agents_sign_in_and_work_tickets(store: Arc<dyn Store>) {
    let desk = open_desk(store).await;
    let mut ann = Visitor::new(&desk.base);

    // Signed out: every page sends you to the login, remembering where you wanted to go.
    let page = ann.get(&format!("/t/{}", desk.urgent)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        page.location(),
        format!("/login?next=%2Ft%2F{}", desk.urgent)
    );

    // A login without the form's token is refused, whatever the password.
    let page = ann
        .post(
            "/login",
            &[("email", "ann@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    let page = ann.sign_in("ann@example.com", "wrong password").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.body.contains("class=\"flash error\""));
    let page = ann.sign_in("nobody@example.com", PASSWORD).await;
    assert_eq!(
        page.status,
        StatusCode::UNAUTHORIZED,
        "unknown accounts get the same answer"
    );

    let page = ann.sign_in("ann@example.com", PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(ann.cookies.contains_key("rapport_session"));

    // Views: hers, with counts; the filter of any view.
    let page = ann.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Router down at HQ") && page.body.contains("Invoice question"));
    assert!(
        !page.body.contains("Dan&#x27;s private matter"),
        "Dan's ticket is nobody's: not in 'mine'"
    );
    assert!(page.body.contains(r#"data-view="unassigned""#));
    let page = ann.get("/?view=unassigned").await;
    assert!(
        page.body
            .contains(&format!(r#"data-ticket-id="{}""#, desk.dans))
    );
    let page = ann.get("/?priority=urgent&tier=enterprise").await;
    assert!(page.body.contains("Router down at HQ"));
    assert!(!page.body.contains("Invoice question"));
    let page = ann.get("/?view=nonsense").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("<h1>404"), "errors are pages, not JSON");
    let page = ann.get("/rows?view=all").await;
    assert_eq!(page.body.matches("class=\"ticket-row\"").count(), 3);

    // The ticket page: conversation with the note, customer context beside it.
    let page = ann.get(&format!("/t/{}", desk.urgent)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Internal: check the warranty"));
    assert!(page.body.contains(r#"data-kind="note""#));
    assert!(
        page.body.contains("Acme")
            && page.body.contains("Key account")
            && page.body.contains("Prefers mornings")
    );
    assert!(
        page.body.contains("Europe&#x2f;Berlin"),
        "the customer's local time is shown"
    );
    assert!(
        page.body.contains("Invoice question"),
        "her other open ticket is beside it"
    );
    let csrf = page.csrf();
    let seen = ann_seen(&page.body);

    // A form without the session's token changes nothing.
    let before = desk
        .store
        .list_messages(desk.urgent, rapport_store::PageRequest::first(50))
        .await
        .unwrap()
        .items
        .len();
    let page = ann
        .post(
            &format!("/t/{}/reply", desk.urgent),
            &[
                ("_csrf", "forged"),
                ("body", "Hi"),
                ("kind", "reply"),
                ("seen", &seen),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(
        desk.store
            .list_messages(desk.urgent, rapport_store::PageRequest::first(50))
            .await
            .unwrap()
            .items
            .len(),
        before
    );

    // A reply is stored and emailed.
    let page = ann
        .post(
            &format!("/t/{}/reply", desk.urgent),
            &[
                ("_csrf", &csrf),
                ("body", "We are on it."),
                ("kind", "reply"),
                ("seen", &seen),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let emails = desk.store.ticket_emails(desk.urgent).await.unwrap();
    assert_eq!(emails.len(), 1, "the reply is queued to the customer");

    // Bo writes while Ann's page is old: Ann is asked before her reply goes out.
    let page = ann.get(&format!("/t/{}", desk.urgent)).await;
    let seen = ann_seen(&page.body);
    let note = NewMessage {
        kind: MessageKind::Note,
        channel: Channel::Email,
        body: "I called her, @Ann".into(),
        send_email: false,
        attachments: Vec::new(),
    };
    desk.store
        .add_message(ctx(Actor::agent(desk.bo)), desk.urgent, note, None)
        .await
        .unwrap();
    let page = ann
        .post(
            &format!("/t/{}/reply", desk.urgent),
            &[
                ("_csrf", &csrf),
                ("body", "Second answer"),
                ("kind", "reply"),
                ("seen", &seen),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.body.contains("id=\"stale-warning\"") && page.body.contains("Bo Colleague"));
    assert!(page.body.contains("Second answer"), "the draft is kept");
    assert_eq!(
        desk.store.ticket_emails(desk.urgent).await.unwrap().len(),
        1,
        "nothing sent yet"
    );
    // "Send anyway" carries what the warning showed; only later changes would stop it again.
    let seen = ann_seen(&page.body);
    let page = ann
        .post(
            &format!("/t/{}/reply", desk.urgent),
            &[
                ("_csrf", &csrf),
                ("body", "Second answer"),
                ("kind", "reply"),
                ("seen", &seen),
                ("confirm_stale", "1"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        desk.store.ticket_emails(desk.urgent).await.unwrap().len(),
        2
    );
    // Bo's note named her: it is in her Mentions view, and marked on the page.
    let page = ann.get("/?view=mentions").await;
    assert!(
        page.body.contains(
            r#"data-view="mentions" href="/?view=mentions" class="active" aria-current="page">
      <span>Mentions of me</span><span class="count">1</span>"#
        ),
        "the Mentions count is hers alone"
    );
    assert!(page.body.contains("Router down at HQ") && !page.body.contains("Invoice question"));
    let page = ann.get(&format!("/t/{}", desk.urgent)).await;
    assert!(
        page.body
            .contains(r#"<strong class="mention">@Ann</strong>"#)
    );

    // Properties: one form, each change recorded and shown.
    let page = ann
        .post(
            &format!("/t/{}/props", desk.normal),
            &[
                ("_csrf", &csrf),
                ("status", "pending"),
                ("priority", "high"),
                ("assignee", &desk.bo.to_string()),
                ("team", "1"),
                ("tags", "billing, vip"),
                ("transfer_reason", "Bo handles invoices"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let t = desk.store.ticket(desk.normal).await.unwrap();
    assert_eq!(
        (t.status, t.priority, t.assignee_id),
        (TicketStatus::Pending, Priority::High, Some(desk.bo))
    );
    assert_eq!(t.tags, vec!["billing".to_string(), "vip".to_string()]);
    let page = ann.get(&format!("/t/{}", desk.normal)).await;
    assert!(
        page.body.contains("Bo Colleague") && page.body.contains("data-event=\"ticket.changed\"")
    );
    let page = ann
        .post(
            &format!("/t/{}/props", desk.normal),
            &[("_csrf", &csrf), ("status", "new")],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a rule broken is said on the page"
    );

    // Focus mode: the most urgent of hers, then the next.
    let page = ann.get("/focus").await;
    assert_eq!(page.location(), format!("/t/{}?focus=1", desk.urgent));
    let page = ann.get(&page.location()).await;
    assert!(page.body.contains("class=\"focus\"") && page.body.contains("id=\"done-next\""));
    let page = ann
        .post(&format!("/t/{}/done", desk.urgent), &[("_csrf", &csrf)])
        .await;
    assert_eq!(
        desk.store.ticket(desk.urgent).await.unwrap().status,
        TicketStatus::Solved
    );
    // Her other ticket went to Bo; next is the unassigned one of her team.
    assert_eq!(page.location(), format!("/t/{}?focus=1", desk.dans));

    // Search and the customer's page.
    let page = ann.get("/search?q=router").await;
    assert!(page.body.contains("Router down at HQ") && page.body.contains("<mark>"));
    let page = ann.get(&format!("/customers/{}", desk.carla)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"customer\""));

    // German, from the browser's preference.
    ann.language = "de-DE,de;q=0.9";
    assert!(ann.get("/").await.body.contains("Meine offenen Tickets"));
    ann.language = "en";

    // Password change ends other sessions and renews this one.
    let mut other_tab = Visitor::new(&desk.base);
    other_tab.sign_in("ann@example.com", PASSWORD).await;
    let page = ann
        .post(
            "/password",
            &[
                ("_csrf", &csrf),
                ("current", "wrong"),
                ("new", "another long password"),
                ("confirm", "another long password"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = ann
        .post(
            "/password",
            &[
                ("_csrf", &csrf),
                ("current", PASSWORD),
                ("new", "another long password"),
                ("confirm", "another long password"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        other_tab.get("/").await.status,
        StatusCode::SEE_OTHER,
        "the other session ended"
    );
    let page = ann.get("/").await;
    assert_eq!(page.status, StatusCode::OK, "this one goes on");
    let csrf = page.csrf();

    // Sign out.
    ann.post("/logout", &[("_csrf", &csrf)]).await;
    assert_eq!(ann.get("/").await.status, StatusCode::SEE_OTHER);
    let _ = desk.stop.send(());
}

pub(super) fn ann_seen(body: &str) -> String {
    let at = body.find("name=\"seen\" value=\"").unwrap();
    let rest = &body[at + 19..];
    rest[..rest.find('"').unwrap()].to_string()
}

async fn sign_in_locks_after_repeated_failures(store: Arc<dyn Store>) {
    let desk = open_desk(store).await;
    let mut v = Visitor::new(&desk.base);
    for _ in 0..5 {
        assert_eq!(
            v.sign_in("bo@example.com", "guess").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let page = v.sign_in("bo@example.com", PASSWORD).await;
    assert_eq!(
        page.status,
        StatusCode::TOO_MANY_REQUESTS,
        "locked even with the right password"
    );
    assert!(page.body.contains("15 minutes"));
    // Another account from the same place still works.
    assert_eq!(
        v.sign_in("ann@example.com", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let _ = desk.stop.send(());
}

/// Behind a trusted proxy every client arrives from the proxy's address; the address limit
/// counts the client the proxy names, so one guesser never locks everyone out.
async fn address_limits_count_the_client_behind_a_trusted_proxy(store: Arc<dyn Store>) {
    let proxies = rapport_web::TrustedProxies::parse("127.0.0.1").unwrap();
    let desk = open_desk_behind(store, proxies).await;
    let mut guesser = Visitor::new(&desk.base);
    guesser.forwarded_for = Some("198.51.100.1");
    // Twenty failures over different accounts: the address limit, not an account's.
    for i in 0..20 {
        let page = guesser
            .sign_in(&format!("nobody{i}@example.com"), "guess")
            .await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        guesser.sign_in("ann@example.com", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the guessing client is stopped"
    );
    let mut colleague = Visitor::new(&desk.base);
    colleague.forwarded_for = Some("198.51.100.2");
    assert_eq!(
        colleague.sign_in("ann@example.com", PASSWORD).await.status,
        StatusCode::SEE_OTHER,
        "another client behind the same proxy signs in"
    );
    // A client cannot pick a fresh address: the proxy appends the one it saw.
    let mut spoofer = Visitor::new(&desk.base);
    spoofer.forwarded_for = Some("203.0.113.50, 198.51.100.1");
    assert_eq!(
        spoofer.sign_in("ann@example.com", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    let _ = desk.stop.send(());
}

async fn live_events_and_presence_reach_open_pages(store: Arc<dyn Store>) {
    let desk = open_desk(store).await;
    let mut ann = Visitor::new(&desk.base);
    ann.sign_in("ann@example.com", PASSWORD).await;
    let mut bo = Visitor::new(&desk.base);
    bo.sign_in("bo@example.com", PASSWORD).await;
    let open = |v: &Visitor| {
        let req = v
            .client
            .get(format!("{}/live?ticket={}", desk.base, desk.urgent))
            .header("cookie", v.cookie_header());
        async move { req.send().await.unwrap().bytes_stream() }
    };
    let mut ann_stream = open(&ann).await;
    // Bo opens the ticket: Ann's page hears it.
    let _bo_stream = open(&bo).await;
    let seen = read_until(&mut ann_stream, "Bo Colleague").await;
    assert!(seen.contains("event: presence"));
    // Bo writes a note: Ann's page is told which ticket changed.
    let note = NewMessage {
        kind: MessageKind::Note,
        channel: Channel::Email,
        body: "live".into(),
        send_email: false,
        attachments: Vec::new(),
    };
    desk.store
        .add_message(ctx(Actor::agent(desk.bo)), desk.urgent, note, None)
        .await
        .unwrap();
    let seen = read_until(&mut ann_stream, "message.added").await;
    assert!(
        seen.contains("event: changed") && seen.contains(&format!("\"ticket_id\":{}", desk.urgent))
    );
    let _ = desk.ann;
    let _ = desk.stop.send(());
}

/// Reads an event stream until `needle` shows up (or fails after 20 s without it).
async fn read_until(
    stream: &mut (impl futures::Stream<Item = reqwest::Result<axum::body::Bytes>> + Unpin),
    needle: &str,
) -> String {
    use futures::StreamExt;
    let mut seen = String::new();
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(20), stream.next())
            .await
            .expect("an event within 20 s")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

/// The sign-in link the outbox holds for `email`, if any.
pub(super) async fn link_for(store: &Arc<dyn Store>, email: &str) -> Option<String> {
    // The link is queued in the background; give it a moment.
    for _ in 0..50 {
        let items = store
            .claim_outbox(Millis(i64::MAX / 2), 60_000, 50)
            .await
            .unwrap();
        let found = items
            .into_iter()
            .filter(|i| i.recipient == email)
            .find_map(|i| {
                let raw = rapport_mail::parse::parse(&i.raw.unwrap()).text;
                let at = raw.find("/portal/auth/")?;
                let token: String = raw[at + 13..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
                Some(format!("/portal/auth/{token}"))
            });
        if found.is_some() {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    None
}

/// A customer signed in to the portal through the emailed link.
pub(super) async fn customer_signed_in(desk: &Desk, email: &str) -> Visitor {
    let mut v = Visitor::new(&desk.base);
    let page = v.post("/portal/login", &[("email", email)]).await;
    assert!(page.body.contains("id=\"link-sent\""), "{}", page.body);
    let link = link_for(&desk.store, email)
        .await
        .expect("a sign-in link by email");
    let csrf = v.get(&link).await.csrf();
    let page = v.post(&link, &[("_csrf", &csrf)]).await;
    assert_eq!(page.location(), "/portal", "{}", page.body);
    v
}

async fn customers_see_only_their_own_requests(store: Arc<dyn Store>) {
    let desk = open_desk(store).await;
    let mut carla = Visitor::new(&desk.base);
    assert_eq!(carla.get("/portal").await.location(), "/portal/login");
    let page = carla.get("/portal/login").await;
    assert!(
        page.body.contains("id=\"portal-login\"") && page.body.contains("id=\"human-contact\"")
    );

    // Unknown addresses get the same answer and no mail.
    let page = carla
        .post("/portal/login", &[("email", "stranger@example.com")])
        .await;
    assert!(page.body.contains("id=\"link-sent\""));
    assert!(
        link_for(&desk.store, "stranger@example.com")
            .await
            .is_none()
    );

    let page = carla
        .post("/portal/login", &[("email", "Carla@Acme.example")])
        .await;
    assert!(page.body.contains("id=\"link-sent\""));
    let link = link_for(&desk.store, "carla@acme.example")
        .await
        .expect("a sign-in link by email");
    // Opening the link (as a mail scanner would) spends nothing; confirming does.
    let page = carla.get(&link).await;
    assert!(page.body.contains("id=\"portal-confirm\""));
    assert!(!carla.cookies.contains_key("rapport_portal"));
    let confirm_csrf = page.csrf();
    // Another site posting the link it holds gets nowhere: the form's token is this browser's.
    let mut forger = Visitor::new(&desk.base);
    assert_eq!(
        forger.post(&link, &[("_csrf", &confirm_csrf)]).await.status,
        StatusCode::FORBIDDEN
    );
    let page = carla.post(&link, &[("_csrf", &confirm_csrf)]).await;
    assert_eq!(
        (page.status, page.location().as_str()),
        (StatusCode::SEE_OTHER, "/portal")
    );
    let page = carla.post(&link, &[("_csrf", &confirm_csrf)]).await;
    assert_eq!(page.status, StatusCode::GONE, "a link works once");
    assert!(page.body.contains("class=\"flash error\""));
    let mut replay = Visitor::new(&desk.base);
    assert_eq!(replay.get(&link).await.status, StatusCode::GONE);

    let page = carla.get("/portal").await;
    assert!(page.body.contains("Router down at HQ") && page.body.contains("Invoice question"));
    assert!(
        !page.body.contains("private matter"),
        "Dan's ticket is not hers"
    );
    assert!(page.body.contains("id=\"human-contact\""));

    // Another customer's ticket does not exist for her; neither do notes.
    let page = carla.get(&format!("/portal/t/{}", desk.dans)).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let page = carla.get(&format!("/portal/t/{}", desk.urgent)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Body of Router down at HQ"));
    assert!(
        !page.body.contains("check the warranty"),
        "internal notes never reach the portal"
    );
    assert!(page.body.contains("R-"), "the reference is shown");
    assert!(
        page.body.contains("id=\"promise\""),
        "the expected answer time is shown before the first answer"
    );

    // A reply with a file.
    let csrf = page.csrf();
    let form = reqwest::multipart::Form::new()
        .text("_csrf", csrf.clone())
        .text("body", "Here is the photo")
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"%PDF-1.4 test".to_vec()).file_name("../scan.pdf"),
        );
    let req = carla
        .client
        .post(format!("{}/portal/t/{}/reply", desk.base, desk.urgent))
        .multipart(form);
    let page = carla.send(req).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let messages = desk
        .store
        .list_messages(desk.urgent, rapport_store::PageRequest::first(50))
        .await
        .unwrap()
        .items;
    let reply = messages.last().unwrap();
    assert_eq!(
        (reply.kind, reply.author),
        (MessageKind::Customer, Actor::customer(desk.carla))
    );
    assert_eq!(reply.attachments[0].filename, "scan.pdf");
    assert_eq!(reply.attachments[0].content_type, "application/pdf");
    let page = carla
        .get(&format!(
            "/portal/t/{}/attachments/{}",
            desk.urgent, reply.attachments[0].id
        ))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    // A forged form does nothing.
    let form = reqwest::multipart::Form::new()
        .text("_csrf", "forged")
        .text("body", "x");
    let req = carla
        .client
        .post(format!("{}/portal/t/{}/reply", desk.base, desk.urgent))
        .multipart(form);
    assert_eq!(carla.send(req).await.status, StatusCode::FORBIDDEN);
    // Writing into someone else's ticket is a 404 too.
    let form = reqwest::multipart::Form::new()
        .text("_csrf", csrf.clone())
        .text("body", "x");
    let req = carla
        .client
        .post(format!("{}/portal/t/{}/reply", desk.base, desk.dans))
        .multipart(form);
    assert_eq!(carla.send(req).await.status, StatusCode::NOT_FOUND);

    // A new request from the portal.
    let page = carla
        .post(
            "/portal/new",
            &[
                ("_csrf", &csrf),
                ("subject", "Need a second router"),
                ("body", "For the branch office"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let id: i64 = page.location().rsplit('/').next().unwrap().parse().unwrap();
    let t = desk.store.ticket(id).await.unwrap();
    assert_eq!((t.customer.id, t.channel), (desk.carla, Channel::Portal));

    // An organisation admin sees the organisation's tickets, Dan's included.
    let patch = CustomerPatch {
        org_admin: Some(true),
        ..Default::default()
    };
    desk.store
        .update_customer(ctx(Actor::SYSTEM), desk.carla, patch)
        .await
        .unwrap();
    assert!(carla.get("/portal").await.body.contains("private matter"));
    assert_eq!(
        carla.get(&format!("/portal/t/{}", desk.dans)).await.status,
        StatusCode::OK
    );

    // German portal.
    carla.language = "de";
    assert!(carla.get("/portal").await.body.contains("Ihre Anfragen"));

    carla.post("/portal/logout", &[("_csrf", &csrf)]).await;
    assert_eq!(carla.get("/portal").await.status, StatusCode::SEE_OTHER);
    let _ = desk.stop.send(());
}

async fn admins_configure_and_agents_use_macros_views_links(store: Arc<dyn Store>) {
    let desk = open_desk(store).await;
    let hash = auth::hash_password(PASSWORD).unwrap();
    desk.store
        .create_agent(
            ctx(Actor::SYSTEM),
            NewAgent {
                email: "ada@example.com".into(),
                name: "Ada Admin".into(),
                role: Role::Admin,
                password_hash: Some(hash),
            },
        )
        .await
        .unwrap();
    let mut ada = Visitor::new(&desk.base);
    ada.sign_in("ada@example.com", PASSWORD).await;
    let page = ada.get("/admin").await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page.csrf();
    for section in [
        "agents",
        "teams",
        "inboxes",
        "inboxes?edit=1",
        "fields",
        "tags",
        "macros",
    ] {
        let page = ada.get(&format!("/admin/{section}")).await;
        assert_eq!(page.status, StatusCode::OK, "{section}: {}", page.body);
    }
    ada.language = "de";
    assert!(
        ada.get("/admin/macros")
            .await
            .body
            .contains("Textbausteine")
    );
    ada.language = "en";

    // A macro with a typo in a placeholder is refused and says why; a good one is saved.
    let page = ada
        .post(
            "/admin/macros/save",
            &[
                ("_csrf", &csrf),
                ("name", "Shipped"),
                ("body", "Hi {{customer.frist_name}}"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("frist_name"));
    let page = ada.post("/admin/macros/save", &[
        ("_csrf", &csrf), ("name", "Shipped"), ("status", "pending"), ("add_tags", "shipping"),
        ("body", "Hi {{customer.first_name}},\nyour order for {{ticket.reference}} has shipped.\n{{agent.first_name}}"),
    ]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let macro_id = desk.store.list_macros().await.unwrap()[0].id;

    // Admins add agents, teams, fields and inbox settings from the pages.
    let page = ada
        .post(
            "/admin/agents/new",
            &[
                ("_csrf", &csrf),
                ("name", "Cy New"),
                ("email", "cy@example.com"),
                ("role", "light_agent"),
                ("team", "1"),
                ("password", "long enough password"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(
        Visitor::new(&desk.base)
            .sign_in("cy@example.com", "long enough password")
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    // Admins change roles and deactivate; a deactivated agent's session ends at once.
    let cy = desk
        .store
        .agent_login("cy@example.com")
        .await
        .unwrap()
        .unwrap()
        .agent;
    let mut cy_browser = Visitor::new(&desk.base);
    cy_browser
        .sign_in("cy@example.com", "long enough password")
        .await;
    assert_eq!(cy_browser.get("/").await.status, StatusCode::OK);
    let page = ada
        .post(
            &format!("/admin/agents/{}", cy.id),
            &[("_csrf", &csrf), ("role", "agent")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let cy = desk.store.agent(cy.id).await.unwrap();
    assert_eq!((cy.role, cy.active), (Role::Agent, false));
    assert_eq!(
        cy_browser.get("/").await.status,
        StatusCode::SEE_OTHER,
        "signed out"
    );
    let me = desk
        .store
        .agent_login("ada@example.com")
        .await
        .unwrap()
        .unwrap()
        .agent;
    let page = ada
        .post(
            &format!("/admin/agents/{}", me.id),
            &[("_csrf", &csrf), ("role", "agent"), ("active", "on")],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no locking oneself out"
    );
    let page = ada
        .post(
            "/admin/teams/new",
            &[
                ("_csrf", &csrf),
                ("name", "Billing"),
                ("description", "Money"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let page = ada
        .post(
            "/admin/fields/new",
            &[
                ("_csrf", &csrf),
                ("key", "plan"),
                ("label", "Plan"),
                ("field_type", "dropdown"),
                ("options", "Basic\nPro"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = ada
        .post(
            "/admin/inboxes/1",
            &[
                ("_csrf", &csrf),
                ("name", "Support"),
                ("address", "support@rapport.localhost"),
                ("human_contact", "Call +49 30 1234 567, Mon–Fri 9–17"),
                ("first_response_minutes", "120"),
                ("acknowledge", "on"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(
        desk.store.inbox(1).await.unwrap().first_response_minutes,
        120
    );
    let page = ada
        .post(
            "/admin/inboxes/1",
            &[
                ("_csrf", &csrf),
                ("name", "Support"),
                ("address", "support@rapport.localhost"),
                ("business_hours", "{not json"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Agents may not administer: the pages do not exist for them.
    let mut ann = Visitor::new(&desk.base);
    ann.sign_in("ann@example.com", PASSWORD).await;
    assert_eq!(ann.get("/admin/macros").await.status, StatusCode::NOT_FOUND);
    let page = ann.get(&format!("/t/{}", desk.urgent)).await;
    let acsrf = page.csrf();
    assert_eq!(
        ann.post(
            "/admin/macros/save",
            &[("_csrf", &acsrf), ("name", "X"), ("body", "Y")]
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );

    // The macro fills the reply box with the customer's first name and changes the ticket.
    let page = ann
        .post(
            &format!("/t/{}/macro", desk.urgent),
            &[
                ("_csrf", &acsrf),
                ("body", "Dear customer,"),
                ("macro", &macro_id.to_string()),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains("Dear customer,\n\nHi Carla,\nyour order for R-"),
        "{}",
        &page.body[page.body.find("reply-body").unwrap()..][..400]
    );
    assert!(page.body.contains("has shipped.\nAnn</textarea>"));
    let t = desk.store.ticket(desk.urgent).await.unwrap();
    assert_eq!(t.status, TicketStatus::Pending);
    assert!(t.tags.contains(&"shipping".to_string()));

    // Saved views: an ad-hoc filter saved under a name shows in the navigation with its count.
    let page = ann.get("/?priority=urgent").await;
    assert!(page.body.contains("id=\"save-view\""));
    let page = ann
        .post(
            "/views/save",
            &[
                ("_csrf", &acsrf),
                ("name", "Fires"),
                ("query", "priority=urgent"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let page = ann.get(&page.location()).await;
    assert!(page.body.contains("Fires") && page.body.contains("Router down at HQ"));
    assert!(!page.body.contains("Invoice question"));
    let view = desk.store.list_views(desk.ann).await.unwrap().remove(0);
    assert_eq!(
        view.agent_id,
        Some(desk.ann),
        "an agent's view is their own"
    );
    assert!(desk.store.list_views(desk.bo).await.unwrap().is_empty());
    assert_eq!(
        ann.post(&format!("/views/{}/delete", view.id), &[("_csrf", &acsrf)])
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    assert!(desk.store.list_views(desk.ann).await.unwrap().is_empty());

    // Link, split and merge from the ticket page.
    let page = ann
        .post(
            &format!("/t/{}/link", desk.urgent),
            &[("_csrf", &acsrf), ("other", &format!("R-{}", desk.dans))],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let links = desk.store.ticket_links(desk.dans).await.unwrap();
    assert_eq!(
        (links[0].ticket_id, links[0].kind.as_str()),
        (desk.urgent, "related")
    );
    let first = desk
        .store
        .list_messages(desk.urgent, rapport_store::PageRequest::first(5))
        .await
        .unwrap()
        .items[0]
        .id;
    let page = ann
        .post(
            &format!("/t/{}/split/{first}", desk.urgent),
            &[("_csrf", &acsrf)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let split: i64 = page.location().trim_start_matches("/t/").parse().unwrap();
    let copy = desk
        .store
        .list_messages(split, rapport_store::PageRequest::first(5))
        .await
        .unwrap()
        .items;
    assert_eq!(copy[0].body, "Body of Router down at HQ");
    assert_eq!(
        desk.store.ticket(split).await.unwrap().assignee_id,
        Some(desk.ann),
        "who splits owns it"
    );
    let page = ann
        .post(
            &format!("/t/{split}/merge"),
            &[("_csrf", &acsrf), ("other", &desk.normal.to_string())],
        )
        .await;
    assert_eq!(page.location(), format!("/t/{}", desk.normal));
    assert_eq!(
        desk.store.ticket(split).await.unwrap().status,
        TicketStatus::Closed
    );
    let merged = desk
        .store
        .list_messages(desk.normal, rapport_store::PageRequest::first(20))
        .await
        .unwrap()
        .items;
    assert!(
        merged.iter().any(|m| m.body == "Body of Router down at HQ"),
        "the conversation moved"
    );
    let page = ann.get(&format!("/t/{}", desk.normal)).await;
    assert!(page.body.contains("merged from"));
    // Carla's conversation never lands in Dan's ticket.
    let page = ann
        .post(
            &format!("/t/{}/merge", desk.normal),
            &[("_csrf", &acsrf), ("other", &desk.dans.to_string())],
        )
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.body.contains("same customer"));
    let page = ann
        .post(
            &format!("/t/{}/merge", desk.normal),
            &[("_csrf", &acsrf), ("other", "nonsense")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);

    // The organisation page lists its people and tickets.
    let org = desk
        .store
        .customer(desk.carla)
        .await
        .unwrap()
        .organization_id
        .unwrap();
    let page = ann.get(&format!("/organizations/{org}")).await;
    assert!(
        page.body.contains("Acme") && page.body.contains("private matter"),
        "{}",
        page.body
    );
    let _ = desk.stop.send(());
}

/// The code an authenticator app would show now for a base32 secret.
/// The code an authenticator app shows `steps` × 30 s from now.
fn code_at(secret: &str, steps: u64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp_rs::Builder::new()
        .with_secret(secret)
        .build()
        .unwrap()
        .generate(now + steps * 30)
        .to_string()
}

fn between<'a>(body: &'a str, start: &str, end: &str) -> &'a str {
    let from = body.find(start).unwrap() + start.len();
    &body[from..from + body[from..].find(end).unwrap()]
}

async fn two_factor_sign_in_with_codes_and_recovery(store: Arc<dyn Store>) {
    let desk = open_desk(store).await;
    let mut ann = Visitor::new(&desk.base);
    ann.sign_in("ann@example.com", PASSWORD).await;
    let csrf = ann.get("/password").await.csrf();
    let page = ann.post("/password/2fa/start", &[("_csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::OK);
    let secret = between(&page.body, "id=\"totp-secret\">", "<").to_string();
    assert_eq!(secret.len(), 32, "160 bits in base32");
    let qr = page
        .body
        .find("id=\"totp-qr\"")
        .map(|at| &page.body[at..at + 300]);
    assert!(
        qr.is_some_and(|q| q.contains("<svg")),
        "a QR code to scan: {qr:?}"
    );
    let page = ann
        .post(
            "/password/2fa/confirm",
            &[("_csrf", &csrf), ("code", "000000")],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a wrong code does not turn it on"
    );
    let page = ann
        .post(
            "/password/2fa/confirm",
            &[("_csrf", &csrf), ("code", &code_at(&secret, 0))],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let codes: Vec<String> = between(&page.body, "id=\"recovery-codes\">", "</ul>")
        .split("<code>")
        .skip(1)
        .map(|c| c[..c.find('<').unwrap()].to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    assert!(
        !ann.get("/password").await.body.contains(&codes[0]),
        "recovery codes are shown once"
    );

    // The password alone no longer opens a session.
    let mut again = Visitor::new(&desk.base);
    let page = again.sign_in("ann@example.com", PASSWORD).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"login-2fa\""));
    assert!(!again.cookies.contains_key("rapport_session"));
    let challenge_csrf = page.csrf();
    let page = again
        .post(
            "/login/2fa",
            &[
                ("_csrf", &challenge_csrf),
                ("code", "123456"),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    // The same code string is replayed below: computed again, it could fall in the next time
    // step and be a new, valid code.
    let next_code = code_at(&secret, 1);
    let page = again
        .post(
            "/login/2fa",
            &[
                ("_csrf", &challenge_csrf),
                ("code", &next_code),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(again.get("/").await.status, StatusCode::OK);

    // A code works once (RFC 6238 §5.2): seen over a shoulder, it is already spent.
    let mut replayer = Visitor::new(&desk.base);
    let replay_csrf = replayer.sign_in("ann@example.com", PASSWORD).await.csrf();
    let page = replayer
        .post(
            "/login/2fa",
            &[("_csrf", &replay_csrf), ("code", &next_code)],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    // A challenge allows five tries, counted in one statement however many arrive at once.
    let ann_id = desk.ann;
    let challenge = rapport_web::auth::token_hash("a challenge");
    let until = Millis(rapport_web::now().0 + 60_000);
    desk.store
        .create_login_challenge(&challenge, ann_id, until)
        .await
        .unwrap();
    let tries = futures::future::join_all((0..8).map(|_| {
        desk.store
            .claim_challenge_attempt(&challenge, rapport_web::now())
    }))
    .await;
    assert_eq!(tries.iter().filter(|t| matches!(t, Ok(Some(_)))).count(), 5);

    // A recovery code works once, however it is typed.
    let mut lost_phone = Visitor::new(&desk.base);
    let csrf2 = lost_phone.sign_in("ann@example.com", PASSWORD).await.csrf();
    let typed = codes[3].to_uppercase().replace('-', " ");
    let page = lost_phone
        .post("/login/2fa", &[("_csrf", &csrf2), ("code", &typed)])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let mut replay = Visitor::new(&desk.base);
    let csrf3 = replay.sign_in("ann@example.com", PASSWORD).await.csrf();
    let page = replay
        .post("/login/2fa", &[("_csrf", &csrf3), ("code", &codes[3])])
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    // Without the challenge cookie the code step does not exist.
    let mut stranger = Visitor::new(&desk.base);
    let page = stranger
        .post(
            "/login/2fa",
            &[("_csrf", &csrf3), ("code", &code_at(&secret, 1))],
        )
        .await;
    assert_eq!(page.location(), "/login");

    // Turning it off needs the password.
    let csrf = ann.get("/password").await.csrf();
    let page = ann
        .post(
            "/password/2fa/disable",
            &[("_csrf", &csrf), ("password", "wrong")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    ann.post(
        "/password/2fa/disable",
        &[("_csrf", &csrf), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(
        Visitor::new(&desk.base)
            .sign_in("ann@example.com", PASSWORD)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let _ = desk.stop.send(());
}

rapport_store::on_both_backends!(
    two_factor_sign_in_with_codes_and_recovery,
    admins_configure_and_agents_use_macros_views_links,
    agents_sign_in_and_work_tickets,
    sign_in_locks_after_repeated_failures,
    address_limits_count_the_client_behind_a_trusted_proxy,
    live_events_and_presence_reach_open_pages,
    customers_see_only_their_own_requests,
);
