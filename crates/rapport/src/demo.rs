//! Demo data: a small broadband company, Northwind Networks, with its teams, agents, business
//! customers and three months of conversations. Written through the store like real traffic,
//! so every ticket has its full history. Idempotency keys make a second run (or a run after a
//! crash half-way) add nothing twice.

use anyhow::Context;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rapport_core::commitment::{CommitmentKind, QuickDue};
use rapport_core::contact::Tier;
use rapport_core::fields::{FieldDef, FieldType};
use rapport_core::update::TicketPatch;
use rapport_core::{
    Actor, Channel, Formality, MessageKind, Millis, Preferences, Priority, Role, TicketStatus,
};
use rapport_store::{
    Ctx, Due, Idempotency, NewAgent, NewCommitment, NewCustomer, NewInternalRequest, NewMessage,
    NewOrganization, NewTicket, PageRequest, Requester, Store, Ticket, TicketFilter,
};
use rapport_web::auth;
use std::sync::Arc;

mod channels;
use channels::seed_channels;

pub const DEMO_PASSWORD: &str = "rapport-demo";
const SEEDED_KEY: &str = "demo.seeded";
/// Chats, calls and callbacks came after the first demo data: a separate key, so a desk filled
/// by an older `demo` gets them once too.
const CHANNELS_KEY: &str = "demo.channels";
/// The inbox whose chat widget the demo shows (the one every desk starts with).
const WIDGET_INBOX: &str = "Support";
const TICKETS: usize = 2_100;
const ORGANIZATIONS: usize = 24;
const CUSTOMERS: usize = 240;

pub struct Summary {
    pub logins: Vec<(String, Role)>,
    pub token: String,
    pub added: bool,
    pub tickets: usize,
    /// A demo customer's name and a fresh portal sign-in link for them.
    pub portal: Option<(String, String)>,
    /// The inbox whose chat widget `/widget/demo` shows.
    pub widget_inbox: Option<i64>,
}

impl Summary {
    /// Makes a portal sign-in link for a demo customer, so the portal can be tried without
    /// any mail set up.
    pub async fn portal_link(&mut self, store: &dyn Store, base_url: &str) -> anyhow::Result<()> {
        // Chat visitors and callers may have no address, and the portal signs in by one.
        let first = store
            .list_customers(&Default::default(), rapport_store::PageRequest::first(20))
            .await?
            .items
            .into_iter()
            .find(|c| !c.emails.is_empty());
        if let Some(customer) = first {
            let link =
                rapport_web::ui::portal::handed_over_link(store, base_url, customer.id).await?;
            self.portal = Some((customer.name, link));
        }
        Ok(())
    }

    pub fn print(&self, base_url: &str) {
        if self.added {
            println!(
                "  Demo data added: {} tickets, {CUSTOMERS} customers in {ORGANIZATIONS} organisations.",
                self.tickets
            );
        } else {
            println!("  Demo data was already there; nothing added.");
        }
        println!("  Demo logins (password: {DEMO_PASSWORD}):");
        for (email, role) in &self.logins {
            println!("    {email:<34} {}", role.as_str());
        }
        if let Some((name, link)) = &self.portal {
            println!("  Portal as {name} (single use, 20 minutes): {link}");
        }
        if let Some(inbox) = self.widget_inbox {
            println!("  Chat widget on a sample page: {base_url}/widget/demo?inbox={inbox}");
            println!("  Chat queue: {base_url}/chats   Callbacks: {base_url}/callbacks");
        }
        println!("  API token (new for this run): {}", self.token);
        println!(
            "  Try: curl -H 'Authorization: Bearer {}' {base_url}/api/v1/tickets?limit=5",
            self.token
        );
    }
}

struct Person {
    email: &'static str,
    name: &'static str,
    role: Role,
    teams: &'static [&'static str],
}

const STAFF: &[Person] = &[
    Person {
        email: "ada@northwind.example",
        name: "Ada Lovelace",
        role: Role::Admin,
        teams: &["Support"],
    },
    Person {
        email: "grace@northwind.example",
        name: "Grace Hopper",
        role: Role::Supervisor,
        teams: &["Support", "Technical"],
    },
    Person {
        email: "katherine@northwind.example",
        name: "Katherine Johnson",
        role: Role::Supervisor,
        teams: &["Billing"],
    },
    Person {
        email: "sam@northwind.example",
        name: "Sam Okafor",
        role: Role::Agent,
        teams: &["Support"],
    },
    Person {
        email: "lena@northwind.example",
        name: "Lena Fischer",
        role: Role::Agent,
        teams: &["Support"],
    },
    Person {
        email: "mateo@northwind.example",
        name: "Mateo Garcia",
        role: Role::Agent,
        teams: &["Support", "Billing"],
    },
    Person {
        email: "yuki@northwind.example",
        name: "Yuki Tanaka",
        role: Role::Agent,
        teams: &["Technical"],
    },
    Person {
        email: "omar@northwind.example",
        name: "Omar Haddad",
        role: Role::Agent,
        teams: &["Technical"],
    },
    Person {
        email: "priya@northwind.example",
        name: "Priya Nair",
        role: Role::Agent,
        teams: &["Billing"],
    },
    Person {
        email: "jonas@northwind.example",
        name: "Jonas Berg",
        role: Role::Agent,
        teams: &["Support"],
    },
    Person {
        email: "amara@northwind.example",
        name: "Amara Diallo",
        role: Role::Agent,
        teams: &["Technical"],
    },
    Person {
        email: "felix@northwind.example",
        name: "Felix Wagner",
        role: Role::LightAgent,
        teams: &["Shipping"],
    },
    Person {
        email: "nora@northwind.example",
        name: "Nora Lindqvist",
        role: Role::LightAgent,
        teams: &["Finance"],
    },
];

