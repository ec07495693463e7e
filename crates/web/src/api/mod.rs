//! The JSON API, `/api/v1`. Every handler takes a [`Caller`](crate::auth::Caller) and checks
//! the permission its action needs before touching the store.

pub mod customers;
pub mod directory;
pub mod emails;
pub mod health;
pub mod inboxes;
pub mod phone;
pub mod routing;
pub mod search;
pub mod sla;
pub mod tickets;
pub mod webhooks;

use crate::AppState;
use crate::problem::Problem;
use axum::http::{Method, StatusCode, Uri};
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rapport API",
        description = "The help desk's JSON API. Authenticate with `Authorization: Bearer <token>` \
            (create one with `rapport admin create-token`). Errors are RFC 7807 problem details. \
            Lists use cursor pagination: pass `next_cursor` back as `cursor`. POST requests accept \
            an `Idempotency-Key` header: a retry with the same key and body returns the first result.",
        license(name = "AGPL-3.0-or-later")
    ),
    modifiers(&BearerAuth),
    components(schemas(Problem)),
    tags(
        (name = "tickets", description = "Tickets, their conversation and history"),
        (name = "customers", description = "Customers and organisations"),
        (name = "directory", description = "Agents, teams, inboxes, custom fields, tags"),
        (name = "search", description = "Full-text search"),
        (name = "email", description = "Received emails and their attachments"),
        (name = "sla", description = "SLA policies, business-hours calendars, commitments and their rates"),
        (name = "routing", description = "Availability, skills and team routing; transfers, internal requests, honest noes, tone, and their metrics and settings"),
        (name = "webhooks", description = "Subscribers that receive events, signed, once each"),
        (name = "phone", description = "Calls logged on tickets, tickets from calls, callbacks and their queue"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn routes() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .routes(routes!(tickets::create_ticket, tickets::list_tickets))
        .routes(routes!(tickets::get_ticket, tickets::update_ticket))
        .routes(routes!(tickets::add_message, tickets::list_messages))
        .routes(routes!(tickets::list_events))
        .routes(routes!(emails::ticket_emails))
        .routes(routes!(emails::unfiled_emails))
        .routes(routes!(emails::raw_email))
        .routes(routes!(emails::attachment))
        .routes(routes!(
            customers::create_customer,
            customers::list_customers
        ))
        .routes(routes!(customers::get_customer, customers::update_customer))
        .routes(routes!(
            customers::create_organization,
            customers::list_organizations
        ))
        .routes(routes!(customers::get_organization))
        .routes(routes!(directory::list_agents, directory::create_agent))
        .routes(routes!(directory::list_teams, directory::create_team))
        .routes(routes!(directory::add_team_member))
        .routes(routes!(inboxes::list_inboxes, inboxes::create_inbox))
        .routes(routes!(inboxes::get_inbox, inboxes::update_inbox))
        .routes(routes!(inboxes::list_templates))
        .routes(routes!(inboxes::set_template))
        .routes(routes!(
            inboxes::get_chat_widget,
            inboxes::update_chat_widget
        ))
        .routes(routes!(
            directory::list_custom_fields,
            directory::create_custom_field
        ))
        .routes(routes!(directory::list_tags))
        .routes(routes!(search::search))
        .routes(routes!(sla::list_calendars, sla::create_calendar))
        .routes(routes!(
            sla::get_calendar,
            sla::update_calendar,
            sla::delete_calendar
        ))
        .routes(routes!(sla::list_sla_policies, sla::create_sla_policy))
        .routes(routes!(
            sla::get_sla_policy,
            sla::update_sla_policy,
            sla::delete_sla_policy
        ))
        .routes(routes!(sla::ticket_sla))
        .routes(routes!(sla::list_commitments, sla::make_commitment))
        .routes(routes!(sla::fulfil_commitment))
        .routes(routes!(sla::cancel_commitment))
        .routes(routes!(sla::kept_rates))
        .routes(routes!(sla::chase_rates))
        .routes(routes!(
            routing::get_availability,
            routing::set_availability
        ))
        .routes(routes!(routing::list_agent_routing))
        .routes(routes!(
            routing::get_agent_routing,
            routing::update_agent_routing
        ))
        .routes(routes!(routing::update_team_routing))
        .routes(routes!(routing::list_transfers))
        .routes(routes!(
            routing::create_internal_request,
            routing::list_internal_requests
        ))
        .routes(routes!(routing::get_internal_request))
        .routes(routes!(routing::reply_internal_request))
        .routes(routes!(routing::take_internal_request))
        .routes(routes!(routing::cancel_internal_request))
        .routes(routes!(routing::refer_ticket))
        .routes(routes!(routing::get_referral))
        .routes(routes!(routing::ticket_tone))
        .routes(routes!(routing::routing_metrics))
        .routes(routes!(
            routing::get_tone_settings,
            routing::set_tone_settings
        ))
        .routes(routes!(routing::get_silent_no, routing::set_silent_no))
        .routes(routes!(webhooks::list_webhooks, webhooks::create_webhook))
        .routes(routes!(webhooks::delete_webhook))
        .routes(routes!(phone::list_calls, phone::log_call))
        .routes(routes!(phone::ticket_from_call))
        .routes(routes!(phone::schedule_callback))
        .routes(routes!(phone::callback_queue))
        .routes(routes!(phone::cancel_callback));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", v1)
        .routes(routes!(health::healthz))
}

/// A page of a list: the items and, when more follow, the cursor for the next page.
#[derive(Serialize, ToSchema)]
pub struct ListOf<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> ListOf<T> {
    pub fn from_page(page: rapport_store::Page<T>) -> Self {
        Self {
            items: page.items,
            next_cursor: page.next.map(crate::extract::encode_cursor),
        }
    }

    pub fn all(items: Vec<T>) -> Self {
        Self {
            items,
            next_cursor: None,
        }
    }
}

pub async fn not_found(uri: Uri) -> Problem {
    Problem::not_found(format!("there is nothing at {}", uri.path()))
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!(
            "{} does not accept {method}; see /api/v1/openapi.json",
            uri.path()
        ),
    )
}
