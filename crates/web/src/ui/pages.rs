//! The workspace's list pages: views (with counts and paging), search, and a customer's page.

use super::session::AgentSession;
use super::{PageError, local_time, templates};
use crate::api::tickets::TicketQuery;
use crate::extract::{decode_cursor, encode_cursor};
use crate::{AppState, now};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use rapport_core::search::SearchQuery;
use rapport_core::{Permission, TicketStatus};
use rapport_store::{Agent, AssigneeFilter, CustomerFilter, PageRequest, Ticket, TicketFilter};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Views count this far and then say "999+": exact counts of huge queues cost a scan and
/// tell an agent nothing more.
pub const COUNT_CAP: u32 = 1000;
const PAGE_SIZE: u32 = 50;

/// The built-in views, in the order the navigation shows them.
pub const VIEWS: [&str; 7] = [
    "mine",
    "unassigned",
    "team",
    "pending",
    "mentions",
    "alerts",
    "all",
];

/// The supervisors' view of tickets at risk of a silent no (see `routing`).
pub const AT_RISK: &str = "at_risk";

const OPEN: [TicketStatus; 2] = [TicketStatus::New, TicketStatus::Open];
const ACTIVE: [TicketStatus; 3] = [TicketStatus::New, TicketStatus::Open, TicketStatus::Pending];

/// The filter of a built-in view for `agent`.
pub fn view_filter(view: &str, agent: &Agent) -> Option<TicketFilter> {
    let filter = match view {
        "mine" => TicketFilter {
            statuses: OPEN.to_vec(),
            assignee: Some(AssigneeFilter::Agent(agent.id)),
            ..Default::default()
        },
        "unassigned" => TicketFilter {
            statuses: ACTIVE.to_vec(),
            assignee: Some(AssigneeFilter::Unassigned),
            ..Default::default()
        },
        "team" => TicketFilter {
            statuses: ACTIVE.to_vec(),
            // An agent without a team has an empty team view rather than everyone's.
            team_id: Some(agent.team_ids.first().copied().unwrap_or(-1)),
            ..Default::default()
        },
        "pending" => TicketFilter {
            statuses: vec![TicketStatus::Pending],
            ..Default::default()
        },
        "mentions" => TicketFilter {
            statuses: ACTIVE.to_vec(),
            mentioned: Some(agent.id),
            ..Default::default()
        },
        "alerts" => TicketFilter {
            statuses: ACTIVE.to_vec(),
            alerted: Some(agent.id),
            ..Default::default()
        },
        "all" => TicketFilter::default(),
        _ => return None,
    };
    Some(filter)
}

/// A ticket as a list shows it.
#[derive(Serialize)]
pub struct RowView {
    pub id: i64,
    pub reference: String,
    pub subject: String,
    pub status: &'static str,
    pub priority: &'static str,
    pub customer: String,
    pub assignee: Option<String>,
    pub updated_at: i64,
    /// The most pressing SLA due time, when a clock runs (see [`with_sla`]).
    pub sla: Option<super::sla::BadgeView>,
}

pub fn row_views(tickets: &[Ticket], agents: &[Agent]) -> Vec<RowView> {
    let names: HashMap<i64, &str> = agents.iter().map(|a| (a.id, a.name.as_str())).collect();
    tickets
        .iter()
        .map(|t| RowView {
            id: t.id,
            reference: t.reference.clone(),
            subject: t.subject.clone(),
            status: t.status.as_str(),
            priority: t.priority.as_str(),
            customer: t.customer.name.clone(),
            assignee: t
                .assignee_id
                .and_then(|id| names.get(&id).map(|n| n.to_string())),
            updated_at: t.updated_at.0,
            sla: None,
        })
        .collect()
}

/// Rows with their SLA badges: one query for the page.
pub async fn with_sla(state: &AppState, mut rows: Vec<RowView>) -> Result<Vec<RowView>, PageError> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut badges = super::sla::badges(state.store.sla_badges(&ids).await?);
    for row in &mut rows {
        row.sla = badges.remove(&row.id);
    }
    Ok(rows)
}

#[derive(Deserialize, Default)]
pub struct ViewQuery {
    view: Option<String>,
    /// A saved view's id.
    saved: Option<i64>,
    /// `oldest`: longest waiting first.
    sort: Option<String>,
    cursor: Option<String>,
    #[serde(flatten)]
    custom: HashMap<String, String>,
}

