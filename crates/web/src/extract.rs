//! Request parts turned into typed values, with precise problems instead of framework errors.

use crate::problem::Problem;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use base64::Engine;
use rapport_core::{Invalid, TicketRef};
use rapport_store::{Cursor, Idempotency, PageRequest};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// A JSON body, parsed with the path of any wrong field in the error, plus a fingerprint of
/// the exact bytes (for idempotency keys).
pub struct JsonBody<T> {
    pub value: T,
    pub fingerprint: String,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .is_some_and(|mime| mime == "application/json" || mime.ends_with("+json"));
        if !is_json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(
                    status,
                    "too-large",
                    format!(
                        "the body is larger than the {} KiB limit",
                        crate::MAX_BODY_BYTES / 1024
                    ),
                )
            } else {
                Problem::bad_request(format!("the body could not be read: {rejection}"))
            }
        })?;
        let value = parse_json(&bytes)?;
        Ok(Self {
            value,
            fingerprint: crate::auth::hex(&Sha256::digest(&bytes)),
        })
    }
}

/// Syntax errors are 400 (not JSON at all); JSON of the wrong shape is 422 naming the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        json_problem(err.into_inner(), path)
    })?;
    de.end().map_err(|e| json_problem(e, String::new()))?;
    Ok(value)
}

fn json_problem(err: serde_json::Error, path: String) -> Problem {
    match err.classify() {
        serde_json::error::Category::Data => {
            let field = if path.is_empty() || path == "." {
                "body".to_string()
            } else {
                path
            };
            Problem::invalid(Invalid::new(field, strip_position(&err.to_string())))
        }
        _ => Problem::bad_request(format!("the body is not valid JSON: {err}")),
    }
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Query-string parameters; a wrong type is a 400 naming the parameter.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Params)
            .map_err(|e| {
                Problem::bad_request(format!("query parameter {}: {}", e.path(), e.inner()))
            })
    }
}

/// The `Idempotency-Key` header, if sent: 1 to 255 visible ASCII characters.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(Self(None));
        };
        let key = value
            .to_str()
            .ok()
            .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                Problem::bad_request("Idempotency-Key must be 1 to 255 visible ASCII characters")
            })?;
        Ok(Self(Some(key.to_string())))
    }
}

impl IdempotencyKey {
    /// The key bound to this caller and request body, for the store.
    pub fn for_request(self, agent_id: i64, route: &str, fingerprint: &str) -> Option<Idempotency> {
        self.0.map(|key| Idempotency {
            agent_id,
            key,
            fingerprint: format!("{route}:{fingerprint}"),
        })
    }
}

/// A ticket number from the path: `10234` or `R-10234`. Any integer is a number (an unknown
/// one is a 404 later); other text is a 400.
pub fn ticket_id(raw: &str) -> Result<i64, Problem> {
    raw.parse::<i64>()
        .ok()
        .or_else(|| TicketRef::parse(raw).map(|r| r.0))
        .ok_or_else(|| {
            Problem::bad_request(format!(
                "'{raw}' is not a ticket number or reference (like 10234 or R-10234)"
            ))
        })
}

/// Cursors are opaque to clients: URL-safe base64 of the sort key.
pub fn encode_cursor(cursor: Cursor) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}.{}", cursor.at, cursor.id))
}

pub fn decode_cursor(raw: &str) -> Result<Cursor, Problem> {
    let bad = || {
        Problem::bad_request(format!(
            "cursor '{raw}' is not one this API issued; pass next_cursor back unchanged"
        ))
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (at, id) = text.split_once('.').ok_or_else(bad)?;
    Ok(Cursor {
        at: at.parse().map_err(|_| bad())?,
        id: id.parse().map_err(|_| bad())?,
    })
}

/// A `limit` parameter: `default` when absent, else 1 to `PageRequest::MAX_LIMIT`.
pub fn checked_limit(limit: Option<u32>, default: u32) -> Result<u32, Problem> {
    let limit = limit.unwrap_or(default);
    if (1..=PageRequest::MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(Problem::invalid(Invalid::new(
            "limit",
            format!("must be 1 to {}", PageRequest::MAX_LIMIT),
        )))
    }
}

/// The page a list request asks for: `limit` (1–200, default 50) and `cursor`.
pub fn page_request(cursor: Option<&str>, limit: Option<u32>) -> Result<PageRequest, Problem> {
    let limit = checked_limit(limit, 50)?;
    // An empty `cursor=` is the first page, as many clients send it that way.
    Ok(PageRequest {
        after: cursor
            .filter(|c| !c.is_empty())
            .map(decode_cursor)
            .transpose()?,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    #[test]
    fn json_errors_name_the_field_or_the_syntax() {
        let p = parse_json::<Body>(br#"{"name": "x", "inner": {"count": "many"}}"#).unwrap_err();
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "inner.count");
        assert!(
            p.errors[0].problem.contains("expected u32"),
            "{}",
            p.errors[0].problem
        );
        let p =
            parse_json::<Body>(br#"{"name": "x", "inner": {"count": 1}, "extra": 1}"#).unwrap_err();
        assert_eq!(p.status, 422);
        assert!(p.detail.contains("extra"));
        let p = parse_json::<Body>(br#"{"name": "x",,}"#).unwrap_err();
        assert_eq!(p.status, 400);
        let p =
            parse_json::<Body>(br#"{"name": "x", "inner": {"count": 1}} trailing"#).unwrap_err();
        assert_eq!(p.status, 400);
    }

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let c = Cursor {
            at: 1_790_000_000_000,
            id: 10_234,
        };
        assert_eq!(decode_cursor(&encode_cursor(c)).unwrap(), c);
        for bad in ["", "!!", "bm9wZQ", "MS4y="] {
            assert_eq!(decode_cursor(bad).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn ticket_ids_take_numbers_and_references() {
        assert_eq!(ticket_id("R-10234").unwrap(), 10234);
        assert_eq!(ticket_id("10234").unwrap(), 10234);
        assert_eq!(ticket_id("0").unwrap(), 0);
        assert_eq!(ticket_id("abc").unwrap_err().status, 400);
        assert_eq!(page_request(Some(""), None).unwrap().after, None);
    }
}
