//! SLAs and commitments in the workspace and the portal over real HTTP, on SQLite and
//! PostgreSQL: the ticket's SLA panel and its commitment forms (quick and typed times, what is
//! refused and that nothing refused is stored, fulfilled only after the customer was told,
//! withdrawn only with a reason, another ticket's commitment a 404, forged forms, light
//! agents), the admin sections for calendars and policies, missed targets reaching the owner's
//! Alerts view and the conversation, the supervisors' report, and what the customer sees.

use super::ui::{Desk, PASSWORD, Page, Visitor, ann_seen, ctx, customer_signed_in, open_desk};
use rapport_core::commitment::{CommitmentKind, CommitmentStatus};
use rapport_core::sla::{Actions, Basis, Conditions, Rules, Target, TargetRule, Targets};
use rapport_core::{Actor, Channel, MessageKind, Millis, Priority, Role, TicketStatus};
use rapport_store::{Commitment, NewAgent, NewMessage, NewSlaPolicy, NewTicket, Requester, Store};
use rapport_web::auth;
use reqwest::StatusCode;
use std::sync::Arc;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Text as the templates write it (minijinja's HTML escaping).
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

/// The part of `body` from `start` up to the next `end`.
fn part<'a>(body: &'a str, start: &str, end: &str) -> &'a str {
    let from = body
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in the page: {body}"));
    let rest = &body[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

fn sla_panel(page: &Page) -> &str {
    part(&page.body, "id=\"sla\"", "</section>")
}

fn commitments_panel(page: &Page) -> &str {
    part(&page.body, "id=\"commitments\"", "</section>")
}

/// One commitment in the ticket page's panel.
fn commitment_item(page: &Page, id: i64) -> &str {
    part(&page.body, &format!("data-commitment=\"{id}\""), "</li>")
}

/// One ticket's row in a list.
fn row(page: &Page, ticket: i64) -> &str {
    part(&page.body, &format!("data-ticket-id=\"{ticket}\""), "</tr>")
}

/// The refusal a page shows.
fn flash(page: &Page) -> &str {
    part(&page.body, "class=\"flash error\"", "</p>")
}

/// A time as the pages print it before the browser localises it.
fn utc(at: Millis) -> String {
    jiff::Timestamp::from_millisecond(at.0)
        .unwrap()
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

/// A countdown as the pages write it: `45m`, `2h 10m`, `3d 4h`.
fn is_countdown(text: &str) -> bool {
    !text.is_empty()
        && text.split(' ').all(|w| {
            w.len() >= 2 && w[..w.len() - 1].parse::<u32>().is_ok() && w.ends_with(['d', 'h', 'm'])
        })
}

/// The countdown text of the `.sla` span due at `due`.
fn countdown_at(html: &str, due: Millis) -> String {
    let span = part(html, &format!("data-due=\"{}\">", due.0), "</span>");
    span[span.find('>').unwrap() + 1..].to_string()
}

/// A `datetime-local` value `days` days from today at `hour`:00 in `zone`, and the instant it
/// names.
fn typed_due(zone: &str, days: i64, hour: i8) -> (String, Millis) {
    let tz = jiff::tz::TimeZone::get(zone).unwrap();
    let today = jiff::Timestamp::from_millisecond(rapport_web::now().0)
        .unwrap()
        .to_zoned(tz.clone())
        .date();
    let at = today
        .checked_add(jiff::Span::new().days(days))
        .unwrap()
        .at(hour, 0, 0, 0);
    let instant = at.to_zoned(tz).unwrap().timestamp().as_millisecond();
    (at.strftime("%Y-%m-%dT%H:%M").to_string(), Millis(instant))
}

/// A member of team 1 with a password, signed in.
async fn staff(desk: &Desk, email: &str, name: &str, role: Role) -> (i64, Visitor) {
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
    desk.store
        .add_team_member(ctx(Actor::SYSTEM), 1, agent.id)
        .await
        .unwrap();
    (agent.id, signed_in(desk, email).await)
}

async fn signed_in(desk: &Desk, email: &str) -> Visitor {
    let mut v = Visitor::new(&desk.base);
    let page = v.sign_in(email, PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{email}: {}", page.body);
    v
}

/// A customer through the emailed link, confirmed.
async fn commitments(desk: &Desk, ticket: i64) -> Vec<Commitment> {
    desk.store.commitments(ticket).await.unwrap()
}

async fn commitment(desk: &Desk, ticket: i64, id: i64) -> Commitment {
    commitments(desk, ticket)
        .await
        .into_iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("commitment {id} on ticket {ticket}"))
}

/// The first-response due time the store keeps for a ticket.
async fn first_response_due(desk: &Desk, ticket: i64) -> Millis {
    let sla = desk
        .store
        .ticket_sla(ticket)
        .await
        .unwrap()
        .expect("the clocks started with the ticket");
    sla.targets
        .iter()
        .find(|t| t.target == Target::FirstResponse)
        .and_then(|t| t.due_at)
        .expect("the first response is due")
}

/// A public reply through the ticket page's form.
async fn reply(v: &mut Visitor, ticket: i64, body: &str) {
    let page = v.get(&format!("/t/{ticket}")).await;
    let (csrf, seen) = (page.csrf(), ann_seen(&page.body));
    let page = v
        .post(
            &format!("/t/{ticket}/reply"),
            &[
                ("_csrf", &csrf),
                ("body", body),
                ("kind", "reply"),
                ("seen", &seen),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}

/// A commitment by a typed time, as the panel's "Commit" button sends it.
async fn promise(
    v: &mut Visitor,
    csrf: &str,
    ticket: i64,
    description: &str,
    (due_at, zone): (&str, &str),
) -> Page {
    v.post(
        &format!("/t/{ticket}/commitments"),
        &[
            ("_csrf", csrf),
            ("tz", zone),
            ("kind", "promise"),
            ("description", description),
            ("due_at", due_at),
        ],
    )
    .await
}

/// A commitment by one of the quick buttons.
async fn quick(
    v: &mut Visitor,
    csrf: &str,
    ticket: i64,
    kind: &str,
    description: &str,
    choice: &str,
) -> Page {
    v.post(
        &format!("/t/{ticket}/commitments"),
        &[
            ("_csrf", csrf),
            ("tz", "UTC"),
            ("kind", kind),
            ("description", description),
            ("quick", choice),
            ("due_at", ""),
        ],
    )
    .await
}

/// `POST /admin/sla/save` with a form of owned values.
async fn save_policy(v: &mut Visitor, form: &[(&'static str, String)]) -> Page {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    v.post("/admin/sla/save", &pairs).await
}

/// Runs the scheduler at `now` until no recomputation is left.
async fn settle(store: &Arc<dyn Store>, now: Millis) {
    for _ in 0..20 {
        if !store.scheduler_has_work(now).await.unwrap() {
            return;
        }
        store.scheduler_pass(now, 100).await.unwrap();
    }
    panic!("the scheduler never ran out of work");
}

async fn agents_commit_keep_and_withdraw_on_the_ticket_page(store: Arc<dyn Store>) {
    let desk = open_desk(store).await;
    let mut ann = signed_in(&desk, "ann@example.com").await;
    let id = desk.urgent;
    let ticket = format!("/t/{id}");

    // The SLA panel: no policy yet, so the inbox's first-answer target, counting down.
    let due = first_response_due(&desk, id).await;
    let page = ann.get(&ticket).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let panel = sla_panel(&page);
    assert!(
        panel.contains(r#"data-target="first_response" data-state="running""#),
        "{panel}"
    );
    assert!(panel.contains("First response"), "{panel}");
    assert!(
        panel.contains(&format!(r#"class="sla sla-ok" data-due="{}">"#, due.0)),
        "hours away: {panel}"
    );
    let left = countdown_at(panel, due);
    assert!(is_countdown(&left), "{left:?}");
    assert!(commitments_panel(&page).contains("Nothing promised yet"));
    assert!(page.body.contains(r#"id="commitment-form""#));
    for choice in [
        "in_two_hours",
        "end_of_day",
        "tomorrow_morning",
        "next_week",
    ] {
        assert!(
            page.body
                .contains(&format!(r#"name="quick" value="{choice}""#)),
            "{choice}"
        );
    }
    let csrf = page.csrf();

    // A quick next-update time: the customer's tomorrow morning (she lives in Berlin).
    let page = quick(&mut ann, &csrf, id, "next_update", "", "tomorrow_morning").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), format!("{ticket}#commitments"));
    let list = commitments(&desk, id).await;
    assert_eq!(list.len(), 1);
    let next = list[0].clone();
    assert_eq!(
        (next.kind, next.status, next.owner_id, next.created_by),
        (
            CommitmentKind::NextUpdate,
            CommitmentStatus::Open,
            Some(desk.ann),
            Some(desk.ann)
        )
    );
    let berlin = jiff::Timestamp::from_millisecond(next.due_at.0)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
    assert_eq!(
        (berlin.hour(), berlin.minute()),
        (10, 0),
        "10:00 her time: {berlin}"
    );
    assert!(next.due_at.0 > rapport_web::now().0 + 9 * HOUR);
    let page = ann.get(&ticket).await;
    let item = commitment_item(&page, next.id);
    assert!(
        item.contains(r#"data-kind="next_update""#) && item.contains("Next update"),
        "{item}"
    );
    assert!(
        item.contains(&format!(
            r#"<time data-ms="{}">{}</time>"#,
            next.due_at,
            utc(next.due_at)
        )),
        "{item}"
    );
    assert!(item.contains(r#"class="sla sla-ok""#), "{item}");
    assert!(
        !item.contains("/fulfil"),
        "a reply keeps a next update: {item}"
    );
    assert!(item.contains(&format!("{ticket}/commitments/{}/cancel", next.id)));

    // A promise at a typed time, read in the agent's zone.
    let (typed, typed_at) = typed_due("America/New_York", 3, 17);
    let page = promise(
        &mut ann,
        &csrf,
        id,
        "Replacement router ships",
        (&typed, "America/New_York"),
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let list = commitments(&desk, id).await;
    assert_eq!(list.len(), 2);
    let ships = list[1].clone();
    assert_eq!(
        (ships.kind, ships.status),
        (CommitmentKind::Promise, CommitmentStatus::Open)
    );
    assert_eq!(ships.description, "Replacement router ships");
    assert_eq!(ships.due_at, typed_at, "17:00 in New York, not in UTC");
    let page = ann.get(&ticket).await;
    let item = commitment_item(&page, ships.id);
    assert!(
        item.contains("Promise") && item.contains("Replacement router ships"),
        "{item}"
    );
    assert!(
        item.contains(&format!(
            r#"<time data-ms="{}">{}</time>"#,
            typed_at,
            utc(typed_at)
        )),
        "{item}"
    );
    assert!(item.contains(&format!("{ticket}/commitments/{}/fulfil", ships.id)));
    // The newest first.
    assert!(
        page.body.find(&format!("data-commitment=\"{}\"", ships.id))
            < page.body.find(&format!("data-commitment=\"{}\"", next.id))
    );

    // Refusals come back on the page, say why, and store nothing.
    for (kind, description, due_at, says) in [
        (
            "promise",
            "Too late",
            "2020-01-01T09:00",
            "due_at: must be in the future",
        ),
        (
            "promise",
            "Whenever",
            "soon",
            "due_at: is not a date and time",
        ),
        ("promise", "", typed.as_str(), "description"),
        ("vow", "Something", typed.as_str(), "kind"),
    ] {
        let page = ann
            .post(
                &format!("{ticket}/commitments"),
                &[
                    ("_csrf", &csrf),
                    ("tz", "UTC"),
                    ("kind", kind),
                    ("description", description),
                    ("due_at", due_at),
                ],
            )
            .await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{kind} {due_at}: {}",
            page.body
        );
        assert!(flash(&page).contains(&esc(says)), "{}", flash(&page));
        assert!(
            commitments_panel(&page).contains("Replacement router ships"),
            "the whole page comes back"
        );
    }
    let page = quick(&mut ann, &csrf, id, "next_update", "", "someday").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(flash(&page).contains("quick"), "{}", flash(&page));
    assert_eq!(
        commitments(&desk, id).await.len(),
        2,
        "nothing refused was stored"
    );

    // A promise is done only once the customer was told.
    let fulfil = format!("{ticket}/commitments/{}/fulfil", ships.id);
    let page = ann.post(&fulfil, &[("_csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);
    assert!(
        flash(&page).contains("tell the customer first"),
        "{}",
        flash(&page)
    );
    assert_eq!(
        commitment(&desk, id, ships.id).await.status,
        CommitmentStatus::Open
    );

    // Another ticket's commitment in this ticket's URL, or none at all, does not exist.
    for path in [
        format!("/t/{}/commitments/{}/fulfil", desk.normal, ships.id),
        format!("/t/{}/commitments/{}/cancel", desk.normal, ships.id),
        format!("{ticket}/commitments/99999999/fulfil"),
        format!("/t/99999999/commitments/{}/cancel", ships.id),
    ] {
        let page = ann
            .post(&path, &[("_csrf", &csrf), ("reason", "Not mine")])
            .await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}: {}", page.body);
    }
    let page = quick(&mut ann, &csrf, 99999999, "next_update", "", "next_week").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert_eq!(
        commitment(&desk, id, ships.id).await.status,
        CommitmentStatus::Open
    );

    // Forms without this session's token change nothing.
    let page = ann
        .post(
            &format!("{ticket}/commitments"),
            &[
                ("_csrf", "forged"),
                ("kind", "next_update"),
                ("quick", "next_week"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = ann.post(&fulfil, &[]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = ann
        .post(
            &format!("{ticket}/commitments/{}/cancel", ships.id),
            &[("_csrf", "forged"), ("reason", "Forged")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let list = commitments(&desk, id).await;
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|c| c.status == CommitmentStatus::Open));

    // Light agents help internally: they see the commitments but make or end none.
    let (_, mut lee) = staff(&desk, "lee@example.com", "Lee Light", Role::LightAgent).await;
    let page = lee.get(&ticket).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(commitments_panel(&page).contains("Replacement router ships"));
    assert!(!page.body.contains(r#"id="commitment-form""#));
    assert!(
        !page.body.contains(&format!("{ticket}/commitments")),
        "no commitment forms at all"
    );
    let lee_csrf = page.csrf();
    let page = quick(&mut lee, &lee_csrf, id, "next_update", "", "next_week").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(page.body.contains("light_agent"), "says why: {}", page.body);
    let page = lee.post(&fulfil, &[("_csrf", &lee_csrf)]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = lee
        .post(
            &format!("{ticket}/commitments/{}/cancel", next.id),
            &[("_csrf", &lee_csrf), ("reason", "Light")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let list = commitments(&desk, id).await;
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|c| c.status == CommitmentStatus::Open));

    // The public reply keeps the next-update time and meets the first response.
    reply(&mut ann, id, "We are on it: a replacement is on its way.").await;
    assert_eq!(
        commitment(&desk, id, next.id).await.status,
        CommitmentStatus::Kept
    );
    assert_eq!(
        commitment(&desk, id, ships.id).await.status,
        CommitmentStatus::Open
    );
    let page = ann.get(&ticket).await;
    assert!(
        page.body.contains(&format!(
            r#"class="commitment commitment-kept" data-commitment="{}""#,
            next.id
        )),
        "{}",
        commitments_panel(&page)
    );
    assert!(commitment_item(&page, next.id).contains("Kept"));
    assert!(
        sla_panel(&page).contains(r#"data-target="first_response" data-state="met""#),
        "{}",
        sla_panel(&page)
    );

    // Now the promise can be done: kept, on time.
    let page = ann.post(&fulfil, &[("_csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let kept = commitment(&desk, id, ships.id).await;
    assert_eq!(kept.status, CommitmentStatus::Kept);
    assert!(kept.resolved_at.is_some());
    let page = ann.get(&ticket).await;
    let item = commitment_item(&page, ships.id);
    assert!(
        item.contains("Kept") && !item.contains("/fulfil") && !item.contains("/cancel"),
        "{item}"
    );
    assert!(
        page.body.contains("kept the commitment:"),
        "the conversation says so"
    );
    let page = ann.post(&fulfil, &[("_csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(flash(&page).contains("already kept"), "{}", flash(&page));

    // Withdrawn only with a reason.
    let page = quick(
        &mut ann,
        &csrf,
        id,
        "promise",
        "Call back about the invoice",
        "next_week",
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let call = commitments(&desk, id).await.pop().unwrap();
    assert_eq!(call.description, "Call back about the invoice");
    let cancel = format!("{ticket}/commitments/{}/cancel", call.id);
    for reason in ["", "   "] {
        let page = ann
            .post(&cancel, &[("_csrf", &csrf), ("reason", reason)])
            .await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{reason:?}: {}",
            page.body
        );
        assert!(flash(&page).contains("reason"), "{}", flash(&page));
    }
    let page = ann.post(&cancel, &[("_csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        commitment(&desk, id, call.id).await.status,
        CommitmentStatus::Open
    );
    let page = ann
        .post(
            &cancel,
            &[("_csrf", &csrf), ("reason", "The customer will call us")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let cancelled = commitment(&desk, id, call.id).await;
    assert_eq!(cancelled.status, CommitmentStatus::Cancelled);
    assert_eq!(cancelled.note, "The customer will call us");
    let page = ann.get(&ticket).await;
    let item = commitment_item(&page, call.id);
    assert!(
        item.contains("Cancelled") && item.contains("<em>The customer will call us</em>"),
        "{item}"
    );
    assert!(page.body.contains("withdrew the commitment:"));
    let page = ann
        .post(&cancel, &[("_csrf", &csrf), ("reason", "Again")])
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);

    // What an agent wrote is shown as written, even when it spells a key of the catalogue.
    let page = quick(&mut ann, &csrf, id, "promise", "paused", "next_week").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let paused = commitments(&desk, id).await.pop().unwrap();
    let page = ann.get(&ticket).await;
    let event = part(&page.body, r#"data-event="commitment.made""#, "</div>");
    assert!(event.contains("committed:"), "{event}");
    let made = page.body.matches(r#"data-event="commitment.made""#).count();
    assert_eq!(made, 4, "one event per commitment made");
    let last = &page.body[page.body.rfind(r#"data-event="commitment.made""#).unwrap()..];
    let last = &last[..last.find("</div>").unwrap()];
    assert!(
        last.contains(r#"<em class="event-detail">paused</em>"#),
        "{last}"
    );
    let page = ann
        .post(
            &format!("{ticket}/commitments/{}/cancel", paused.id),
            &[("_csrf", &csrf), ("reason", "Typed by mistake")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);

    // German.
    ann.language = "de";
    let page = ann.get(&ticket).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        commitments_panel(&page).contains("Zusagen"),
        "{}",
        commitments_panel(&page)
    );
    ann.language = "en";

    // A solved ticket takes no more promises.
    let page = ann
        .post(&format!("{ticket}/done"), &[("_csrf", &csrf)])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = ann.get(&ticket).await;
    assert!(!page.body.contains(r#"id="commitment-form""#));
    let page = quick(&mut ann, &csrf, id, "next_update", "", "next_week").await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);
    assert!(flash(&page).contains("reopen"), "{}", flash(&page));
    assert_eq!(commitments(&desk, id).await.len(), 4);
    let _ = desk.stop.send(());
}

async fn admins_set_business_hours_and_policies(store: Arc<dyn Store>) {
    let desk = open_desk(store).await;
    let (_, mut ada) = staff(&desk, "ada@example.com", "Ada Admin", Role::Admin).await;
    let page = ada.get("/admin/calendars").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(r#"id="calendar-form""#));
    let csrf = page.csrf();
    let page = ada.get("/admin/sla").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("No policies"));
    let week = |friday: &'static str| {
        vec![
            ("day.monday", "09:00-12:00, 13:00-17:00"),
            ("day.tuesday", "09:00-12:00, 13:00-17:00"),
            ("day.wednesday", "09:00-12:00, 13:00-17:00"),
            ("day.thursday", "09:00-12:00, 13:00-17:00"),
            ("day.friday", friday),
            ("day.saturday", ""),
            ("day.sunday", ""),
            ("holidays", "12-25\n2026-12-24\n"),
            ("time_zone", "Europe/Berlin"),
        ]
    };

    // Hours that are not intervals: the page names the day; nothing is stored.
    let mut form = vec![
        ("_csrf", csrf.as_str()),
        ("id", ""),
        ("name", "Berlin office"),
    ];
    form.extend(week("9 to 5"));
    let page = ada.post("/admin/calendars/save", &form).await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    let error = flash(&page);
    assert!(
        error.contains("friday") && error.contains("9 to 5"),
        "{error}"
    );
    let mut form = vec![
        ("_csrf", csrf.as_str()),
        ("id", ""),
        ("name", "Berlin office"),
    ];
    form.extend(week("09:00-25:00"));
    let page = ada.post("/admin/calendars/save", &form).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(flash(&page).contains("friday"), "{}", flash(&page));
    let mut form = vec![
        ("_csrf", csrf.as_str()),
        ("id", ""),
        ("name", "Mars office"),
    ];
    form.extend(week("09:00-17:00"));
    form.retain(|(k, _)| *k != "time_zone");
    form.push(("time_zone", "Mars/Olympus"));
    let page = ada.post("/admin/calendars/save", &form).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(flash(&page).contains("Mars"), "{}", flash(&page));
    assert!(desk.store.list_calendars().await.unwrap().is_empty());
    // A forged form neither.
    let mut form = vec![("_csrf", "forged"), ("id", ""), ("name", "Berlin office")];
    form.extend(week("09:00-17:00"));
    assert_eq!(
        ada.post("/admin/calendars/save", &form).await.status,
        StatusCode::FORBIDDEN
    );
    assert!(desk.store.list_calendars().await.unwrap().is_empty());

    // A good one is stored as typed, and shown again for editing.
    let mut form = vec![
        ("_csrf", csrf.as_str()),
        ("id", ""),
        ("name", "Berlin office"),
    ];
    form.extend(week("09:00-15:00"));
    let page = ada.post("/admin/calendars/save", &form).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/admin/calendars");
    let calendars = desk.store.list_calendars().await.unwrap();
    assert_eq!(calendars.len(), 1);
    let cal = calendars[0].clone();
    assert_eq!(cal.name, "Berlin office");
    assert_eq!(cal.config.time_zone, "Europe/Berlin");
    let days = cal.config.hours.days();
    assert_eq!(days[0].len(), 2);
    assert_eq!(
        (days[0][1].start.as_str(), days[0][1].end.as_str()),
        ("13:00", "17:00")
    );
    assert_eq!(days[4][0].end, "15:00");
    assert!(days[5].is_empty() && days[6].is_empty());
    assert_eq!(cal.config.holidays, vec!["12-25", "2026-12-24"]);
    let page = ada.get("/admin/calendars").await;
    assert!(
        page.body.contains(&format!(
            r#"data-calendar="{}"><strong>Berlin office</strong>"#,
            cal.id
        )),
        "{}",
        page.body
    );
    let page = ada.get(&format!("/admin/calendars?edit={}", cal.id)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains(&format!(r#"name="id" value="{}""#, cal.id))
    );
    assert!(
        page.body
            .contains(r#"name="day.monday" value="09:00-12:00, 13:00-17:00""#),
        "{}",
        part(&page.body, "id=\"calendar-form\"", "</form>")
    );
    assert!(page.body.contains(r#"name="day.saturday" value="""#));
    assert!(page.body.contains("12-25\n2026-12-24</textarea>"));

    // Edited in place: renamed, Fridays longer.
    let id = cal.id.to_string();
    let mut form = vec![
        ("_csrf", csrf.as_str()),
        ("id", id.as_str()),
        ("name", "Berlin HQ"),
    ];
    form.extend(week("09:00-17:00"));
    let page = ada.post("/admin/calendars/save", &form).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let calendars = desk.store.list_calendars().await.unwrap();
    assert_eq!(calendars.len(), 1, "changed, not added");
    assert_eq!(
        (calendars[0].id, calendars[0].name.as_str()),
        (cal.id, "Berlin HQ")
    );
    assert_eq!(calendars[0].config.hours.days()[4][0].end, "17:00");

    // A policy for urgent tickets: first answer within 60 minutes of calendar time.
    let page = ada.get("/admin/sla").await;
    assert!(
        page.body
            .contains(&format!(r#"<option value="{}">Berlin HQ</option>"#, cal.id)),
        "the calendar is offered"
    );
    let policy_form = |name: &'static str, minutes: &'static str| {
        vec![
            ("_csrf", csrf.clone()),
            ("id", String::new()),
            ("name", name.to_string()),
            ("position", "1".to_string()),
            ("calendar_id", cal.id.to_string()),
            ("priority.urgent", "on".to_string()),
            ("tags", String::new()),
            ("field.key", String::new()),
            ("field.value", String::new()),
            ("first_response.minutes", minutes.to_string()),
            ("first_response.basis", "calendar".to_string()),
            ("next_response.minutes", String::new()),
            ("next_response.basis", "business".to_string()),
            ("periodic_update.minutes", String::new()),
            ("periodic_update.basis", "business".to_string()),
            ("resolution.minutes", "2400".to_string()),
            ("resolution.basis", "business".to_string()),
            ("warn_before_minutes", "15".to_string()),
            ("on_warning.notify_assignee", "on".to_string()),
            ("on_warning.reassign_team_id", String::new()),
            ("on_breach.notify_assignee", "on".to_string()),
            ("on_breach.notify_supervisors", "on".to_string()),
            ("on_breach.reassign_team_id", String::new()),
        ]
    };
    let page = save_policy(&mut ada, &policy_form("Urgent within the hour", "sixty")).await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(
        flash(&page).contains("first_response.minutes"),
        "{}",
        flash(&page)
    );
    let mut misplaced = policy_form("Urgent within the hour", "60");
    misplaced[3].1 = "first".into();
    let page = save_policy(&mut ada, &misplaced).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        flash(&page).contains("position: is not a whole number")
            && !flash(&page).contains("minutes"),
        "{}",
        flash(&page)
    );
    let page = save_policy(&mut ada, &policy_form("Urgent within the hour", "0")).await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(desk.store.list_sla_policies().await.unwrap().is_empty());
    let page = save_policy(&mut ada, &policy_form("Urgent within the hour", "60")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/admin/sla");
    let policies = desk.store.list_sla_policies().await.unwrap();
    assert_eq!(policies.len(), 1);
    let policy = policies[0].clone();
    assert_eq!(policy.name, "Urgent within the hour");
    assert_eq!(policy.calendar_id, Some(cal.id));
    assert_eq!(policy.conditions.priorities, vec![Priority::Urgent]);
    assert!(policy.conditions.tiers.is_empty() && policy.conditions.inbox_ids.is_empty());
    assert_eq!(
        policy.rules.targets.first_response,
        Some(TargetRule {
            minutes: 60,
            basis: Basis::Calendar
        })
    );
    assert_eq!(policy.rules.targets.next_response, None);
    assert_eq!(
        policy
            .rules
            .targets
            .resolution
            .map(|r| (r.minutes, r.basis)),
        Some((2400, Basis::Business))
    );
    assert_eq!(policy.rules.warn_before_minutes, 15);
    assert!(policy.rules.on_breach.notify_supervisors && !policy.rules.on_breach.raise_priority);
    assert!(!policy.rules.on_warning.notify_supervisors);
    let page = ada.get("/admin/sla").await;
    let item = part(
        &page.body,
        &format!(r#"data-policy="{}""#, policy.id),
        "</li>",
    );
    assert!(
        item.contains("Urgent within the hour")
            && item.contains("First response 60 min (calendar time)"),
        "{item}"
    );
    let page = ada.get(&format!("/admin/sla?edit={}", policy.id)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let form = part(&page.body, "id=\"policy-form\"", "</form>");
    assert!(form.contains(r#"name="priority.urgent" checked"#), "{form}");
    assert!(!form.contains(r#"name="priority.low" checked"#), "{form}");
    let minutes = part(form, r#"name="first_response.minutes""#, ">");
    assert!(minutes.contains(r#"value="60""#), "{minutes}");
    assert!(
        form.contains(&format!(
            r#"<option value="{}" selected>Berlin HQ</option>"#,
            cal.id
        )),
        "{form}"
    );

    // A new urgent ticket runs on it: its panel names the policy, lists show its countdown.
    let created = desk
        .store
        .create_ticket(
            ctx(Actor::SYSTEM),
            NewTicket {
                subject: "Line dead at the branch".into(),
                requester: Requester {
                    customer_id: None,
                    email: "carla@acme.example".into(),
                    name: None,
                },
                body: "Nothing works.".into(),
                channel: Channel::Email,
                priority: Priority::Urgent,
                status: TicketStatus::Open,
                tags: Vec::new(),
                inbox: None,
                assignee_id: Some(desk.ann),
                team_id: Some(1),
                custom_fields: Default::default(),
            },
            None,
        )
        .await
        .unwrap()
        .value;
    let due = first_response_due(&desk, created.id).await;
    assert_eq!(due.0, created.created_at.0 + 60 * MINUTE);
    let mut ann = signed_in(&desk, "ann@example.com").await;
    let page = ann.get(&format!("/t/{}", created.id)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let panel = sla_panel(&page);
    assert!(
        panel.contains(r#"<span class="muted">· Urgent within the hour</span>"#),
        "{panel}"
    );
    assert!(
        panel.contains(&format!(r#"class="sla sla-soon" data-due="{}">"#, due.0)),
        "under an hour left: {panel}"
    );
    assert!(panel.contains(r#"data-target="resolution""#), "{panel}");
    let page = ann.get("/?view=all").await;
    assert_eq!(page.status, StatusCode::OK);
    let line = row(&page, created.id);
    assert!(
        line.contains(&format!(
            r#"<td class="sla-cell"><span class="sla sla-soon" title="First response" data-due="{}">"#,
            due.0
        )),
        "{line}"
    );
    assert!(is_countdown(&countdown_at(line, due)), "{line}");
    let page = ann.get("/rows?view=all").await;
    assert!(
        row(&page, created.id).contains(r#"class="sla sla-soon" title="First response""#),
        "paging and live refreshes keep the badge: {}",
        row(&page, created.id)
    );

    // Waiting on the customer pauses the clocks: the panel says how much is left, and lists
    // show no countdown.
    let ann_csrf = ann.get("/").await.csrf();
    let page = ann
        .post(
            &format!("/t/{}/props", created.id),
            &[("_csrf", &ann_csrf), ("status", "pending")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = ann.get(&format!("/t/{}", created.id)).await;
    let panel = sla_panel(&page);
    assert!(panel.contains(r#"class="muted sla-paused""#), "{panel}");
    let target = part(panel, r#"data-target="first_response""#, "</li>");
    assert!(
        target.contains(r#"data-state="paused""#)
            && target.contains(r#"<span class="sla sla-paused">paused,"#),
        "{target}"
    );
    let page = ann.get("/?view=all").await;
    assert!(
        row(&page, created.id).contains(r#"<td class="sla-cell"></td>"#),
        "{}",
        row(&page, created.id)
    );
    // A lower priority chooses again: the urgent policy no longer applies.
    let page = ann
        .post(
            &format!("/t/{}/props", created.id),
            &[
                ("_csrf", &ann_csrf),
                ("status", "open"),
                ("priority", "normal"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let sla = desk.store.ticket_sla(created.id).await.unwrap().unwrap();
    assert_eq!(sla.policy_id, None);
    let page = ann.get(&format!("/t/{}", created.id)).await;
    assert!(
        !sla_panel(&page).contains("Urgent within the hour"),
        "{}",
        sla_panel(&page)
    );

    // Open tickets from before the policy get it once the scheduler recomputed them.
    settle(&desk.store, rapport_web::now()).await;
    let sla = desk.store.ticket_sla(desk.urgent).await.unwrap().unwrap();
    assert_eq!(sla.policy_name.as_deref(), Some("Urgent within the hour"));
    let page = ann.get(&format!("/t/{}", desk.urgent)).await;
    assert!(sla_panel(&page).contains("· Urgent within the hour"));
    let page = ann.get(&format!("/t/{}", desk.normal)).await;
    assert!(
        !sla_panel(&page).contains("Urgent within the hour"),
        "a normal ticket keeps the inbox's target"
    );

    // A calendar a policy counts on stays, and the page says which policy.
    let page = ada
        .post(
            &format!("/admin/calendars/{}/delete", cal.id),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);
    assert!(
        flash(&page).contains("Urgent within the hour"),
        "{}",
        flash(&page)
    );
    assert_eq!(desk.store.list_calendars().await.unwrap().len(), 1);

    // Agents and supervisors do not administer: the sections do not exist for them.
    let ann_csrf = ann.get("/").await.csrf();
    let (_, mut sue) = staff(&desk, "sue@example.com", "Sue Supervisor", Role::Supervisor).await;
    let sue_csrf = sue.get("/").await.csrf();
    for (v, csrf) in [(&mut ann, &ann_csrf), (&mut sue, &sue_csrf)] {
        for path in ["/admin/calendars", "/admin/sla"] {
            let page = v.get(path).await;
            assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        }
        let mut form = vec![("_csrf", csrf.as_str()), ("id", ""), ("name", "Mine")];
        form.extend(week("09:00-17:00"));
        for path in [
            "/admin/calendars/save".to_string(),
            format!("/admin/calendars/{}/delete", cal.id),
            "/admin/sla/save".to_string(),
            format!("/admin/sla/{}/delete", policy.id),
        ] {
            let page = v.post(&path, &form).await;
            assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        }
    }
    assert_eq!(desk.store.list_calendars().await.unwrap().len(), 1);
    assert_eq!(desk.store.list_sla_policies().await.unwrap().len(), 1);

    // German.
    ada.language = "de";
    let page = ada.get("/admin/calendars").await;
    assert!(page.body.contains("Geschäftszeiten"), "{}", page.body);
    let page = ada.get("/admin/sla").await;
    assert!(page.body.contains("SLA-Richtlinien"));
    ada.language = "en";

    // The policy goes, then the calendar can.
    let page = ada
        .post(
            &format!("/admin/sla/{}/delete", policy.id),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(desk.store.list_sla_policies().await.unwrap().is_empty());
    let page = ada
        .post(
            &format!("/admin/calendars/{}/delete", cal.id),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(desk.store.list_calendars().await.unwrap().is_empty());
    let page = ada.get("/admin/calendars").await;
    assert!(!page.body.contains("Berlin HQ"));
    let _ = desk.stop.send(());
}

async fn missed_targets_alert_owners_and_reach_the_report(store: Arc<dyn Store>) {
    let desk = open_desk(store).await;
    let (sue_id, mut sue) =
        staff(&desk, "sue@example.com", "Sue Supervisor", Role::Supervisor).await;
    desk.store
        .save_sla_policy(
            ctx(Actor::SYSTEM),
            None,
            NewSlaPolicy {
                name: "Urgent within the hour".into(),
                position: 1,
                conditions: Conditions {
                    priorities: vec![Priority::Urgent],
                    ..Default::default()
                },
                rules: Rules {
                    targets: Targets {
                        first_response: Some(TargetRule {
                            minutes: 60,
                            basis: Basis::Calendar,
                        }),
                        ..Default::default()
                    },
                    warn_before_minutes: 15,
                    on_warning: Actions {
                        notify_assignee: true,
                        ..Default::default()
                    },
                    on_breach: Actions {
                        notify_assignee: true,
                        notify_supervisors: true,
                        ..Default::default()
                    },
                },
                calendar_id: None,
            },
        )
        .await
        .unwrap();
    let start = rapport_web::now();
    settle(&desk.store, start).await;
    let id = desk.urgent;
    let ticket = format!("/t/{id}");
    let created = desk.store.ticket(id).await.unwrap().created_at;
    let due = first_response_due(&desk, id).await;
    assert_eq!(
        due.0,
        created.0 + 60 * MINUTE,
        "recomputed under the policy"
    );

    // Ann promises three things: a next update, an engineer's visit, a form by mail.
    let mut ann = signed_in(&desk, "ann@example.com").await;
    let csrf = ann.get(&ticket).await.csrf();
    let page = quick(&mut ann, &csrf, id, "next_update", "", "in_two_hours").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let (visit_at, _) = typed_due("UTC", 1, 12);
    let page = promise(&mut ann, &csrf, id, "Engineer visit", (&visit_at, "UTC")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let (form_at, _) = typed_due("UTC", 2, 12);
    let page = promise(&mut ann, &csrf, id, "Send the RMA form", (&form_at, "UTC")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let list = commitments(&desk, id).await;
    let (next, visit, rma) = (list[0].clone(), list[1].clone(), list[2].clone());
    assert!(next.due_at.0 >= start.0 + 2 * HOUR);

    // Nobody is alerted yet.
    let page = ann.get("/?view=alerts").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(!page.body.contains(&format!(r#"data-ticket-id="{id}""#)));

    // Ninety minutes on, nobody has answered: the first response is missed.
    let later = Millis(start.0 + 90 * MINUTE);
    let pass = desk.store.scheduler_pass(later, 100).await.unwrap();
    assert_eq!(pass.breaches, 1, "{pass:?}");
    assert_eq!(pass.broken, 0, "{pass:?}");
    let sla = desk.store.ticket_sla(id).await.unwrap().unwrap();
    assert_eq!(sla.breaches, 1);
    let page = ann.get("/?view=alerts").await;
    assert!(
        page.body.contains("Alerts for me"),
        "{}",
        part(&page.body, "<h1>", "</h1>")
    );
    assert!(
        row(&page, id).contains("Router down at HQ"),
        "the owner is alerted"
    );
    assert!(
        !page
            .body
            .contains(&format!(r#"data-ticket-id="{}""#, desk.normal)),
        "nothing happened there"
    );
    let page = sue.get("/?view=alerts").await;
    assert!(
        page.body.contains(&format!(r#"data-ticket-id="{id}""#)),
        "the team's supervisor is alerted"
    );
    let mut bo = signed_in(&desk, "bo@example.com").await;
    let page = bo.get("/?view=alerts").await;
    assert!(
        !page.body.contains(&format!(r#"data-ticket-id="{id}""#)),
        "not Bo's ticket"
    );
    let page = ann.get(&ticket).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains(r#"data-event="sla.breached""#),
        "{}",
        part(&page.body, "id=\"conversation\"", "id=\"reply\"")
    );
    let event = part(&page.body, r#"data-event="sla.breached""#, "</div>");
    assert!(
        event.contains("— SLA target missed:")
            && event.contains(r#"<em class="event-detail">First response</em>"#),
        "{event}"
    );
    let target = part(sla_panel(&page), r#"data-target="first_response""#, "</li>");
    assert!(
        target.contains(r#"class="sla sla-overdue""#) && target.contains(">missed</span>"),
        "{target}"
    );
    // Ann answers: the next update is kept, and the form's promise she then marks done.
    reply(&mut ann, id, "An engineer is on the way.").await;
    let page = ann
        .post(
            &format!("{ticket}/commitments/{}/fulfil", rma.id),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(
        commitment(&desk, id, next.id).await.status,
        CommitmentStatus::Kept
    );
    assert_eq!(
        commitment(&desk, id, rma.id).await.status,
        CommitmentStatus::Kept
    );

    // The engineer never came: three days on the visit lapsed.
    let pass = desk
        .store
        .scheduler_pass(Millis(start.0 + 3 * DAY), 100)
        .await
        .unwrap();
    assert!(pass.broken >= 1, "{pass:?}");
    let broken = commitment(&desk, id, visit.id).await;
    assert_eq!(
        (broken.status, broken.note.as_str()),
        (CommitmentStatus::Broken, "lapsed")
    );
    let page = ann.get(&ticket).await;
    assert!(
        commitment_item(&page, visit.id).contains("Broken"),
        "{}",
        commitment_item(&page, visit.id)
    );
    let event = part(&page.body, r#"data-event="commitment.broken""#, "</div>");
    assert!(
        event.contains("— commitment broken:") && event.contains("Engineer visit"),
        "{event}"
    );

    // Carla asks for news on her other ticket before any answer: a chase.
    desk.store
        .add_message(
            ctx(Actor::customer(desk.carla)),
            desk.normal,
            NewMessage {
                kind: MessageKind::Customer,
                channel: Channel::Email,
                body: "Any update on my invoice?".into(),
                send_email: false,
                attachments: Vec::new(),
            },
            None,
        )
        .await
        .unwrap();

    // The supervisor's report: two kept, one broken; one ticket of three chased.
    let page = sue.get("/").await;
    assert!(page.body.contains(r#"id="reports-link""#));
    let page = sue.get("/reports").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let overall = part(&page.body, r#"data-scope="overall""#, "</tr>");
    assert!(
        overall.contains("<td>2</td><td>1</td><td>0</td>"),
        "{overall}"
    );
    assert!(
        overall.contains(r#"<td class="rate">67%</td>"#),
        "{overall}"
    );
    let hers = part(
        &page.body,
        &format!(r#"data-scope="agent" data-id="{}""#, desk.ann),
        "</tr>",
    );
    assert!(
        hers.contains("Ann Agent") && hers.contains("<td>2</td><td>1</td><td>0</td>"),
        "{hers}"
    );
    assert!(
        !page
            .body
            .contains(&format!(r#"data-scope="agent" data-id="{sue_id}""#)),
        "Sue promised nothing"
    );
    let chases = part(&page.body, r#"id="chase-rates""#, "</section>");
    let everyone = part(chases, r#"<tr class="chase-row">"#, "</tr>");
    assert!(
        everyone.contains("<td>3</td><td>1</td><td>1</td>")
            && everyone.contains(r#"<td class="rate">33%</td>"#),
        "{everyone}"
    );
    let team = part(chases, r#"data-team="1""#, "</tr>");
    assert!(team.contains("<td>3</td><td>1</td><td>1</td>"), "{team}");
    sue.language = "de";
    let page = sue.get("/reports").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Eingehaltene Zusagen"), "{}", page.body);

    // Agents do not read the report: it does not exist for them.
    let page = ann.get("/").await;
    assert!(!page.body.contains(r#"id="reports-link""#));
    assert_eq!(ann.get("/reports").await.status, StatusCode::NOT_FOUND);
    assert_eq!(bo.get("/reports").await.status, StatusCode::NOT_FOUND);
    let _ = desk.stop.send(());
}

async fn customers_see_what_we_promised_them(store: Arc<dyn Store>) {
    let desk = open_desk(store).await;
    let mut ann = signed_in(&desk, "ann@example.com").await;
    let csrf = ann.get(&format!("/t/{}", desk.urgent)).await.csrf();
    let page = quick(
        &mut ann,
        &csrf,
        desk.urgent,
        "next_update",
        "",
        "tomorrow_morning",
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let (typed, _) = typed_due("Europe/Berlin", 2, 15);
    let page = promise(
        &mut ann,
        &csrf,
        desk.urgent,
        "A replacement router ships",
        (&typed, "Europe/Berlin"),
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = promise(
        &mut ann,
        &csrf,
        desk.urgent,
        "An idea we dropped",
        (&typed, "Europe/Berlin"),
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = promise(
        &mut ann,
        &csrf,
        desk.dans,
        "Something only for Dan",
        (&typed, "Europe/Berlin"),
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let list = commitments(&desk, desk.urgent).await;
    let (next, ships, dropped) = (list[0].clone(), list[1].clone(), list[2].clone());
    let page = ann
        .post(
            &format!("/t/{}/commitments/{}/cancel", desk.urgent, dropped.id),
            &[("_csrf", &csrf), ("reason", "Not needed after all")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);

    // Carla sees, in her zone, when we will answer and what we promised; nothing withdrawn.
    let mut carla = customer_signed_in(&desk, "carla@acme.example").await;
    let path = format!("/portal/t/{}", desk.urgent);
    let page = carla.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let answer_by = first_response_due(&desk, desk.urgent).await;
    let expected = part(&page.body, r#"id="promise""#, "</p>");
    assert!(
        expected.contains("You can expect our answer by")
            && expected.contains(&esc(&rapport_mail::templates::format_expected(
                answer_by.0,
                "Europe/Berlin",
                "en"
            ))),
        "{expected}"
    );
    let promised = part(&page.body, r#"id="commitments""#, "</div>");
    assert!(promised.contains("What we have promised you"), "{promised}");
    let in_berlin = |at: Millis, lang: &str| {
        esc(&rapport_mail::templates::format_expected(
            at.0,
            "Europe/Berlin",
            lang,
        ))
    };
    assert!(
        promised.contains(&format!(
            r#"<li data-kind="next_update">Our next update: <strong>by {}</strong></li>"#,
            in_berlin(next.due_at, "en")
        )),
        "{promised}"
    );
    assert!(
        promised.contains(&format!(
            r#"<li data-kind="promise">A replacement router ships: <strong>by {}</strong></li>"#,
            in_berlin(ships.due_at, "en")
        )),
        "{promised}"
    );
    assert!(promised.contains("(Europe&#x2f;Berlin)"), "{promised}");
    assert!(!page.body.contains("An idea we dropped"), "withdrawn");
    assert!(!page.body.contains("Something only for Dan"));

    // Dan's ticket, and what we promised him, stay his.
    let page = carla.get(&format!("/portal/t/{}", desk.dans)).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!page.body.contains("Something only for Dan"));
    let page = carla.get("/portal").await;
    assert!(!page.body.contains("Something only for Dan"));

    // German: the same times, in German.
    carla.language = "de";
    let page = carla.get(&path).await;
    let promised = part(&page.body, r#"id="commitments""#, "</div>");
    assert!(
        promised.contains("Was wir Ihnen zugesagt haben")
            && promised.contains(&in_berlin(ships.due_at, "de")),
        "{promised}"
    );
    assert!(page.body.contains("Sie erhalten unsere Antwort bis"));
    carla.language = "en";

    // Once answered: no expected answer time; the reply kept the next update.
    reply(&mut ann, desk.urgent, "The replacement is on its way.").await;
    let page = carla.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.body.contains(r#"id="promise""#),
        "answered: {}",
        page.body
    );
    let promised = part(&page.body, r#"id="commitments""#, "</div>");
    assert!(promised.contains("A replacement router ships"));
    assert!(!promised.contains("next_update"), "{promised}");
    let _ = desk.stop.send(());
}

rapport_store::on_both_backends!(
    agents_commit_keep_and_withdraw_on_the_ticket_page,
    admins_set_business_hours_and_policies,
    missed_targets_alert_owners_and_reach_the_report,
    customers_see_what_we_promised_them,
);