const TEAMS: &[(&str, &str)] = &[
    ("Billing", "Invoices, refunds, plan changes"),
    ("Technical", "Connectivity, hardware, outages"),
    ("Shipping", "Hardware dispatch and returns (internal)"),
    ("Finance", "Credits and approvals (internal)"),
];

const INBOXES: &[(&str, &str, &str)] = &[
    ("Billing", "billing@northwind.example", "Billing"),
    ("Technical", "tech@northwind.example", "Technical"),
];

fn demo_inbox_settings(name: &str) -> rapport_store::InboxPatch {
    use rapport_core::calendar::{CalendarConfig, IntervalConfig, WeekConfig};
    rapport_store::InboxPatch {
        from_name: Some(format!("Northwind {name}")),
        signature: Some(format!("Northwind Networks · {name} team")),
        human_contact: Some(
            "Call us on +49 30 5557 1200, Monday to Friday 08:00–18:00 (Berlin time)".into(),
        ),
        business_hours: Some(CalendarConfig {
            time_zone: "Europe/Berlin".into(),
            hours: WeekConfig::weekdays(&[IntervalConfig::new("08:00", "18:00")]),
            holidays: vec![
                "12-24".into(),
                "12-25".into(),
                "12-26".into(),
                "01-01".into(),
            ],
        }),
        first_response_minutes: Some(240),
        ..rapport_store::InboxPatch::default()
    }
}

const PRODUCTS: &[&str] = &[
    "Router X1",
    "Router X2",
    "Mesh Kit",
    "Fibre Modem",
    "Business Gateway",
];

const COMPANIES: &[&str] = &[
    "Acme Logistics",
    "Blue Harbor Bakery",
    "Cobalt Dental",
    "Delta Architects",
    "Evergreen Florists",
    "Fjord Analytics",
    "Granite Legal",
    "Helios Solar",
    "Iris Opticians",
    "Juniper Schools",
    "Kestrel Aviation",
    "Lumen Studios",
    "Marlow Hotels",
    "Nimbus Cloudworks",
    "Orchid Clinics",
    "Pioneer Freight",
    "Quartz Accounting",
    "Redwood Retail",
    "Summit Fitness",
    "Tidewater Marinas",
    "Umber Coffee",
    "Vantage Media",
    "Willow Care Homes",
    "Zenith Engineering",
];

const FIRST: &[&str] = &[
    "Ann", "Ben", "Chloe", "David", "Elif", "Farah", "George", "Hana", "Ivan", "Julia", "Karim",
    "Laura", "Mikael", "Nadia", "Oscar", "Paula", "Quentin", "Rosa", "Stefan", "Tara", "Umar",
    "Vera", "Wei", "Xenia", "Yusuf", "Zoe",
];

const LAST: &[&str] = &[
    "Lee",
    "Müller",
    "Rossi",
    "Kowalski",
    "Nguyen",
    "Smith",
    "Jensen",
    "Haddad",
    "Silva",
    "Novak",
    "Ivanova",
    "Brown",
    "Dubois",
    "Yilmaz",
    "Tanaka",
    "O'Brien",
    "Schmidt",
    "Costa",
    "Andersson",
    "Patel",
];

const LANGUAGES: &[(&str, &str)] = &[
    ("en", "Europe/London"),
    ("de", "Europe/Berlin"),
    ("fr", "Europe/Paris"),
    ("es", "Europe/Madrid"),
    ("nl", "Europe/Amsterdam"),
    ("en", "America/New_York"),
];

