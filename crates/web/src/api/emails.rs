//! The email channel as agents see it: what was sent or queued for a ticket, received emails
//! exactly as they arrived, and attachments.
//!
//! Received bytes are the sender's, not ours: they are served as downloads the browser may
//! neither sniff nor run (only common raster images show inline).

use super::ListOf;
use super::customers::numeric_id;
use super::tickets::PageQuery;
use crate::AppState;
use crate::auth::Caller;
use crate::extract::ticket_id;
use crate::extract::{Params, page_request};
use crate::problem::responses as problems;
use crate::problem::{ApiResult, Problem};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::{
    CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use rapport_core::Permission;
use rapport_store::{OutboundEmail, UnfiledEmail};
use std::fmt::Write;

/// Image types browsers render without running anything; everything else is downloaded.
const INLINE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Emails sent or queued for the ticket (read-backs and replies), oldest first, with their
/// delivery state.
#[utoipa::path(get, path = "/tickets/{id}/emails", tag = "tickets",
    params(("id" = String, Path, description = "Ticket number or reference")),
    responses((status = 200, body = ListOf<OutboundEmail>), problems::Auth, problems::Query, problems::NotFound),
    security(("bearer" = [])))]
pub async fn ticket_emails(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ListOf<OutboundEmail>>> {
    caller.require(Permission::ReadTickets, "read tickets")?;
    Ok(Json(ListOf::all(
        state.store.ticket_emails(ticket_id(&id)?).await?,
    )))
}

/// Received emails on no ticket, newest first: mail that could not be filed (`quarantined`,
/// with the reason in `problems`) and automatic mail that needed no ticket (`unfiled`). Read
/// one with `/emails/{id}/raw`.
#[utoipa::path(get, path = "/emails/unfiled", tag = "email",
    params(PageQuery),
    responses((status = 200, body = ListOf<UnfiledEmail>), problems::Auth, problems::Query),
    security(("bearer" = [])))]
pub async fn unfiled_emails(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<PageQuery>,
) -> ApiResult<Json<ListOf<UnfiledEmail>>> {
    caller.require(Permission::ReadTickets, "read tickets")?;
    let page = page_request(q.cursor.as_deref(), q.limit)?;
    Ok(Json(ListOf::from_page(
        state.store.list_unfiled_emails(page).await?,
    )))
}

/// A received email exactly as it arrived (a message's `email_id`), for forensics or to
/// open in a mail program.
#[utoipa::path(get, path = "/emails/{id}/raw", tag = "email",
    params(("id" = i64, Path)),
    responses(
        (status = 200, description = "The message as received (RFC 5322)",
            content_type = "message/rfc822", body = inline(Binary)),
        problems::Auth, problems::Query, problems::NotFound),
    security(("bearer" = [])))]
pub async fn raw_email(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(HeaderMap, Vec<u8>)> {
    caller.require(Permission::ReadTickets, "read tickets")?;
    let id = numeric_id("email", &id)?;
    let raw = state.store.raw_email(id).await?;
    let headers = download_headers(
        HeaderValue::from_static("message/rfc822"),
        content_disposition("attachment", &format!("email-{id}.eml")),
    );
    Ok((headers, raw))
}

/// An attachment's bytes with its type. Images (PNG, JPEG, GIF, WebP) show inline, anything
/// else downloads; a withheld attachment (too large, …) is 410 and says why.
#[utoipa::path(get, path = "/attachments/{id}", tag = "email",
    params(("id" = i64, Path)),
    responses(
        (status = 200, description = "The bytes, with the type the sender gave them",
            content_type = "*/*", body = inline(Binary)),
        problems::Auth, problems::Query, problems::NotFound,
        (status = 410, description = "The bytes were not kept; `detail` says why",
            content_type = "application/problem+json", body = Problem)),
    security(("bearer" = [])))]
pub async fn attachment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(HeaderMap, Vec<u8>)> {
    caller.require(Permission::ReadTickets, "read tickets")?;
    let id = numeric_id("attachment", &id)?;
    attachment_download(&state, id).await
}

