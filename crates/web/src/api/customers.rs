use super::ListOf;
use super::tickets::{PageQuery, created_response, ctx, nullable};
use crate::AppState;
use crate::auth::Caller;
use crate::extract::{IdempotencyKey, JsonBody, Params, page_request};
use crate::problem::responses as problems;
use crate::problem::{ApiResult, Problem};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use rapport_core::contact::Tier;
use rapport_core::{Permission, Preferences};
use rapport_store::{
    Customer, CustomerFilter, CustomerPatch, NewCustomer, NewOrganization, Organization,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomer {
    pub name: String,
    /// One address; use `emails` for several.
    pub email: Option<String>,
    /// Several addresses, the first primary.
    #[serde(default)]
    pub emails: Vec<String>,
    pub organization_id: Option<i64>,
    pub phone: Option<String>,
    /// BCP 47 tag such as `en` or `de-CH`.
    pub language: Option<String>,
    /// IANA zone such as `Europe/Berlin`.
    pub time_zone: Option<String>,
    #[serde(default)]
    pub preferences: Preferences,
    #[serde(default)]
    pub notes: String,
}

/// Creates a customer. An address at an organisation's domain joins that organisation.
#[utoipa::path(post, path = "/customers", tag = "customers", request_body = CreateCustomer,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key")),
    responses((status = 201, body = Customer), problems::Auth, problems::Body, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
pub async fn create_customer(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    body: JsonBody<CreateCustomer>,
) -> ApiResult<(StatusCode, HeaderMap, Json<Customer>)> {
    caller.require(Permission::WriteCustomers, "create customers")?;
    let idem = key.for_request(caller.0.agent_id, "POST /customers", &body.fingerprint);
    let c = body.value;
    let emails = c.email.into_iter().chain(c.emails).collect();
    let new = NewCustomer {
        name: c.name,
        emails,
        organization_id: c.organization_id,
        phone: c.phone,
        language: c.language,
        time_zone: c.time_zone,
        preferences: c.preferences,
        notes: c.notes,
    };
    Ok(created_response(
        state.store.create_customer(ctx(&caller), new, idem).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CustomerQuery {
    pub organization: Option<i64>,
    /// Exact address (any of the customer's).
    pub email: Option<String>,
    /// A phone number: the customers whose number matches it (digits compared, a national
    /// number by its trailing digits; see `rapport_core::phone`), in one page.
    pub phone: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// Customers, newest first.
#[utoipa::path(get, path = "/customers", tag = "customers", params(CustomerQuery),
    responses((status = 200, body = ListOf<Customer>), problems::Auth, problems::Query),
    security(("bearer" = [])))]
pub async fn list_customers(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<CustomerQuery>,
) -> ApiResult<Json<ListOf<Customer>>> {
    caller.require(Permission::ReadCustomers, "read customers")?;
    if let Some(phone) = &q.phone {
        let mut found = Vec::new();
        for summary in state.store.customers_by_phone(phone).await? {
            found.push(state.store.customer(summary.id).await?);
        }
        return Ok(Json(ListOf::all(found)));
    }
    let page = page_request(q.cursor.as_deref(), q.limit)?;
    let filter = CustomerFilter {
        organization_id: q.organization,
        email: q.email,
    };
    Ok(Json(ListOf::from_page(
        state.store.list_customers(&filter, page).await?,
    )))
}

#[utoipa::path(get, path = "/customers/{id}", tag = "customers",
    params(("id" = i64, Path)),
    responses((status = 200, body = Customer), problems::Auth, problems::Query, problems::NotFound),
    security(("bearer" = [])))]
pub async fn get_customer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Customer>> {
    caller.require(Permission::ReadCustomers, "read customers")?;
    Ok(Json(
        state.store.customer(numeric_id("customer", &id)?).await?,
    ))
}

/// Ids in paths are numbers; anything else is a 400 that says so.
pub(crate) fn numeric_id(what: &str, raw: &str) -> Result<i64, Problem> {
    raw.parse()
        .map_err(|_| Problem::bad_request(format!("'{raw}' is not a {what} id (a number)")))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomer {
    pub name: Option<String>,
    /// Replaces all addresses; the first becomes primary.
    pub emails: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub organization_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub language: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub time_zone: Option<Option<String>>,
    pub preferences: Option<Preferences>,
    pub notes: Option<String>,
    /// Lets the customer see all of their organisation's tickets in the portal.
    pub org_admin: Option<bool>,
}

/// Changes a customer; each change is recorded with before and after.
#[utoipa::path(patch, path = "/customers/{id}", tag = "customers", request_body = UpdateCustomer,
    params(("id" = i64, Path)),
    responses((status = 200, body = Customer), problems::Auth, problems::Body, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
pub async fn update_customer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody<UpdateCustomer>,
) -> ApiResult<Json<Customer>> {
    caller.require(Permission::WriteCustomers, "change customers")?;
    let id = numeric_id("customer", &id)?;
    let u = body.value;
    let patch = CustomerPatch {
        name: u.name,
        emails: u.emails,
        organization_id: u.organization_id,
        phone: u.phone,
        language: u.language,
        time_zone: u.time_zone,
        preferences: u.preferences,
        notes: u.notes,
        org_admin: u.org_admin,
    };
    Ok(Json(
        state.store.update_customer(ctx(&caller), id, patch).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganization {
    pub name: String,
    #[serde(default)]
    pub tier: Tier,
    /// Yearly contract value in cents.
    #[serde(default)]
    pub contract_value_cents: i64,
    /// Email domains whose senders belong to this organisation.
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default)]
    pub notes: String,
}

#[utoipa::path(post, path = "/organizations", tag = "customers", request_body = CreateOrganization,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key")),
    responses((status = 201, body = Organization), problems::Auth, problems::Body, problems::Conflict),
    security(("bearer" = [])))]
pub async fn create_organization(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    body: JsonBody<CreateOrganization>,
) -> ApiResult<(StatusCode, HeaderMap, Json<Organization>)> {
    caller.require(Permission::WriteOrganizations, "create organizations")?;
    let idem = key.for_request(caller.0.agent_id, "POST /organizations", &body.fingerprint);
    let o = body.value;
    let new = NewOrganization {
        name: o.name,
        tier: o.tier,
        contract_value_cents: o.contract_value_cents,
        domains: o.domains,
        notes: o.notes,
    };
    Ok(created_response(
        state
            .store
            .create_organization(ctx(&caller), new, idem)
            .await?,
    ))
}

#[utoipa::path(get, path = "/organizations", tag = "customers", params(PageQuery),
    responses((status = 200, body = ListOf<Organization>), problems::Auth, problems::Query),
    security(("bearer" = [])))]
pub async fn list_organizations(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<PageQuery>,
) -> ApiResult<Json<ListOf<Organization>>> {
    caller.require(Permission::ReadCustomers, "read organizations")?;
    let page = page_request(q.cursor.as_deref(), q.limit)?;
    Ok(Json(ListOf::from_page(
        state.store.list_organizations(page).await?,
    )))
}

#[utoipa::path(get, path = "/organizations/{id}", tag = "customers",
    params(("id" = i64, Path)),
    responses((status = 200, body = Organization), problems::Auth, problems::Query, problems::NotFound),
    security(("bearer" = [])))]
pub async fn get_organization(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Organization>> {
    caller.require(Permission::ReadCustomers, "read organizations")?;
    Ok(Json(
        state
            .store
            .organization(numeric_id("organization", &id)?)
            .await?,
    ))
}