/// A kind of request people really send, with how the conversation tends to go.
struct Scenario {
    inbox: Option<&'static str>,
    subject: &'static str,
    opening: &'static str,
    reply: &'static str,
    follow_up: &'static str,
    note: &'static str,
    tags: &'static [&'static str],
    priority: Priority,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        inbox: Some("Technical"),
        subject: "Internet drops every evening",
        opening: "Since Monday our connection drops between 7 and 9 pm, several times an hour. We have restarted the {product} twice.",
        reply: "Thanks for the detail about the timing. I can see line errors in the evenings on our side; could you tell me whether the lights on the {product} turn red when it drops?",
        follow_up: "Yes, the DSL light blinks red for about a minute each time.",
        note: "Line profile shows CRC errors after 19:00. Possibly cabinet congestion; asked network ops.",
        tags: &["connectivity", "evening-drops"],
        priority: Priority::High,
    },
    Scenario {
        inbox: Some("Billing"),
        subject: "Charged twice for November",
        opening: "Our card was charged twice for the November invoice (order {order}). Please refund the duplicate.",
        reply: "You are right, I can see two payments for order {order}. I have started the refund of the duplicate; it usually reaches your card within 5 working days.",
        follow_up: "Thank you, can you send a confirmation for our accountant?",
        note: "Duplicate capture from the payment provider retry. Refund issued.",
        tags: &["billing", "refund"],
        priority: Priority::Normal,
    },
    Scenario {
        inbox: None,
        subject: "How do I change the Wi-Fi password?",
        opening: "Could you tell me how to change the Wi-Fi password on the {product}? The manual mentions an app I can't find.",
        reply: "Of course. Open http://192.168.1.1, sign in with the password on the sticker under the {product}, then go to Wireless > Security. The app was retired last year, sorry for the confusing manual.",
        follow_up: "That worked, thanks!",
        note: "Manual still mentions the retired app; flagged to docs.",
        tags: &["how-to", "wifi"],
        priority: Priority::Low,
    },
    Scenario {
        inbox: Some("Technical"),
        subject: "Router will not power on",
        opening: "Our {product} does not power on at all since the storm last night. No lights.",
        reply: "I'm sorry, that sounds like a failed power supply. As you are under warranty we will ship a replacement {product} today; it should arrive within two working days.",
        follow_up: "Any tracking number for the replacement?",
        note: "Asked Shipping for express dispatch of a {product}.",
        tags: &["hardware", "replacement"],
        priority: Priority::Urgent,
    },
    Scenario {
        inbox: Some("Billing"),
        subject: "Upgrade to the 500 Mbit plan",
        opening: "We would like to upgrade our office to the 500 Mbit plan from next month. What does it cost with our contract?",
        reply: "With your current contract the 500 Mbit plan is 89 EUR a month, 20 EUR more than now, from the first of next month. Shall I schedule it?",
        follow_up: "Yes please, go ahead.",
        note: "Plan change scheduled; no hardware change needed.",
        tags: &["plan-change", "sales"],
        priority: Priority::Normal,
    },
    Scenario {
        inbox: None,
        subject: "Moving office next month",
        opening: "We move to a new address on the 15th. How do we take our line with us?",
        reply: "Congratulations on the move! Send me the new address and I'll check availability and book an engineer for the 15th so you are not offline.",
        follow_up: "New address is Harbour Street 12, 2nd floor.",
        note: "Availability OK at new address; engineer slot requested.",
        tags: &["move", "installation"],
        priority: Priority::Normal,
    },
    Scenario {
        inbox: Some("Technical"),
        subject: "Very slow speeds on the mesh network",
        opening: "The upstairs rooms only get 5 Mbit/s on the {product}, downstairs is fine.",
        reply: "Thanks. Could you run the speed test at http://speed.northwind.example next to the upstairs satellite and send me a screenshot?",
        follow_up: "Screenshot attached: 4.8 Mbit/s next to the satellite.",
        note: "Satellite firmware is two versions behind; pushed update remotely.",
        tags: &["speed", "mesh"],
        priority: Priority::Normal,
    },
    Scenario {
        inbox: Some("Billing"),
        subject: "Invoice address is wrong",
        opening: "The invoices still show our old company address. Please correct it for future invoices.",
        reply: "Done: from the next invoice the address will read as in your message. Would you like me to re-issue the last three invoices as well?",
        follow_up: "Yes, the last three would be great.",
        note: "Address updated in billing; re-issue requested.",
        tags: &["billing", "invoice"],
        priority: Priority::Low,
    },
    Scenario {
        inbox: None,
        subject: "THIRD time asking: nobody has called back",
        opening: "This is the third time I write. You promised a callback on Tuesday and NOBODY called. Unacceptable!!",
        reply: "I am very sorry: we promised a call and did not make it. I own this now and will call you today at 15:00 myself.",
        follow_up: "OK. I'll wait for your call at 15:00.",
        note: "Callback missed by previous shift; customer upset. Keep ownership.",
        tags: &["complaint", "callback"],
        priority: Priority::High,
    },
    Scenario {
        inbox: Some("Technical"),
        subject: "Static IP address for our VPN",
        opening: "We need a static IP address for our office VPN on the {product}. Is that possible?",
        reply: "Yes, a static IPv4 address is included in your business plan. I have assigned it now; the {product} will pick it up after a restart tonight.",
        follow_up: "Works, VPN is up. Thanks!",
        note: "Static IP assigned from business pool.",
        tags: &["static-ip", "business"],
        priority: Priority::Normal,
    },
    Scenario {
        inbox: None,
        subject: "Cancel our contract",
        opening: "We are closing our shop at the end of the year and need to cancel the contract.",
        reply: "I'm sorry to hear you are closing. Your contract ends on 31 December without a fee; I'll send the return label for the {product}.",
        follow_up: "Thank you for the good service over the years.",
        note: "Cancellation confirmed, no early termination fee applies.",
        tags: &["cancellation"],
        priority: Priority::Normal,
    },
    Scenario {
        inbox: Some("Technical"),
        subject: "Outage in the whole street?",
        opening: "None of the shops in our street have internet since 8 am. Is there an outage?",
        reply: "Yes, a fibre cable was damaged by road works near you. Engineers are on site; we expect service back by 14:00 and I will update you by then either way.",
        follow_up: "Still down at 14:30. Any update?",
        note: "Part of the street outage; linked to the network incident.",
        tags: &["outage", "connectivity"],
        priority: Priority::Urgent,
    },
];