/// An attachment's bytes with headers that keep a browser from running them. Callers check
/// who may see it first.
pub async fn attachment_download(state: &AppState, id: i64) -> ApiResult<(HeaderMap, Vec<u8>)> {
    let (meta, bytes) = state.store.attachment(id).await?;
    let Some(bytes) = bytes else {
        let why = meta
            .withheld
            .as_deref()
            .unwrap_or("its bytes were not kept");
        return Err(Problem::new(
            StatusCode::GONE,
            "attachment-withheld",
            format!(
                "attachment {id} ({}) was not kept: {why}; the received email still holds it",
                meta.filename
            ),
        ));
    };
    let (content_type, essence) = safe_content_type(&meta.content_type);
    let disposition = if INLINE_TYPES.contains(&essence.as_str()) {
        "inline"
    } else {
        "attachment"
    };
    let filename = if meta.filename.trim().is_empty() {
        format!("attachment-{id}")
    } else {
        meta.filename
    };
    let headers = download_headers(content_type, content_disposition(disposition, &filename));
    Ok((headers, bytes))
}

/// Headers for bytes that came from outside: no type sniffing, and if a browser does render
/// them, they run sandboxed (no scripts, no same-origin access to the API).
fn download_headers(content_type: HeaderValue, disposition: HeaderValue) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, content_type);
    headers.insert(CONTENT_DISPOSITION, disposition);
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    headers
}

/// The stored type when it is a well-formed ASCII `type/subtype` (parameters kept), else
/// `application/octet-stream`; with its lower-case essence for decisions.
fn safe_content_type(stored: &str) -> (HeaderValue, String) {
    let essence = stored
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let well_formed = essence.split_once('/').is_some_and(|(t, s)| {
        !t.is_empty() && !s.is_empty() && format!("{t}{s}").bytes().all(is_token_byte)
    });
    match HeaderValue::from_str(stored.trim()) {
        Ok(value) if well_formed && stored.is_ascii() => (value, essence),
        _ => (
            HeaderValue::from_static("application/octet-stream"),
            "application/octet-stream".into(),
        ),
    }
}

/// RFC 7230 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `disposition; filename="ascii fallback"; filename*=UTF-8''percent-encoded` (RFC 6266,
/// RFC 5987): any name survives, and none can break out of the header.
fn content_disposition(disposition: &str, filename: &str) -> HeaderValue {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c == ' ' || (c.is_ascii_graphic() && c != '"' && c != '\\') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(filename.len());
    for b in filename.bytes() {
        // RFC 5987 attr-char.
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            let _ = write!(encoded, "%{b:02X}");
        }
    }
    HeaderValue::from_str(&format!(
        "{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

// Bytes in a response, for the OpenAPI document (a `//` comment: doc comments become the
// schema's description).
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(pub Vec<u8>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_encoded_and_cannot_break_the_header() {
        let h = content_disposition("attachment", "Rechnung März \"final\".pdf\r\nX: y");
        let h = h.to_str().unwrap();
        assert!(
            h.starts_with("attachment; filename=\"Rechnung M_rz _final_.pdf__X: y\"; "),
            "{h}"
        );
        assert!(
            h.ends_with("filename*=UTF-8''Rechnung%20M%C3%A4rz%20%22final%22.pdf%0D%0AX%3A%20y"),
            "{h}"
        );
        assert_eq!(
            content_disposition("inline", "a.png").to_str().unwrap(),
            "inline; filename=\"a.png\"; filename*=UTF-8''a.png"
        );
    }

    #[test]
    fn content_types_are_kept_only_when_well_formed() {
        let (v, e) = safe_content_type("Image/PNG");
        assert_eq!(
            (v.to_str().unwrap(), e.as_str()),
            ("Image/PNG", "image/png")
        );
        let (v, _) = safe_content_type("text/plain; charset=utf-8");
        assert_eq!(v.to_str().unwrap(), "text/plain; charset=utf-8");
        for bad in [
            "",
            "text",
            "text/",
            "/x",
            "te xt/html",
            "text/html\r\nX: y",
            "tëxt/plain",
            "text/plain; name=März",
        ] {
            let (v, e) = safe_content_type(bad);
            assert_eq!(
                (v.to_str().unwrap(), e.as_str()),
                ("application/octet-stream", "application/octet-stream"),
                "{bad:?}"
            );
        }
    }
}
