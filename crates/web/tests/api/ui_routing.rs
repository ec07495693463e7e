//! Routing and ownership in the workspace over real HTTP, on SQLite and PostgreSQL: the
//! header's availability, handing a ticket over only with a reason (and the transfer shown),
//! asking another team (the team's list and page, replying done, the asker's ticket page,
//! outsiders told nothing exists, staff asking without a ticket, withdrawing), the honest no,
//! an irate customer's tone panel, the supervisors' "at risk of a silent no" view, the admin
//! sections for routing and tone, the report, forged forms and German pages.

use super::ui::{Desk, PASSWORD, Page, Visitor, ctx, open_desk};
use rapport_core::routing::{AssignmentMode, Availability, InternalStatus};
use rapport_core::{Actor, Channel, Millis, Priority, Role, TicketStatus};
use rapport_store::{Ctx, InternalRequestFilter, NewAgent, NewTicket, Requester, Store};
use rapport_web::auth;
use reqwest::StatusCode;
use std::sync::Arc;

const HOUR: i64 = 3_600_000;

/// The part of `body` from `start` up to the next `end`.
fn part<'a>(body: &'a str, start: &str, end: &str) -> &'a str {
    let from = body
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in the page: {body}"));
    let rest = &body[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

/// The refusal a page shows.
fn flash(page: &Page) -> &str {
    part(&page.body, "class=\"flash error\"", "</p>")
}

/// A staff member with a password, in `team` when given, signed in.
async fn staff(
    desk: &Desk,
    email: &str,
    name: &str,
    role: Role,
    team: Option<i64>,
) -> (i64, Visitor) {
    let agent = desk
        .store
        .create_agent(
            ctx(Actor::SYSTEM),
            NewAgent {
                email: email.into(),
                name: name.into(),
                role,
                password_hash: Some(auth::hash_password(PASSWORD).unwrap()),
            },
        )
        .await
        .unwrap();
    if let Some(team) = team {
        desk.store
            .add_team_member(ctx(Actor::SYSTEM), team, agent.id)
            .await
            .unwrap();
    }
    (agent.id, signed_in(desk, email).await)
}

async fn signed_in(desk: &Desk, email: &str) -> Visitor {
    let mut v = Visitor::new(&desk.base);
    let page = v.sign_in(email, PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{email}: {}", page.body);
    v
}

/// A `datetime-local` value a day from now at 10:00 in `zone`, and the instant it names.
fn tomorrow_at_ten(zone: &str) -> (String, Millis) {
    let tz = jiff::tz::TimeZone::get(zone).unwrap();
    let today = jiff::Timestamp::from_millisecond(rapport_web::now().0)
        .unwrap()
        .to_zoned(tz.clone())
        .date();
    let at = today
        .checked_add(jiff::Span::new().days(1))
        .unwrap()
        .at(10, 0, 0, 0);
    let instant = at.to_zoned(tz).unwrap().timestamp().as_millisecond();
    (at.strftime("%Y-%m-%dT%H:%M").to_string(), Millis(instant))
}

/// The properties form as the page would send it, with the owner changed to `assignee`.
async fn hand_over(v: &mut Visitor, ticket: i64, assignee: i64, reason: &str) -> Page {
    let csrf = v.get(&format!("/t/{ticket}")).await.csrf();
    let assignee = assignee.to_string();
    v.post(
        &format!("/t/{ticket}/props"),
        &[
            ("_csrf", &csrf),
            ("status", "open"),
            ("priority", "urgent"),
            ("assignee", &assignee),
            ("team", "1"),
            ("tags", "vip"),
            ("transfer_reason", reason),
        ],
    )
    .await
}

async fn requests_of(
    store: &Arc<dyn Store>,
    ticket: Option<i64>,
    requester: Option<i64>,
) -> Vec<rapport_store::InternalRequest> {
    store
        .list_internal_requests(&InternalRequestFilter {
            ticket_id: ticket,
            requester_id: requester,
            ..Default::default()
        })
        .await
        .unwrap()
}

async fn owners_hand_over_ask_teams_and_refer(store: Arc<dyn Store>) {
    let desk = open_desk(store).await;
    let warranty = desk
        .store
        .create_team(
            ctx(Actor::SYSTEM),
            "Warranty",
            "Repairs and warranty checks",
        )
        .await
        .unwrap();
    let mut ann = signed_in(&desk, "ann@example.com").await;
    let mut bo = signed_in(&desk, "bo@example.com").await;
    let (wes_id, mut wes) = staff(
        &desk,
        "wes@example.com",
        "Wes Warranty",
        Role::Agent,
        Some(warranty.id),
    )
    .await;
    let (_, mut lia) = staff(
        &desk,
        "lia@example.com",
        "Lia Light",
        Role::LightAgent,
        Some(warranty.id),
    )
    .await;

    // Availability: shown in the header of every page, changed with one form.
    let page = ann.get("/").await;
    assert!(page.body.contains("id=\"availability\""), "{}", page.body);
    assert!(page.body.contains("data-availability=\"online\""));
    let csrf = page.csrf();
    let page = ann
        .post(
            "/availability",
            &[("_csrf", &csrf), ("availability", "away")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/");
    let routing = desk
        .store
        .agent_routing(desk.ann, rapport_web::now())
        .await
        .unwrap();
    assert_eq!(routing.availability, Availability::Away);
    let page = ann.get(&format!("/t/{}", desk.urgent)).await;
    assert!(page.body.contains("data-availability=\"away\""));
    let page = ann
        .post(
            "/availability",
            &[("_csrf", &csrf), ("availability", "asleep")],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    let page = ann
        .post(
            "/availability",
            &[("_csrf", "forged"), ("availability", "offline")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let routing = desk
        .store
        .agent_routing(desk.ann, rapport_web::now())
        .await
        .unwrap();
    assert_eq!(routing.availability, Availability::Away);
    ann.post(
        "/availability",
        &[("_csrf", &csrf), ("availability", "online")],
    )
    .await;

    // One owner: handing the ticket over needs a reason; without one nothing changes.
    let page = ann.get(&format!("/t/{}", desk.urgent)).await;
    assert!(page.body.contains("id=\"transfer-reason\""));
    assert!(part(&page.body, "id=\"owner-line\"", "</p>").contains("Ann Agent"));
    assert!(part(&page.body, "id=\"transfers\"", "</ul>").contains("Never changed hands"));
    let page = hand_over(&mut ann, desk.urgent, desk.bo, "  ").await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(
        flash(&page).contains("say why the ticket changes hands"),
        "{}",
        flash(&page)
    );
    let ticket = desk.store.ticket(desk.urgent).await.unwrap();
    assert_eq!(ticket.assignee_id, Some(desk.ann));
    assert!(desk.store.transfers(desk.urgent).await.unwrap().is_empty());
    let page = hand_over(&mut ann, desk.urgent, desk.bo, "Bo set up their router").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(
        desk.store.ticket(desk.urgent).await.unwrap().assignee_id,
        Some(desk.bo)
    );
    let transfers = desk.store.transfers(desk.urgent).await.unwrap();
    assert_eq!(transfers.len(), 1);
    assert_eq!(transfers[0].by_agent_id, Some(desk.ann));
    let page = ann.get(&format!("/t/{}", desk.urgent)).await;
    let shown = part(&page.body, "id=\"transfers\"", "</ul>");
    assert!(
        shown.contains("Ann Agent") && shown.contains("Bo Colleague"),
        "{shown}"
    );
    assert!(shown.contains("Bo set up their router"), "{shown}");
    assert!(part(&page.body, "id=\"owner-line\"", "</p>").contains("Bo Colleague"));

    // Ask a team: what exactly, by a typed time read in the agent's zone.
    let csrf = page.csrf();
    let team = warranty.id.to_string();
    let page = ann
        .post(
            &format!("/t/{}/requests", desk.urgent),
            &[
                ("_csrf", &csrf),
                ("team", &team),
                ("body", "  "),
                ("due_at", ""),
                ("tz", "UTC"),
            ],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(
        flash(&page).contains("must not be empty"),
        "{}",
        flash(&page)
    );
    assert!(
        requests_of(&desk.store, Some(desk.urgent), None)
            .await
            .is_empty()
    );
    let page = ann
        .post(
            &format!("/t/{}/requests", desk.urgent),
            &[("_csrf", "forged"), ("team", &team), ("body", "Forged")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        requests_of(&desk.store, Some(desk.urgent), None)
            .await
            .is_empty()
    );
    let (due_text, due) = tomorrow_at_ten("Europe/Berlin");
    let page = ann
        .post(
            &format!("/t/{}/requests", desk.urgent),
            &[
                ("_csrf", &csrf),
                ("team", &team),
                ("body", "Is serial RX-123 <still> under warranty?"),
                ("due_at", &due_text),
                ("tz", "Europe/Berlin"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let asked = requests_of(&desk.store, Some(desk.urgent), None).await;
    assert_eq!(asked.len(), 1);
    let request = asked[0].clone();
    assert_eq!(
        (request.team_id, request.due_at, request.requester_id),
        (warranty.id, due, desk.ann)
    );
    let page = ann.get(&format!("/t/{}", desk.urgent)).await;
    let item = part(
        &page.body,
        &format!("data-request=\"{}\"", request.id),
        "</li>\n",
    );
    assert!(
        item.contains("Warranty") && item.contains("sla sla-ok"),
        "{item}"
    );
    assert!(item.contains("RX-123 &lt;still&gt;"), "escaped: {item}");
    assert!(
        item.contains("request-cancel"),
        "the asker may withdraw: {item}"
    );
    assert!(
        !item.contains("request-done"),
        "only the team says done: {item}"
    );

    // The team sees it in its list and answers; someone outside sees nothing.
    let page = wes.get("/requests").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let row = part(
        &page.body,
        &format!("data-request=\"{}\"", request.id),
        "</tr>",
    );
    assert!(
        row.contains("Router down at HQ") && row.contains("Ann Agent"),
        "{row}"
    );
    assert!(
        ann.get("/requests")
            .await
            .body
            .contains("No internal requests")
    );
    let page = ann.get("/requests/mine").await;
    assert!(
        page.body
            .contains(&format!("data-request=\"{}\"", request.id))
    );
    for outsider in [&mut bo] {
        let page = outsider.get(&format!("/requests/{}", request.id)).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND);
        let csrf = outsider.get("/").await.csrf();
        let page = outsider
            .post(
                &format!("/requests/{}/reply", request.id),
                &[("_csrf", &csrf), ("body", "Let me in"), ("done", "1")],
            )
            .await;
        assert_eq!(page.status, StatusCode::NOT_FOUND);
    }
    let page = wes.get(&format!("/requests/{}", request.id)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("request-take") && page.body.contains("request-done"));
    let csrf = page.csrf();
    let page = wes
        .post(
            &format!("/requests/{}/take", request.id),
            &[("_csrf", &csrf), ("back", "request")],
        )
        .await;
    assert_eq!(page.location(), format!("/requests/{}", request.id));
    // A light agent of the team answers too.
    let lia_csrf = lia.get(&format!("/requests/{}", request.id)).await.csrf();
    let page = lia
        .post(
            &format!("/requests/{}/reply", request.id),
            &[
                ("_csrf", &lia_csrf),
                ("body", "Checking the register"),
                ("back", "request"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = wes
        .post(
            &format!("/requests/{}/reply", request.id),
            &[
                ("_csrf", &csrf),
                ("body", "Yes, until March 2027."),
                ("done", "1"),
                ("back", "request"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let done = desk.store.internal_request(request.id).await.unwrap();
    assert_eq!(
        (done.status, done.assignee_id),
        (InternalStatus::Done, Some(wes_id))
    );
    let page = ann.get(&format!("/t/{}", desk.urgent)).await;
    let item = part(
        &page.body,
        &format!("data-request=\"{}\"", request.id),
        "</li>\n",
    );
    assert!(
        item.contains("request-status-done") && item.contains("Yes, until March 2027."),
        "{item}"
    );
    assert!(
        item.contains("Wes Warranty") && item.contains("Checking the register"),
        "{item}"
    );
    assert!(
        !item.contains("request-reply\""),
        "a closed request takes no more replies"
    );

    // Staff ask as internal customers, without a ticket; the asker withdraws with a reason.
    let csrf = bo.get("/requests/mine").await.csrf();
    let page = bo
        .post(
            "/requests/new",
            &[
                ("_csrf", &csrf),
                ("team", &team),
                ("body", "A loan laptop for me"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let mine = requests_of(&desk.store, None, Some(desk.bo)).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].ticket_id, None);
    assert_eq!(page.location(), format!("/requests/{}", mine[0].id));
    let page = bo.get(&page.location()).await;
    assert!(page.body.contains("Internal") && page.body.contains("A loan laptop for me"));
    let page = bo
        .post(
            "/requests/new",
            &[("_csrf", &csrf), ("team", ""), ("body", "No team")],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(flash(&page).contains("choose the team"));
    let path = format!("/requests/{}/cancel", mine[0].id);
    let page = bo.post(&path, &[("_csrf", &csrf), ("reason", "")]).await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(flash(&page).contains("must not be empty"));
    let page = bo
        .post(&path, &[("_csrf", &csrf), ("reason", "Found one")])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let withdrawn = desk.store.internal_request(mine[0].id).await.unwrap();
    assert_eq!(withdrawn.status, InternalStatus::Cancelled);

    // The honest no: a reply naming who can help, and the ticket solved.
    let page = ann.get(&format!("/t/{}", desk.normal)).await;
    assert!(page.body.contains("id=\"refer-form\""));
    let csrf = page.csrf();
    let path = format!("/t/{}/refer", desk.normal);
    let page = ann
        .post(
            &path,
            &[
                ("_csrf", &csrf),
                ("body", "We do not handle card disputes."),
                ("referred_to", "Your bank"),
                ("how_to_reach", ""),
            ],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(flash(&page).contains("how_to_reach"), "{}", flash(&page));
    assert_eq!(
        desk.store.ticket(desk.normal).await.unwrap().status,
        TicketStatus::Open
    );
    let page = ann
        .post(
            &path,
            &[
                ("_csrf", &csrf),
                ("body", "We do not handle card disputes."),
                ("referred_to", "Your bank"),
                ("how_to_reach", "The number on the back of your card"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(
        desk.store.ticket(desk.normal).await.unwrap().status,
        TicketStatus::Solved
    );
    let page = ann.get(&format!("/t/{}", desk.normal)).await;
    let referral = part(&page.body, "id=\"referral\"", "</section>");
    assert!(
        referral.contains("Your bank") && referral.contains("The number on the back of your card"),
        "{referral}"
    );
    assert!(
        part(&page.body, "id=\"conversation\"", "id=\"reply\"").contains("Who can help: Your bank")
    );
    assert!(
        !page.body.contains("id=\"refer-form\""),
        "a solved ticket is not referred again"
    );
    // Light agents do not answer customers.
    let csrf = lia.get("/requests").await.csrf();
    let page = lia
        .post(
            &format!("/t/{}/refer", desk.dans),
            &[
                ("_csrf", &csrf),
                ("body", "No"),
                ("referred_to", "X"),
                ("how_to_reach", "Y"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    // The report: one touch, honest noes, and the wait on the warranty team.
    let (_, mut sue) = staff(
        &desk,
        "sue@example.com",
        "Sue Supervisor",
        Role::Supervisor,
        Some(1),
    )
    .await;
    let page = sue.get("/reports").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(part(&page.body, "id=\"honest-noes\"", "</tr>").contains("<td class=\"rate\">1</td>"));
    let row = part(
        &page.body,
        &format!("class=\"internal-row\" data-team=\"{}\"", warranty.id),
        "</tr>",
    );
    assert!(
        row.contains("Warranty") && row.contains("<td>2</td>"),
        "{row}"
    );
    assert!(page.body.contains("id=\"one-touch\""));
    let _ = desk.stop.send(());
}

async fn irate_customers_and_silent_noes(store: Arc<dyn Store>) {
    let desk = open_desk(store).await;
    let new_ticket = |subject: &str, body: &str| NewTicket {
        subject: subject.into(),
        requester: Requester {
            customer_id: None,
            email: "erin@acme.example".into(),
            name: Some("Erin".into()),
        },
        body: body.into(),
        channel: Channel::Email,
        priority: Priority::Normal,
        status: TicketStatus::Open,
        tags: Vec::new(),
        inbox: None,
        assignee_id: Some(desk.ann),
        team_id: Some(1),
        custom_fields: Default::default(),
    };
    let angry = desk
        .store
        .create_ticket(
            ctx(Actor::SYSTEM),
            new_ticket(
                "Still broken",
                "This is the THIRD time I write!!! Your service is unacceptable. If this is not fixed today I will cancel and call my lawyer.",
            ),
            None,
        )
        .await
        .unwrap()
        .value;
    let angry = desk.store.ticket(angry.id).await.unwrap();
    assert!(
        angry.tags.iter().any(|t| t == rapport_store::IRATE_TAG),
        "{:?}",
        angry.tags
    );
    let mut ann = signed_in(&desk, "ann@example.com").await;
    let page = ann.get(&format!("/t/{}", angry.id)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("id=\"irate-badge\""));
    let tone = part(&page.body, "id=\"tone\"", "</section>");
    assert!(
        tone.contains("Legal threat") && tone.contains("tone-score"),
        "{tone}"
    );
    assert!(tone.contains("class=\"evidence\""), "{tone}");
    // A calm ticket has no tone panel worth a badge.
    let page = ann.get(&format!("/t/{}", desk.dans)).await;
    assert!(!page.body.contains("id=\"irate-badge\""));

    // At risk of a silent no: supervisors see unanswered tickets older than the setting.
    let (_, mut sue) = staff(
        &desk,
        "sue@example.com",
        "Sue Supervisor",
        Role::Supervisor,
        Some(1),
    )
    .await;
    let old = Ctx {
        actor: Actor::SYSTEM,
        at: Millis(rapport_web::now().0 - 3 * HOUR),
    };
    let waiting = desk
        .store
        .create_ticket(
            old,
            new_ticket("Quote for 40 seats", "Could you send a quote?"),
            None,
        )
        .await
        .unwrap()
        .value;
    let page = sue.get("/").await;
    assert!(page.body.contains("data-view=\"at_risk\""), "{}", page.body);
    let page = sue.get("/?view=at_risk").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("At risk of a silent no"));
    assert!(
        !page
            .body
            .contains(&format!("data-ticket-id=\"{}\"", waiting.id)),
        "48 hours by default"
    );
    desk.store.set_silent_no_hours(2).await.unwrap();
    let page = sue.get("/?view=at_risk").await;
    assert!(
        page.body
            .contains(&format!("data-ticket-id=\"{}\"", waiting.id)),
        "{}",
        page.body
    );
    assert!(
        !page
            .body
            .contains(&format!("data-ticket-id=\"{}\"", angry.id))
    );
    let page = ann.get("/?view=at_risk").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!ann.get("/").await.body.contains("data-view=\"at_risk\""));

    // German.
    sue.language = "de";
    let page = sue.get(&format!("/t/{}", angry.id)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Verärgert") && page.body.contains("Zuständigkeit"));
    assert!(page.body.contains("Rechtliche Drohung"));
    let page = sue.get("/requests").await;
    assert!(
        page.body.contains("Interne Anfragen an meine Teams"),
        "{}",
        page.body
    );
    let page = sue.get("/?view=at_risk").await;
    assert!(page.body.contains("Gefahr eines stillen Neins"));
    let _ = desk.stop.send(());
}

async fn admins_set_routing_and_tone(store: Arc<dyn Store>) {
    let desk = open_desk(store).await;
    let (_, mut ada) = staff(&desk, "ada@example.com", "Ada Admin", Role::Admin, None).await;
    let mut ann = signed_in(&desk, "ann@example.com").await;
    assert_eq!(
        ann.get("/admin/routing").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(ann.get("/admin/tone").await.status, StatusCode::NOT_FOUND);

    // Team routing.
    let page = ada.get("/admin/routing").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("id=\"team-routing-1\""));
    assert!(
        page.body
            .contains(&format!("id=\"agent-routing-{}\"", desk.ann))
    );
    let csrf = page.csrf();
    let ann_id = desk.ann.to_string();
    let team_form = |reoffer: &'static str| {
        vec![
            ("assignment", "round_robin"),
            ("continuity", "on"),
            ("reoffer_after_minutes", reoffer),
            ("internal_due_minutes", "120"),
        ]
    };
    let mut form = team_form("0");
    form.push(("_csrf", &csrf));
    form.push(("lead_agent_id", &ann_id));
    let page = ada.post("/admin/routing/teams/1", &form).await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(
        flash(&page).contains("reoffer_after_minutes"),
        "{}",
        flash(&page)
    );
    let before = desk.store.list_teams().await.unwrap();
    assert_eq!(
        before
            .iter()
            .find(|t| t.id == 1)
            .unwrap()
            .routing
            .assignment,
        AssignmentMode::Manual
    );
    let mut form = team_form("15");
    form.push(("_csrf", &csrf));
    form.push(("lead_agent_id", &ann_id));
    let page = ada.post("/admin/routing/teams/1", &form).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let teams = desk.store.list_teams().await.unwrap();
    let routing = teams.iter().find(|t| t.id == 1).unwrap().routing;
    assert_eq!(routing.assignment, AssignmentMode::RoundRobin);
    assert_eq!(
        (routing.reoffer_after_minutes, routing.internal_due_minutes),
        (15, 120)
    );
    assert_eq!(routing.lead_agent_id, Some(desk.ann));
    assert!(routing.continuity);

    // Agent routing: skills, capacity, working hours.
    let path = format!("/admin/routing/agents/{}", desk.ann);
    let page = ada
        .post(
            &path,
            &[
                ("_csrf", &csrf),
                ("skills", "de"),
                ("capacity", "lots"),
                ("calendar_id", ""),
            ],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(flash(&page).contains("capacity"));
    let page = ada
        .post(
            &path,
            &[
                ("_csrf", &csrf),
                ("skills", "de, Billing"),
                ("capacity", "5"),
                ("calendar_id", ""),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let profile = desk
        .store
        .agent_routing(desk.ann, rapport_web::now())
        .await
        .unwrap();
    assert_eq!(profile.capacity, 5);
    assert_eq!(
        profile.skills,
        vec!["billing".to_string(), "de".to_string()]
    );
    let page = ada.get("/admin/routing").await;
    assert!(
        part(
            &page.body,
            &format!("id=\"agent-routing-{}\"", desk.ann),
            "</form>"
        )
        .contains("billing, de")
    );

    // Tone and the silent-no hours.
    let page = ada.get("/admin/tone").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let page = ada
        .post(
            "/admin/tone/save",
            &[
                ("_csrf", &csrf),
                ("threshold", "40"),
                ("extra_phrases", "Acme Cloud 30"),
                ("silent_no_hours", "24"),
            ],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(flash(&page).contains("phrase = points"), "{}", flash(&page));
    assert_eq!(
        desk.store.tone_config().await.unwrap(),
        rapport_core::tone::ToneConfig::default()
    );
    let page = ada
        .post(
            "/admin/tone/save",
            &[
                ("_csrf", &csrf),
                ("threshold", "40"),
                ("extra_phrases", "Acme Cloud = 30\n"),
                ("silent_no_hours", "24"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = ada.get("/admin/tone").await;
    assert!(page.body.contains("Acme Cloud = 30") && page.body.contains("value=\"40\""));
    assert_eq!(desk.store.silent_no_hours().await.unwrap(), 24);
    let page = ada
        .post(
            "/admin/tone/save",
            &[
                ("_csrf", "forged"),
                ("threshold", "90"),
                ("silent_no_hours", "1"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    ada.language = "de";
    let page = ada.get("/admin/routing").await;
    assert!(page.body.contains("Reihum"), "{}", page.body);
    let page = ada.get("/admin/tone").await;
    assert!(page.body.contains("Verärgert ab Wert"));
    let _ = desk.stop.send(());
}

rapport_store::on_both_backends!(
    owners_hand_over_ask_teams_and_refer,
    irate_customers_and_silent_noes,
    admins_set_routing_and_tone,
);