fn fill(template: &str, product: &str, order: &str) -> String {
    template
        .replace("{product}", product)
        .replace("{order}", order)
}

/// Adds the demo data once and hands out a fresh API token for this run.
pub async fn ensure_demo_data(store: Arc<dyn Store>) -> anyhow::Result<Summary> {
    let added = store.setting(SEEDED_KEY).await?.is_none();
    let admin_id = ensure_staff(store.as_ref()).await?;
    if added {
        eprintln!("Adding demo data (once; about {TICKETS} tickets)…");
        seed(store.clone(), admin_id).await?;
        store.set_setting(SEEDED_KEY, "1").await?;
    }
    let widget_inbox = store
        .list_inboxes()
        .await?
        .into_iter()
        .find(|i| i.name == WIDGET_INBOX)
        .map(|i| i.id);
    if store.setting(CHANNELS_KEY).await?.is_none() {
        if let Some(inbox) = widget_inbox {
            seed_channels(store.as_ref(), admin_id, inbox).await?;
        }
        store.set_setting(CHANNELS_KEY, "1").await?;
    }
    let token = auth::new_token();
    let at = rapport_web::now();
    let system = Ctx {
        actor: Actor::SYSTEM,
        at,
    };
    store.revoke_api_tokens(system, admin_id, "demo").await?;
    store
        .create_api_token(system, admin_id, "demo", &auth::token_hash(&token))
        .await?;
    Ok(Summary {
        logins: STAFF
            .iter()
            .map(|p| (p.email.to_string(), p.role))
            .collect(),
        token,
        added,
        tickets: TICKETS,
        portal: None,
        widget_inbox,
    })
}

/// Teams, inboxes, agents and custom fields, each created only if missing. Returns the admin.
async fn ensure_staff(store: &dyn Store) -> anyhow::Result<i64> {
    let ctx = Ctx {
        actor: Actor::SYSTEM,
        at: rapport_web::now(),
    };
    let existing: Vec<String> = store
        .list_teams()
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect();
    for (name, description) in TEAMS {
        if !existing.iter().any(|e| e == name) {
            store.create_team(ctx, name, description).await?;
        }
    }
    let teams = store.list_teams().await?;
    let team_id = |name: &str| teams.iter().find(|t| t.name == name).map(|t| t.id);
    let inboxes: Vec<String> = store
        .list_inboxes()
        .await?
        .into_iter()
        .map(|i| i.name)
        .collect();
    for (name, address, team) in INBOXES {
        if !inboxes.iter().any(|e| e == name) {
            store
                .create_inbox(
                    ctx,
                    name,
                    address,
                    team_id(team),
                    rapport_store::InboxPatch::default(),
                )
                .await?;
        }
    }
    // Every inbox speaks as Northwind, keeps Berlin office hours and says how to reach a
    // person; set once, so an admin's later edits stay.
    for inbox in store.list_inboxes().await? {
        if inbox.from_name.is_empty() {
            store
                .update_inbox(ctx, inbox.id, demo_inbox_settings(&inbox.name))
                .await?;
        }
    }
    // Argon2 is slow on purpose: hash only when an agent is actually missing, so a second
    // run of `demo` starts without it.
    let password_hash = tokio::sync::OnceCell::<String>::new();
    for person in STAFF {
        let (id, teams) = match store.agent_login(person.email).await? {
            Some(login) => (login.agent.id, login.agent.team_ids),
            None => {
                let hash = password_hash
                    .get_or_try_init(|| async {
                        anyhow::Ok(
                            tokio::task::spawn_blocking(|| auth::hash_password(DEMO_PASSWORD))
                                .await??,
                        )
                    })
                    .await?
                    .clone();
                let new = NewAgent {
                    email: person.email.into(),
                    name: person.name.into(),
                    role: person.role,
                    password_hash: Some(hash),
                };
                (store.create_agent(ctx, new).await?.id, Vec::new())
            }
        };
        for team in person.teams {
            let team = team_id(team).with_context(|| format!("demo team {team} missing"))?;
            if !teams.contains(&team) {
                store.add_team_member(ctx, team, id).await?;
            }
        }
    }
    let fields: Vec<String> = store
        .list_custom_fields()
        .await?
        .into_iter()
        .map(|f| f.key)
        .collect();
    let wanted = [
        ("order_number", "Order number", FieldType::Text, vec![]),
        (
            "product",
            "Product",
            FieldType::Dropdown,
            PRODUCTS.iter().map(|p| p.to_string()).collect(),
        ),
        (
            "refund_amount",
            "Refund amount (EUR)",
            FieldType::Number,
            vec![],
        ),
        (
            "under_warranty",
            "Under warranty",
            FieldType::Checkbox,
            vec![],
        ),
        ("follow_up_on", "Follow up on", FieldType::Date, vec![]),
    ];
    for (key, label, field_type, options) in wanted {
        if !fields.iter().any(|f| f == key) {
            store
                .create_custom_field(
                    ctx,
                    FieldDef {
                        key: key.into(),
                        label: label.into(),
                        field_type,
                        options,
                    },
                )
                .await?;
        }
    }
    let admin = store
        .agent_login(STAFF[0].email)
        .await?
        .context("demo admin missing")?;
    Ok(admin.agent.id)
}