struct Listing {
    view: String,
    oldest_first: bool,
    rows: Vec<RowView>,
    next: Option<String>,
    /// The query string that selects this list (for paging links and the live refresh).
    query: String,
}

/// The filter keys a custom view may set (the API's ticket-list filters).
const CUSTOM_KEYS: [&str; 8] = [
    "status",
    "priority",
    "assignee",
    "team",
    "tag",
    "tier",
    "field",
    "updated_since",
];

/// A custom view's filter from its query string.
fn custom_filter(query: &str, agent_id: i64) -> Result<TicketFilter, PageError> {
    let parsed: TicketQuery = serde_urlencoded::from_str(query).map_err(|e| {
        crate::problem::Problem::bad_request(format!("the filter is not valid: {e}"))
    })?;
    Ok(parsed.filter(agent_id)?)
}

async fn listing(
    state: &AppState,
    session: &AgentSession,
    q: ViewQuery,
) -> Result<Listing, PageError> {
    let mut custom: Vec<(String, String)> = q
        .custom
        .into_iter()
        .filter(|(k, v)| CUSTOM_KEYS.contains(&k.as_str()) && !v.is_empty())
        .collect();
    custom.sort();
    if let Some(id) = q.saved {
        let views = state.store.list_views(session.agent.id).await?;
        let saved = views
            .into_iter()
            .find(|v| v.id == id)
            .ok_or_else(PageError::not_found)?;
        custom = serde_urlencoded::from_str(&saved.query).unwrap_or_default();
    }
    let oldest_first = q.sort.as_deref() == Some("oldest");
    let (view, mut filter) = if custom.is_empty() {
        let view = q.view.unwrap_or_else(|| "mine".to_string());
        let filter = if view == AT_RISK {
            // Supervisors' view: tickets at risk of a silent no.
            if !super::routing::sees_at_risk(session) {
                return Err(PageError::not_found());
            }
            super::routing::at_risk_filter(state).await?
        } else {
            view_filter(&view, &session.agent).ok_or_else(PageError::not_found)?
        };
        (view, filter)
    } else {
        // An ad-hoc view: the same filters as the API's ticket list.
        let query = serde_urlencoded::to_string(&custom).unwrap_or_default();
        let view = match q.saved {
            Some(id) => format!("saved-{id}"),
            None => "custom".to_string(),
        };
        (view, custom_filter(&query, session.agent.id)?)
    };
    filter.oldest_first = oldest_first;
    let after = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let request = PageRequest {
        after,
        limit: PAGE_SIZE,
    };
    let (page, agents) = tokio::try_join!(
        state.store.list_tickets(&filter, request),
        state.store.list_agents()
    )?;
    let mut query_pairs = custom;
    match q.saved {
        Some(id) => query_pairs = vec![("saved".into(), id.to_string())],
        None if view != "custom" => query_pairs.push(("view".into(), view.clone())),
        None => {}
    }
    if oldest_first {
        query_pairs.push(("sort".into(), "oldest".into()));
    }
    Ok(Listing {
        rows: with_sla(state, row_views(&page.items, &agents)).await?,
        next: page.next.map(encode_cursor),
        query: serde_urlencoded::to_string(&query_pairs).unwrap_or_default(),
        view,
        oldest_first,
    })
}

