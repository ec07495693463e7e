//! `rapport bench views`: the workspace on a seeded database — views, focus mode, random
//! ticket pages and the search page — one request at a time as agent0, against the JSON
//! ticket list (the timing loop is `bench pages`').

use crate::bench_pages::{InProcess, Page, print_report, sign_in, time_api_list, time_pages};
use crate::bench_seed::PASSWORD;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rapport_core::Actor;
use rapport_store::Ctx;
use rapport_web::auth;

pub async fn run(url: &str, rounds: usize) -> anyhow::Result<()> {
    let (tickets, messages, _) = crate::bench_seed::counts(url).await?;
    let store = rapport_store::open(url).await?;
    let agent = store
        .agent_login("agent0@example.com")
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no agent0@example.com: is this a database seeded by `rapport bench seed`?"
            )
        })?
        .agent;
    let token = auth::new_token();
    store
        .create_api_token(
            Ctx {
                actor: Actor::SYSTEM,
                at: rapport_web::now(),
            },
            agent.id,
            &rapport_store::scratch::unique_name("bench-views"),
            &auth::token_hash(&token),
        )
        .await?;
    let server = InProcess::start(store.clone()).await?;
    let result = async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let cookie = sign_in(&client, &server.base, "agent0@example.com", PASSWORD).await?;
        let mut rng = StdRng::seed_from_u64(11);
        let ticket_paths = (0..rounds)
            .map(|_| format!("/t/{}", 10_001 + rng.gen_range(0..tickets.max(1))))
            .collect();
        let pages = vec![
            Page::at("view: mine", "/?view=mine"),
            Page::at("view: unassigned", "/?view=unassigned"),
            Page::at("view: all", "/?view=all"),
            Page::at("view: filtered", "/?priority=high&status=open"),
            Page::at("focus (next)", "/focus"),
            Page {
                name: "ticket page (random)".into(),
                paths: ticket_paths,
            },
            Page {
                name: "search page".into(),
                paths: [
                    "refund",
                    "router firmware",
                    "status:open password",
                    "\"charged twice\"",
                    "invoic*",
                    "Rechnung",
                    "tag:billing",
                ]
                .iter()
                .map(|q| format!("/search?q={}", form_encode(q)))
                .collect(),
            },
        ];
        println!(
            "bench views: {tickets} tickets, {messages} messages ({}), signed in as agent0",
            store.backend()
        );
        let report = time_pages(&client, &server.base, &cookie, &pages, rounds).await?;
        let api = time_api_list(&client, &server.base, &token, rounds).await?;
        print_report(rounds, &report, &api);
        anyhow::Ok(())
    }
    .await;
    server.stop().await?;
    store.close().await;
    result
}

/// A query string value, percent-encoded.
fn form_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