fn key(admin_id: i64, key: String) -> Option<Idempotency> {
    Some(Idempotency {
        agent_id: admin_id,
        key,
        fingerprint: "demo".into(),
    })
}

struct DemoCustomer {
    email: String,
    name: String,
}

async fn seed(store: Arc<dyn Store>, admin_id: i64) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(20_261_123);
    let now = rapport_web::now();
    let system = Ctx {
        actor: Actor::SYSTEM,
        at: Millis(now.0 - 95 * DAY),
    };

    seed_sla(store.as_ref(), system).await?;
    let mut org_domains = Vec::new();
    for (i, company) in COMPANIES.iter().enumerate().take(ORGANIZATIONS) {
        let slug: String = company
            .to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let tier = *[
            Tier::Standard,
            Tier::Standard,
            Tier::Business,
            Tier::Business,
            Tier::Enterprise,
            Tier::Strategic,
        ]
        .choose(&mut rng)
        .unwrap_or(&Tier::Standard);
        let base = match tier {
            Tier::Standard => 1_200,
            Tier::Business => 9_000,
            Tier::Enterprise => 60_000,
            Tier::Strategic => 250_000,
        };
        let value = base * 100 + rng.gen_range(0..base) * 100;
        let domain = format!("{slug}.example");
        let new = NewOrganization {
            name: company.to_string(),
            tier,
            contract_value_cents: value,
            domains: vec![domain.clone()],
            notes: String::new(),
        };
        store
            .create_organization(system, new, key(admin_id, format!("demo-org-{i}")))
            .await?;
        org_domains.push(domain);
    }

    let mut customers = Vec::with_capacity(CUSTOMERS);
    for i in 0..CUSTOMERS {
        let first = FIRST[i % FIRST.len()];
        let last = LAST[(i / FIRST.len() + i) % LAST.len()];
        let name = format!("{first} {last}");
        let local: String = format!("{first}.{last}")
            .to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        let domain = if i % 10 == 9 {
            "mail.example".to_string()
        } else {
            org_domains[i % org_domains.len()].clone()
        };
        let email = format!("{local}{i}@{domain}");
        let (language, zone) = LANGUAGES[rng.gen_range(0..LANGUAGES.len())];
        let preferences = Preferences {
            channel: *[
                Channel::Email,
                Channel::Email,
                Channel::Phone,
                Channel::Chat,
                Channel::Portal,
            ]
            .choose(&mut rng)
            .unwrap_or(&Channel::Email),
            formality: *[Formality::Formal, Formality::Neutral, Formality::Casual]
                .choose(&mut rng)
                .unwrap_or(&Formality::Neutral),
            contact_hours: rng.gen_bool(0.4).then(|| "Mon-Fri 09:00-17:00".to_string()),
        };
        let new = NewCustomer {
            name: name.clone(),
            emails: vec![email.clone()],
            organization_id: None,
            phone: rng
                .gen_bool(0.6)
                .then(|| format!("+44 20 7946 {:04}", rng.gen_range(0..10_000))),
            language: Some(language.into()),
            time_zone: Some(zone.into()),
            preferences,
            notes: if rng.gen_bool(0.1) {
                "Prefers a call over email for anything urgent.".into()
            } else {
                String::new()
            },
        };
        store
            .create_customer(system, new, key(admin_id, format!("demo-customer-{i}")))
            .await?;
        customers.push(DemoCustomer { email, name });
    }

    let agents: Vec<i64> = store
        .list_agents()
        .await?
        .into_iter()
        .filter(|a| a.role == Role::Agent || a.role == Role::Supervisor)
        .map(|a| a.id)
        .collect();
    let helpers: Vec<i64> = store
        .list_agents()
        .await?
        .into_iter()
        .filter(|a| a.role == Role::LightAgent)
        .map(|a| a.id)
        .collect();
    let plans: Vec<TicketPlan> = (0..TICKETS)
        .map(|i| TicketPlan::random(i, &mut rng, &customers, &agents, &helpers, now))
        .collect();

    let mut tasks = tokio::task::JoinSet::new();
    let mut done = 0usize;
    for plan in plans {
        if tasks.len() >= 64
            && let Some(result) = tasks.join_next().await
        {
            result??;
            done += 1;
        }
        let store = store.clone();
        tasks.spawn(async move { plan.write(store.as_ref(), admin_id).await });
    }
    while let Some(result) = tasks.join_next().await {
        result??;
        done += 1;
    }
    eprintln!("Demo data: {done} tickets written.");
    seed_routing(store.as_ref(), now).await
}