/// `GET /`: a view of tickets, with the counts of every built-in view.
pub async fn views(
    State(state): State<AppState>,
    session: AgentSession,
    Query(q): Query<ViewQuery>,
) -> Result<Response, PageError> {
    let (listing, views) = tokio::try_join!(listing(&state, &session, q), async {
        Ok::<_, PageError>(state.store.list_views(session.agent.id).await?)
    })?;
    // Every count of the navigation in one query: built-in views, then saved ones.
    let mut builtin: Vec<(&str, TicketFilter)> = VIEWS
        .iter()
        .filter_map(|v| view_filter(v, &session.agent).map(|f| (*v, f)))
        .collect();
    if super::routing::sees_at_risk(&session) {
        builtin.push((AT_RISK, super::routing::at_risk_filter(&state).await?));
    }
    // A saved filter that no longer parses (a team deleted, say) shows without a count.
    let saved_filters: Vec<Option<TicketFilter>> = views
        .iter()
        .map(|v| custom_filter(&v.query, session.agent.id).ok())
        .collect();
    let filters: Vec<TicketFilter> = builtin
        .iter()
        .map(|(_, f)| f.clone())
        .chain(saved_filters.iter().flatten().cloned())
        .collect();
    let mut numbers = state
        .store
        .count_tickets(&filters, COUNT_CAP)
        .await?
        .into_iter();
    let capped = |n: i64| n >= i64::from(COUNT_CAP);
    let counts: Vec<_> = builtin
        .iter()
        .map(|(name, _)| {
            let n = numbers.next().unwrap_or_default();
            context! { name => name, count => n, capped => capped(n) }
        })
        .collect();
    let saved: Vec<_> = views
        .iter()
        .zip(&saved_filters)
        .map(|(v, filter)| {
            let n = filter.as_ref().and_then(|_| numbers.next());
            context! {
                id => v.id, name => &v.name, shared => v.agent_id.is_none(), count => n,
                capped => n.is_some_and(capped),
            }
        })
        .collect();
    let may_share = session.manages_shared();
    Ok(templates().render(
        "views.html",
        session.lang,
        context! {
            me => session.me(), csrf => &session.csrf, views => counts, saved => saved,
            view => listing.view, rows => listing.rows, next => listing.next,
            query => listing.query, may_share => may_share, oldest_first => listing.oldest_first,
        },
    ))
}

/// `GET /rows`: the rows of a view alone, for the live refresh and "more".
pub async fn rows(
    State(state): State<AppState>,
    session: AgentSession,
    Query(q): Query<ViewQuery>,
) -> Result<Response, PageError> {
    let listing = listing(&state, &session, q).await?;
    Ok(templates().render(
        "ticket_rows.html",
        session.lang,
        context! { rows => listing.rows, next => listing.next, query => listing.query },
    ))
}

#[derive(Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
}

/// `GET /search?q=…`: the search language of the API, as a page.
pub async fn search(
    State(state): State<AppState>,
    session: AgentSession,
    Query(params): Query<SearchParams>,
) -> Result<Response, PageError> {
    let text = params.q.trim().to_string();
    let (hits, error) = if text.is_empty() {
        (Vec::new(), None)
    } else {
        match SearchQuery::parse(&text) {
            Ok(query) => (
                state
                    .store
                    .search(&query.resolve_me(session.agent.id), 50)
                    .await?,
                None,
            ),
            Err(e) => (Vec::new(), Some(e.to_string())),
        }
    };
    let agents = state.store.list_agents().await?;
    let tickets: Vec<Ticket> = hits.iter().map(|h| h.ticket.clone()).collect();
    let rows = with_sla(&state, row_views(&tickets, &agents)).await?;
    let results: Vec<_> = rows
        .into_iter()
        .zip(hits.iter())
        .map(|(row, hit)| context! { row => row, snippet => super::snippet_html(&hit.snippet) })
        .collect();
    Ok(templates().render(
        "search.html",
        session.lang,
        context! { me => session.me(), csrf => &session.csrf, q => text, results => results, error => error },
    ))
}

/// `GET /customers/{id}`: a customer with their organisation and tickets.
pub async fn customer(
    State(state): State<AppState>,
    session: AgentSession,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ReadCustomers)?;
    let agents = state.store.list_agents().await?;
    let (context, calls) = tokio::try_join!(customer_context(&state, id, None, &agents), async {
        Ok(state.store.customer_calls(id).await?)
    },)?;
    let names = super::ticket::agent_names(&agents);
    let calls: Vec<_> = calls
        .iter()
        .map(|c| super::phone::call_view(c, &names))
        .collect();
    Ok(templates().render(
        "customer.html",
        session.lang,
        context! { me => session.me(), csrf => &session.csrf, c => context, calls => calls },
    ))
}

