//! Who is calling: API tokens (random, shown once, stored as SHA-256), passwords (Argon2id),
//! and the extractor every API handler takes to learn the caller and check a permission.

use crate::AppState;
use crate::problem::Problem;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use rand::RngCore;
use rapport_core::{Actor, Permission};
use rapport_store::Principal;
use sha2::{Digest, Sha256};

/// Tokens carry this prefix so a leaked one is recognisable (and scannable) as ours.
pub const TOKEN_PREFIX: &str = "rpt_";

/// A new random API token (256 bits) to show once.
pub fn new_token() -> String {
    new_secret(TOKEN_PREFIX)
}

/// A new random secret with a prefix: 32 random bytes, URL-safe base64.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// What the store keeps of a token: its SHA-256. Tokens are long and random, so a fast hash is
/// enough (a slow one would only slow every request).
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct PasswordError(String);

/// Argon2id with the crate's recommended parameters. Slow on purpose: call it off the async
/// threads (`spawn_blocking`).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError(e.to_string()))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// The agent a request comes from, proven by a bearer token.
pub struct Caller(pub Principal);

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor::agent(self.0.agent_id)
    }

    /// Refuses the request unless the caller's role has `permission`.
    pub fn require(&self, permission: Permission, doing: &str) -> Result<(), Problem> {
        if self.0.role.allows(permission) {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "your role ({}) may not {doing}",
                self.0.role.as_str()
            )))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            Problem::unauthorized("send an API token: Authorization: Bearer <token>")
        })?;
        let value = header
            .to_str()
            .map_err(|_| Problem::unauthorized("the Authorization header is not readable text"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Problem::unauthorized("the Authorization header must be 'Bearer <token>'")
            })?;
        let principal = state
            .store
            .principal_by_token(&token_hash(token))
            .await?
            .ok_or_else(|| {
                Problem::unauthorized(
                    "the API token is not valid (unknown, revoked, or its agent is deactivated)",
                )
            })?;
        if !principal.role.is_staff() {
            return Err(Problem::forbidden(
                "customer accounts cannot use the agent API",
            ));
        }
        Ok(Caller(principal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 43);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn passwords_verify_only_themselves() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horse!", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }
}