/// Skills, capacities and team routing (turned on after the history above was written, so it
/// routes only what comes in from now on), and a few internal requests, an honest no and an
/// irate customer on open tickets.
async fn seed_routing(store: &dyn Store, now: Millis) -> anyhow::Result<()> {
    use rapport_core::routing::{AssignmentMode, Referral, TeamRouting};
    let system = Ctx {
        actor: Actor::SYSTEM,
        at: now,
    };
    let agents = store.list_agents().await?;
    let agent = |email: &str| agents.iter().find(|a| a.email == email).map(|a| a.id);
    let skills: &[(&str, &[&str])] = &[
        ("grace@northwind.example", &["de-escalation", "technical"]),
        (
            "katherine@northwind.example",
            &["de-escalation", "billing", "de"],
        ),
        ("sam@northwind.example", &["de-escalation"]),
        ("lena@northwind.example", &["de"]),
        ("jonas@northwind.example", &["de", "sv"]),
        ("mateo@northwind.example", &["es", "billing"]),
        ("yuki@northwind.example", &["ja", "technical"]),
    ];
    for a in &agents {
        let wanted = skills.iter().find(|(e, _)| *e == a.email).map(|(_, s)| s);
        let patch = rapport_store::AgentRoutingPatch {
            capacity: Some(25),
            skills: wanted.map(|s| s.iter().map(|x| x.to_string()).collect()),
            ..Default::default()
        };
        store.update_agent_routing(system, a.id, patch).await?;
    }
    let teams = store.list_teams().await?;
    let team = |name: &str| teams.iter().find(|t| t.name == name).map(|t| t.id);
    let settings: &[(&str, AssignmentMode, u32, Option<&str>)] = &[
        (
            "Support",
            AssignmentMode::LeastLoaded,
            480,
            Some("grace@northwind.example"),
        ),
        (
            "Technical",
            AssignmentMode::RoundRobin,
            480,
            Some("grace@northwind.example"),
        ),
        (
            "Billing",
            AssignmentMode::Manual,
            480,
            Some("katherine@northwind.example"),
        ),
        (
            "Finance",
            AssignmentMode::Manual,
            240,
            Some("katherine@northwind.example"),
        ),
        (
            "Shipping",
            AssignmentMode::Manual,
            480,
            Some("grace@northwind.example"),
        ),
    ];
    for (name, assignment, due, lead) in settings {
        let Some(id) = team(name) else { continue };
        let routing = TeamRouting {
            assignment: *assignment,
            internal_due_minutes: *due,
            lead_agent_id: lead.and_then(agent),
            ..TeamRouting::default()
        };
        store.update_team_routing(system, id, routing).await?;
    }

    let open = TicketFilter {
        statuses: vec![TicketStatus::Open],
        ..TicketFilter::default()
    };
    let tickets = store
        .list_tickets(&open, PageRequest::first(6))
        .await?
        .items;
    let (Some(finance), Some(shipping), Some(nora)) = (
        team("Finance"),
        team("Shipping"),
        agent("nora@northwind.example"),
    ) else {
        return Ok(());
    };
    let fallback = agent("grace@northwind.example").unwrap_or(nora);
    let as_agent = |id: i64, minutes_ago: i64| Ctx {
        actor: Actor::agent(id),
        at: Millis(now.0 - minutes_ago * MINUTE),
    };
    let ask = |t: &Ticket, team_id: i64, body: &str| NewInternalRequest {
        ticket_id: Some(t.id),
        team_id,
        body: body.into(),
        due_at: None,
    };
    if let [a, b, c, d, e, ..] = tickets.as_slice() {
        let owner = |t: &Ticket| t.assignee_id.unwrap_or(fallback);
        let done = store
            .create_internal_request(
                as_agent(owner(a), 300),
                ask(a, finance, "Can we credit one month's fee for the outage? The customer lost two days of service."),
            )
            .await?;
        store
            .reply_internal_request(
                as_agent(nora, 200),
                done.id,
                "Approved: one month's credit, it will show on the next invoice.",
                true,
            )
            .await?;
        // Asked six hours ago of a team with four hours: the scheduler escalates it.
        store
            .create_internal_request(
                as_agent(owner(b), 360),
                ask(
                    b,
                    finance,
                    "Please confirm refund 4711 was paid out and on which date.",
                ),
            )
            .await?;
        store
            .create_internal_request(
                as_agent(owner(c), 30),
                ask(c, shipping, "Is the replacement router in stock in Hamburg? The customer needs it this week."),
            )
            .await?;
        store
            .refer_ticket(
                as_agent(owner(d), 20),
                d.id,
                "I'm sorry: the charge you describe was made by your bank, not by us, so we cannot reverse it.",
                Referral {
                    referred_to: "Your bank's card services".into(),
                    how_to_reach: "the phone number on the back of your card".into(),
                },
            )
            .await?;
        store
            .add_message(
                Ctx {
                    actor: Actor::customer(e.customer.id),
                    at: Millis(now.0 - 10 * MINUTE),
                },
                e.id,
                NewMessage {
                    kind: MessageKind::Customer,
                    channel: Channel::Email,
                    body:
                        "This is the THIRD time I'm writing about this. Absolutely unacceptable!!! \
                           Fix it today or I'm cancelling and telling everyone I know."
                            .into(),
                    send_email: false,
                    attachments: Vec::new(),
                },
                None,
            )
            .await?;
    }
    Ok(())
}