/// Everything about a customer the agent should see beside a conversation (principle 8).
pub async fn customer_context(
    state: &AppState,
    customer_id: i64,
    except_ticket: Option<i64>,
    agents: &[Agent],
) -> Result<minijinja::Value, PageError> {
    let customer = state.store.customer(customer_id).await?;
    let filter = TicketFilter {
        customer_id: Some(customer_id),
        ..Default::default()
    };
    // Independent reads side by side: on PostgreSQL each is a round trip.
    let (organization, tickets, people) = tokio::try_join!(
        async {
            match customer.organization_id {
                Some(id) => Ok::<_, PageError>(Some(state.store.organization(id).await?)),
                None => Ok(None),
            }
        },
        async {
            Ok::<_, PageError>(
                state
                    .store
                    .list_tickets(&filter, PageRequest::first(20))
                    .await?,
            )
        },
        async {
            match customer.organization_id {
                Some(org) => organization_people(state, org, 10).await,
                None => Ok(Vec::new()),
            }
        },
    )?;
    let others: Vec<Ticket> = tickets
        .items
        .into_iter()
        .filter(|t| Some(t.id) != except_ticket)
        .collect();
    let (open, recent): (Vec<Ticket>, Vec<Ticket>) = others.into_iter().partition(|t| {
        matches!(
            t.status,
            TicketStatus::New | TicketStatus::Open | TicketStatus::Pending
        )
    });
    let local = customer
        .time_zone
        .as_deref()
        .and_then(|z| local_time(now(), z));
    let siblings: Vec<_> = people
        .into_iter()
        .filter(|c| c.id != customer.id)
        .map(|c| context! { id => c.id, name => c.name })
        .collect();
    Ok(context! {
        customer => customer,
        organization => organization,
        local_time => local,
        open => row_views(&open, agents),
        recent => row_views(&recent, agents),
        colleagues => siblings,
    })
}

/// `GET /attachments/{id}`: a file on a ticket, for agents who may read tickets.
pub async fn attachment(
    State(state): State<AppState>,
    session: AgentSession,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ReadTickets)?;
    Ok(axum::response::IntoResponse::into_response(
        crate::api::emails::attachment_download(&state, id).await?,
    ))
}

#[derive(Deserialize)]
pub struct SaveViewForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    query: String,
    #[serde(default)]
    shared: Option<String>,
}

/// `POST /views/save`: keeps the current filter under a name (shared with everyone when a
/// supervisor or admin asks).
pub async fn save_view(
    State(state): State<AppState>,
    super::session::SessionForm { session, form }: super::session::SessionForm<
        AgentSession,
        SaveViewForm,
    >,
) -> Result<Response, PageError> {
    // Only filters a view understands are kept, and the filter must parse now.
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str::<Vec<(String, String)>>(&form.query)
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, v)| CUSTOM_KEYS.contains(&k.as_str()) && !v.is_empty())
            .collect();
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    custom_filter(&query, session.agent.id)?;
    let shared = form.shared.is_some() && session.manages_shared();
    let view = rapport_store::NewView {
        agent_id: (!shared).then_some(session.agent.id),
        name: form.name,
        query,
    };
    let ctx = rapport_store::Ctx {
        actor: rapport_core::Actor::agent(session.agent.id),
        at: now(),
    };
    let saved = state.store.save_view(ctx, view).await?;
    Ok(axum::response::Redirect::to(&format!("/?saved={}", saved.id)).into_response())
}

/// `POST /views/{id}/delete`.
pub async fn delete_view(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    super::session::SessionForm { session, .. }: super::session::SessionForm<
        AgentSession,
        super::session::NoFields,
    >,
) -> Result<Response, PageError> {
    let may_delete_shared = session.manages_shared();
    let ctx = rapport_store::Ctx {
        actor: rapport_core::Actor::agent(session.agent.id),
        at: now(),
    };
    state
        .store
        .delete_view(ctx, session.agent.id, may_delete_shared, id)
        .await?;
    Ok(axum::response::Redirect::to("/").into_response())
}

/// `GET /organizations/{id}`: an organisation, its people and its tickets.
pub async fn organization(
    State(state): State<AppState>,
    session: AgentSession,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ReadCustomers)?;
    let org = state.store.organization(id).await?;
    let people = organization_people(&state, id, 100).await?;
    let filter = TicketFilter {
        organization_id: Some(id),
        ..Default::default()
    };
    let tickets = state
        .store
        .list_tickets(&filter, PageRequest::first(50))
        .await?
        .items;
    let agents = state.store.list_agents().await?;
    Ok(templates().render(
        "organization.html",
        session.lang,
        context! { me => session.me(), csrf => &session.csrf, org => org, people => people, rows => with_sla(&state, row_views(&tickets, &agents)).await? },
    ))
}

/// The first `limit` people of an organisation.
async fn organization_people(
    state: &AppState,
    organization: i64,
    limit: u32,
) -> Result<Vec<rapport_store::Customer>, PageError> {
    let filter = CustomerFilter {
        organization_id: Some(organization),
        ..Default::default()
    };
    Ok(state
        .store
        .list_customers(&filter, PageRequest::first(limit))
        .await?
        .items)
}
