//! Customers searching their own requests in the portal over real HTTP, on SQLite and
//! PostgreSQL: words of our public replies (and their other forms) find a ticket, words only in
//! an internal note find nothing and the note never shows, other customers' tickets never
//! appear, an organisation's admin searches the organisation's tickets and a plain member only
//! their own, filters the parser refuses or that would reveal the team's working notes (tags,
//! priority, owner) are explained on the page, and the page speaks German.

use super::ui::{Desk, Page, Visitor, ctx, customer_signed_in, open_desk};
use rapport_core::{Actor, Channel, MessageKind, Priority, TicketStatus};
use rapport_store::{CustomerPatch, NewMessage, NewTicket, Requester, Store};
use reqwest::StatusCode;
use std::sync::Arc;

/// A message on a ticket, as `actor` writes it.
async fn write(desk: &Desk, actor: Actor, ticket: i64, kind: MessageKind, body: &str) {
    let message = NewMessage {
        kind,
        channel: Channel::Email,
        body: body.into(),
        send_email: false,
        attachments: Vec::new(),
    };
    desk.store
        .add_message(ctx(actor), ticket, message, None)
        .await
        .unwrap();
}

/// The portal's ticket list searched for `q`.
async fn search(visitor: &mut Visitor, q: &str) -> Page {
    let query = serde_urlencoded::to_string([("q", q)]).unwrap();
    visitor.get(&format!("/portal?{query}")).await
}

/// The search results of a page: the list after the results heading.
fn results(page: &Page) -> &str {
    let at = page
        .body
        .find("id=\"search-results\"")
        .unwrap_or_else(|| panic!("a results heading: {}", page.body));
    let rest = &page.body[at..];
    &rest[..rest.find("</ul>").unwrap_or(rest.len())]
}