/// Tighter targets for large customers' urgent work, a standard policy for everyone else,
/// both on a support-hours calendar with Berlin's holidays.
async fn seed_sla(store: &dyn Store, system: Ctx) -> anyhow::Result<()> {
    use rapport_core::calendar::{CalendarConfig, IntervalConfig, WeekConfig};
    use rapport_core::sla::{Actions, Basis, Conditions, Rules, TargetRule, Targets};
    let calendar = store
        .save_calendar(
            system,
            None,
            "Berlin support hours".into(),
            CalendarConfig {
                time_zone: "Europe/Berlin".into(),
                hours: WeekConfig::weekdays(&[IntervalConfig::new("08:00", "18:00")]),
                holidays: ["12-24", "12-25", "12-26", "12-31", "01-01"]
                    .map(String::from)
                    .to_vec(),
            },
        )
        .await?;
    let business = |minutes| {
        Some(TargetRule {
            minutes,
            basis: Basis::Business,
        })
    };
    let policies = [
        (
            "Enterprise urgent",
            Conditions {
                tiers: vec![Tier::Enterprise, Tier::Strategic],
                priorities: vec![Priority::Urgent, Priority::High],
                ..Conditions::default()
            },
            Targets {
                first_response: business(60),
                next_response: business(120),
                periodic_update: business(240),
                resolution: business(1_440),
            },
            Actions {
                notify_assignee: true,
                notify_supervisors: true,
                raise_priority: true,
                reassign_team_id: None,
            },
        ),
        (
            "Standard",
            Conditions::default(),
            Targets {
                first_response: business(240),
                next_response: business(480),
                periodic_update: business(1_440),
                resolution: business(4_800),
            },
            Actions {
                notify_assignee: true,
                notify_supervisors: true,
                ..Actions::default()
            },
        ),
    ];
    for (position, (name, conditions, targets, on_breach)) in policies.into_iter().enumerate() {
        let rules = Rules {
            targets,
            warn_before_minutes: 30,
            on_warning: Actions {
                notify_assignee: true,
                ..Actions::default()
            },
            on_breach,
        };
        let new = rapport_store::NewSlaPolicy {
            name: name.into(),
            position: position as i64 + 1,
            conditions,
            rules,
            calendar_id: Some(calendar.id),
        };
        store.save_sla_policy(system, None, new).await?;
    }
    Ok(())
}

const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;

/// One demo ticket: who writes, what, when, and where it ends.
struct TicketPlan {
    index: usize,
    scenario: &'static Scenario,
    requester: Requester,
    product: &'static str,
    order: String,
    channel: Channel,
    agent: i64,
    helper: Option<i64>,
    status: TicketStatus,
    start: i64,
    step: i64,
    fields: serde_json::Map<String, serde_json::Value>,
}

impl TicketPlan {
    fn random(
        index: usize,
        rng: &mut StdRng,
        customers: &[DemoCustomer],
        agents: &[i64],
        helpers: &[i64],
        now: Millis,
    ) -> Self {
        let scenario = &SCENARIOS[rng.gen_range(0..SCENARIOS.len())];
        // A few customers write much more than others, as in real help desks.
        let who = if rng.gen_bool(0.3) {
            rng.gen_range(0..customers.len().min(20))
        } else {
            rng.gen_range(0..customers.len())
        };
        let customer = &customers[who];
        let product = PRODUCTS[rng.gen_range(0..PRODUCTS.len())];
        let order = format!("NW-{}", 40_000 + index * 7 % 9_000);
        let status = match rng.gen_range(0..100) {
            0..8 => TicketStatus::New,
            8..30 => TicketStatus::Open,
            30..45 => TicketStatus::Pending,
            45..50 => TicketStatus::OnHold,
            50..80 => TicketStatus::Solved,
            _ => TicketStatus::Closed,
        };
        // Open work is recent; finished work spreads over three months.
        let age_days = if status.is_open() {
            rng.gen_range(0..10)
        } else {
            rng.gen_range(3..90)
        };
        let start = now.0 - age_days * DAY - rng.gen_range(0..DAY / 2) - 6 * 60 * MINUTE;
        let mut fields = serde_json::Map::new();
        fields.insert("product".into(), product.into());
        if scenario.tags.contains(&"billing") || rng.gen_bool(0.3) {
            fields.insert("order_number".into(), order.clone().into());
        }
        if scenario.tags.contains(&"refund") {
            fields.insert(
                "refund_amount".into(),
                serde_json::json!(rng.gen_range(10..200)),
            );
        }
        if scenario.tags.contains(&"hardware") {
            fields.insert("under_warranty".into(), rng.gen_bool(0.8).into());
        }
        Self {
            index,
            scenario,
            requester: Requester {
                customer_id: None,
                email: customer.email.clone(),
                name: Some(customer.name.clone()),
            },
            product,
            order,
            channel: *[
                Channel::Email,
                Channel::Email,
                Channel::Email,
                Channel::Chat,
                Channel::Phone,
                Channel::Portal,
            ]
            .choose(rng)
            .unwrap_or(&Channel::Email),
            agent: agents
                .get(rng.gen_range(0..agents.len().max(1)))
                .copied()
                .unwrap_or(1),
            helper: helpers.choose(rng).copied().filter(|_| rng.gen_bool(0.15)),
            status,
            start,
            step: rng.gen_range(20..240) * MINUTE,
            fields,
        }
    }