async fn customers_search_their_own_requests(store: Arc<dyn Store>) {
    let desk = open_desk(store).await;
    let ann = Actor::agent(desk.ann);
    // Our public answers: to Carla's invoice question (with text that needs escaping), to
    // Dan's matter (same organisation), and to Erin, who is with no organisation.
    write(
        &desk,
        ann,
        desk.normal,
        MessageKind::Reply,
        "Your invoice was refunded to the card <b>ending</b> 4242 & \"confirmed\".",
    )
    .await;
    write(
        &desk,
        ann,
        desk.dans,
        MessageKind::Reply,
        "We refunded the deposit.",
    )
    .await;
    let erin = desk
        .store
        .create_ticket(
            ctx(Actor::SYSTEM),
            NewTicket {
                subject: "Parcel missing".into(),
                requester: Requester {
                    customer_id: None,
                    email: "erin@elsewhere.example".into(),
                    name: Some("Erin".into()),
                },
                body: "Where is my parcel?".into(),
                channel: Channel::Email,
                priority: Priority::Normal,
                status: TicketStatus::Open,
                tags: Vec::new(),
                inbox: None,
                assignee_id: None,
                team_id: Some(1),
                custom_fields: Default::default(),
            },
            None,
        )
        .await
        .unwrap()
        .value;
    write(
        &desk,
        ann,
        erin.id,
        MessageKind::Reply,
        "Your parcel was refunded in full.",
    )
    .await;
    // On Carla's urgent ticket: a note (written first) and a public reply sharing a word.
    write(
        &desk,
        Actor::agent(desk.bo),
        desk.urgent,
        MessageKind::Note,
        "Internal: zeppelin fraud suspected, replacement approved by finance",
    )
    .await;
    write(
        &desk,
        ann,
        desk.urgent,
        MessageKind::Reply,
        "We are sending a replacement router today.",
    )
    .await;

    let mut carla = customer_signed_in(&desk, "carla@acme.example").await;

    // The box: labelled, with a button, on the plain list too.
    let page = carla.get("/portal").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains(r#"<label for="portal-q">Search your requests</label>"#)
            && page.body.contains(r#"id="portal-q" name="q""#)
            && page
                .body
                .contains(r#"<button type="submit" class="primary">Search</button>"#),
        "{}",
        page.body
    );
    assert!(!page.body.contains("id=\"search-results\""));

    // A word of our reply finds her ticket, the match marked and everything else escaped.
    let page = search(&mut carla, "refunded").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let found = results(&page);
    assert!(found.contains("Invoice question"), "{found}");
    assert!(
        found.contains(
            "<mark>refunded</mark> to the card &lt;b&gt;ending&lt;/b&gt; 4242 &amp; &quot;confirmed"
        ),
        "{found}"
    );
    assert!(!found.contains("<b>"), "{found}");
    assert!(found.contains(&format!("href=\"/portal/t/{}\"", desk.normal)));
    assert!(found.contains("R-") && found.contains("In progress") && found.contains("<time"));
    assert!(
        page.body.contains(r#"value="refunded""#),
        "the box keeps the words"
    );
    assert!(page.body.contains("id=\"human-contact\""));
    // Only tickets that match, and never another customer's.
    for other in ["Router down at HQ", "private matter", "Parcel missing"] {
        assert!(!found.contains(other), "{other}: {found}");
    }

    // Another form of the word finds it too.
    let page = search(&mut carla, "refunds").await;
    let found = results(&page);
    assert!(
        found.contains("Invoice question") && found.contains("<mark>refunded</mark>"),
        "{found}"
    );
    assert!(!found.contains("private matter") && !found.contains("Parcel missing"));

    // Words only in the internal note find nothing, and the note never shows.
    for word in ["zeppelin", "fraud", "warranty"] {
        let page = search(&mut carla, word).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.contains("id=\"search-none\"") && !page.body.contains("Router down"),
            "{word}: {}",
            page.body
        );
        for secret in ["suspected", "finance", "Internal", "check the"] {
            assert!(!page.body.contains(secret), "{word}: {secret}");
        }
    }
    // A word in both the note and a public reply: the excerpt is the reply's.
    let page = search(&mut carla, "replacement").await;
    let found = results(&page);
    assert!(
        found.contains("Router down at HQ")
            && found.contains("sending a <mark>replacement</mark> router"),
        "{found}"
    );
    assert!(!page.body.contains("zeppelin") && !page.body.contains("finance"));

    // Markup typed into the box comes back as text.
    let page = search(&mut carla, "\"><script>alert(1)</script>").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("<script>"), "{}", page.body);

    // An empty search is the plain list.
    for blank in ["", "   "] {
        let page = search(&mut carla, blank).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.contains("Router down at HQ")
                && page.body.contains("Invoice question")
                && !page.body.contains("id=\"search-results\"")
                && !page.body.contains("id=\"search-error\""),
            "{}",
            page.body
        );
    }

    // Dan, a plain member of the same organisation, finds only his own.
    let mut dan = customer_signed_in(&desk, "dan@acme.example").await;
    let page = search(&mut dan, "refunds").await;
    let found = results(&page);
    assert!(found.contains("private matter"), "{found}");
    assert!(!found.contains("Invoice question") && !found.contains("Parcel missing"));

    // Carla as the organisation's admin finds the organisation's tickets, not Erin's.
    let patch = CustomerPatch {
        org_admin: Some(true),
        ..Default::default()
    };
    desk.store
        .update_customer(ctx(Actor::SYSTEM), desk.carla, patch)
        .await
        .unwrap();
    let page = search(&mut carla, "refunds").await;
    let found = results(&page);
    assert!(
        found.contains("Invoice question") && found.contains("private matter"),
        "{found}"
    );
    assert!(!found.contains("Parcel missing"), "{found}");
    // Still no notes for an admin.
    let page = search(&mut carla, "zeppelin").await;
    assert!(page.body.contains("id=\"search-none\"") && !page.body.contains("finance"));
    // Dan is still only himself.
    let found = results(&search(&mut dan, "refunds").await).to_string();
    assert!(found.contains("private matter") && !found.contains("Invoice question"));

    // A filter the parser refuses: its message, the box still filled, 422, and nothing broken.
    let page = search(&mut carla, "invoice status:done").await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(
        page.body.contains(r#"id="search-error""#)
            && page.body.contains("We could not read this search:")
            && page.body.contains("status:done:"),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"value="invoice status:done""#));
    assert!(page.body.contains(r#"aria-invalid="true""#));
    assert!(page.body.contains("id=\"human-contact\""));
    assert!(!page.body.contains("id=\"search-none\""));
    // Filters on the team's working notes are not for customers: every ticket here is tagged
    // `vip`, and the page must not confirm it.
    for q in [
        "tag:vip",
        "-tag:vip invoice",
        "priority:urgent",
        "assignee:me",
    ] {
        let page = search(&mut carla, q).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{q}");
        assert!(
            page.body.contains("are for our team") && !page.body.contains("Router down"),
            "{q}: {}",
            page.body
        );
    }
    // Filters on what the customer sees work.
    let page = search(&mut carla, "status:open refunds").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(results(&page).contains("Invoice question"));
    let page = carla.get("/portal").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Router down at HQ"));

    // German.
    carla.language = "de";
    let page = search(&mut carla, "refunds").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains(r#"<label for="portal-q">Ihre Anfragen durchsuchen</label>"#)
            && page.body.contains(">Suchen</button>")
            && page.body.contains("Passende Anfragen"),
        "{}",
        page.body
    );
    assert!(results(&page).contains("Invoice question"));
    let page = search(&mut carla, "status:done").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("Diese Suche konnten wir nicht lesen:"));

    let _ = desk.stop.send(());
}

rapport_store::on_both_backends!(customers_search_their_own_requests);