    /// The first reply commits to the next update a day later (and every fifth ticket to a
    /// replacement within three days): tickets answered or solved in time keep them. Tickets
    /// still open promise their next update for the customer's tomorrow morning.
    async fn commit(&self, store: &dyn Store, id: i64, when: Ctx) -> anyhow::Result<()> {
        let open = matches!(
            self.status,
            TicketStatus::Open | TicketStatus::Pending | TicketStatus::OnHold
        );
        let (ctx, due) = if open {
            let now = Ctx {
                at: rapport_web::now(),
                ..when
            };
            (now, Due::Quick(QuickDue::TomorrowMorning))
        } else if self.index % 8 == 3 {
            // Promised sooner than the next answer came: broken.
            (when, Due::At(Millis(when.at.0 + self.step)))
        } else {
            (when, Due::At(Millis(when.at.0 + DAY)))
        };
        let next_update = NewCommitment {
            kind: CommitmentKind::NextUpdate,
            description: String::new(),
            due,
        };
        store.make_commitment(ctx, id, next_update).await?;
        if self.index.is_multiple_of(5) {
            let promise = NewCommitment {
                kind: CommitmentKind::Promise,
                description: format!("A replacement {} ships within three days", self.product),
                due: Due::At(Millis(ctx.at.0 + 3 * DAY)),
            };
            store.make_commitment(ctx, id, promise).await?;
        }
        Ok(())
    }

    async fn write(self, store: &dyn Store, admin_id: i64) -> anyhow::Result<()> {
        let s = self.scenario;
        let at = |n: i64| Millis(self.start + n * self.step);
        let as_agent = |n: i64| Ctx {
            actor: Actor::agent(self.agent),
            at: at(n),
        };
        let new = NewTicket {
            subject: s.subject.into(),
            requester: self.requester.clone(),
            body: fill(s.opening, self.product, &self.order),
            channel: self.channel,
            priority: s.priority,
            status: TicketStatus::New,
            tags: s.tags.iter().map(|t| t.to_string()).collect(),
            inbox: s.inbox.map(str::to_string),
            assignee_id: None,
            team_id: None,
            custom_fields: self.fields.clone(),
        };
        let created = store
            .create_ticket(
                Ctx {
                    actor: Actor::SYSTEM,
                    at: at(0),
                },
                new,
                key(admin_id, format!("demo-ticket-{}", self.index)),
            )
            .await?;
        if created.replayed || self.status == TicketStatus::New {
            return Ok(());
        }
        let id = created.value.id;
        let customer = Ctx {
            actor: Actor::customer(created.value.customer.id),
            at: at(2),
        };
        let assign = TicketPatch {
            assignee_id: Some(Some(self.agent)),
            ..Default::default()
        };
        store.update_ticket(as_agent(1), id, assign).await?;
        let reply = |body: &str| NewMessage {
            send_email: false,
            attachments: Vec::new(),
            kind: MessageKind::Reply,
            channel: self.channel,
            body: fill(body, self.product, &self.order),
        };
        store
            .add_message(as_agent(1), id, reply(s.reply), None)
            .await?;
        self.commit(store, id, as_agent(1)).await?;
        if let Some(helper) = self.helper {
            let note = NewMessage {
                send_email: false,
                attachments: Vec::new(),
                kind: MessageKind::Note,
                channel: Channel::Api,
                body: format!(
                    "Checked on our side: {}",
                    fill(s.note, self.product, &self.order)
                ),
            };
            store
                .add_message(
                    Ctx {
                        actor: Actor::agent(helper),
                        at: at(1),
                    },
                    id,
                    note,
                    None,
                )
                .await?;
        } else {
            let note = NewMessage {
                send_email: false,
                attachments: Vec::new(),
                kind: MessageKind::Note,
                channel: Channel::Api,
                body: fill(s.note, self.product, &self.order),
            };
            store.add_message(as_agent(1), id, note, None).await?;
        }
        let follow = NewMessage {
            send_email: false,
            attachments: Vec::new(),
            kind: MessageKind::Customer,
            channel: self.channel,
            body: s.follow_up.into(),
        };
        store.add_message(customer, id, follow, None).await?;
        let path: &[TicketStatus] = match self.status {
            TicketStatus::Pending => &[TicketStatus::Pending],
            TicketStatus::OnHold => &[TicketStatus::OnHold],
            TicketStatus::Solved => &[TicketStatus::Solved],
            TicketStatus::Closed => &[TicketStatus::Solved, TicketStatus::Closed],
            _ => &[],
        };
        if !path.is_empty() {
            store.add_message(as_agent(3), id, reply("Thanks for confirming. Is there anything else I can help you with? We'll check in with you again next week."), None).await?;
        }
        for (n, status) in path.iter().enumerate() {
            let step = 4 + n as i64 * 24 * 60 / (self.step / MINUTE).max(1);
            store
                .update_ticket(
                    as_agent(step),
                    id,
                    TicketPatch {
                        status: Some(*status),
                        ..Default::default()
                    },
                )
                .await?;
        }
        Ok(())
    }
}
