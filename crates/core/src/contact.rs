//! Customers and organisations: addresses, preferences, tiers — how each person wants to be
//! treated (principle 8).

use crate::Invalid;
use serde::{Deserialize, Serialize};

/// Checks and canonicalises an email address: trimmed, lower-cased (we treat the local part
/// case-insensitively, as every mail provider people use does), `local@domain` with a dotted
/// domain of valid labels. Not a full RFC 5322 parser: it accepts what people type and rejects
/// what cannot be delivered.
pub fn normalize_email(field: &str, raw: &str) -> Result<String, Invalid> {
    let email = raw.trim().to_lowercase();
    let bad = |why: &str| {
        Err(Invalid::new(
            field,
            format!("'{raw}' is not an email address: {why}"),
        ))
    };
    if email.len() > 254 {
        return bad("longer than 254 characters");
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return bad("it has no '@'");
    };
    if local.is_empty() || local.len() > 64 {
        return bad("the part before '@' must be 1 to 64 characters");
    }
    if local.chars().any(|c| {
        c.is_whitespace()
            || c.is_control()
            || matches!(
                c,
                '<' | '>' | '(' | ')' | ',' | ';' | ':' | '\\' | '"' | '[' | ']' | '@'
            )
    }) || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
    {
        return bad("the part before '@' has characters an address cannot have");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return bad("the domain needs a dot, like example.com");
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    if !labels.iter().all(label_ok) {
        return bad("the domain is not a valid host name");
    }
    Ok(email)
}

/// The domain part of an already normalised address.
pub fn email_domain(email: &str) -> &str {
    email.rsplit_once('@').map_or("", |(_, d)| d)
}

/// Checks an organisation's email domain (`example.com`), lower-cased.
pub fn normalize_domain(raw: &str) -> Result<String, Invalid> {
    let domain = raw.trim().trim_start_matches('@').to_lowercase();
    normalize_email("domains", &format!("x@{domain}"))
        .map(|_| domain)
        .map_err(|_| Invalid::new("domains", format!("'{raw}' is not a domain name")))
}

/// Checks an IANA time zone name such as `Europe/Berlin`.
pub fn validate_time_zone(raw: &str) -> Result<String, Invalid> {
    jiff::tz::TimeZone::get(raw)
        .map(|_| raw.to_string())
        .map_err(|_| {
            Invalid::new(
                "time_zone",
                format!(
                    "'{raw}' is not an IANA time zone (like Europe/Berlin or America/New_York)"
                ),
            )
        })
}

/// Checks a language tag such as `en`, `de-CH` or `pt-BR` (BCP 47 shape, not the registry).
pub fn validate_language(raw: &str) -> Result<String, Invalid> {
    let ok = raw.split('-').enumerate().all(|(i, part)| {
        let n = part.len();
        if i == 0 {
            (2..=3).contains(&n) && part.chars().all(|c| c.is_ascii_alphabetic())
        } else {
            (2..=8).contains(&n) && part.chars().all(|c| c.is_ascii_alphanumeric())
        }
    });
    if ok {
        Ok(raw.to_string())
    } else {
        Err(Invalid::new(
            "language",
            format!("'{raw}' is not a language tag (like en, de or pt-BR)"),
        ))
    }
}

/// How a customer prefers to be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    #[default]
    Email,
    Chat,
    Phone,
    Portal,
    Api,
}

impl Channel {
    pub const ALL: [Channel; 5] = [
        Self::Email,
        Self::Chat,
        Self::Phone,
        Self::Portal,
        Self::Api,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Chat => "chat",
            Self::Phone => "phone",
            Self::Portal => "portal",
            Self::Api => "api",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// Register to write in: first names and a light tone, or titles and a formal one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Formality {
    Formal,
    #[default]
    Neutral,
    Casual,
}

/// What the customer told us about how they want to be treated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    #[serde(default)]
    pub channel: Channel,
    #[serde(default)]
    pub formality: Formality,
    /// When they like to be contacted, in their own words or as hours (`Mon-Fri 09:00-17:00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_hours: Option<String>,
}

impl Preferences {
    pub fn validate(&self) -> Result<(), Invalid> {
        match &self.contact_hours {
            Some(h) if h.chars().count() > 200 => Err(Invalid::new(
                "preferences.contact_hours",
                "must be at most 200 characters",
            )),
            _ => Ok(()),
        }
    }
}

/// An organisation's service tier, which drives SLA policies and thank-you scaling.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, PartialOrd, Ord,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    #[default]
    Standard,
    Business,
    Enterprise,
    Strategic,
}

impl Tier {
    pub const ALL: [Tier; 4] = [
        Self::Standard,
        Self::Business,
        Self::Enterprise,
        Self::Strategic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Business => "business",
            Self::Enterprise => "enterprise",
            Self::Strategic => "strategic",
        }
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        crate::parse_name("tier", "a tier", Self::ALL, Self::as_str, text)
    }
}

/// Checks a person's or organisation's display name: required, one line, at most 200 characters.
pub fn validate_name(field: &str, raw: &str) -> Result<String, Invalid> {
    crate::one_line(field, raw, 200)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn emails_are_canonical() {
        assert_eq!(
            normalize_email("email", " Ann.Lee@Example.COM ").unwrap(),
            "ann.lee@example.com"
        );
        assert_eq!(
            normalize_email("email", "a+tag@sub.example.co.uk").unwrap(),
            "a+tag@sub.example.co.uk"
        );
        assert_eq!(
            normalize_email("email", "jürgen@münchen.de").unwrap(),
            "jürgen@münchen.de"
        );
    }

    #[test]
    fn undeliverable_emails_are_refused_with_the_reason() {
        for (raw, why) in [
            ("ann", "no '@'"),
            ("@example.com", "before '@'"),
            ("ann@localhost", "needs a dot"),
            ("ann@exa_mple.com", "not a valid host"),
            ("a b@example.com", "characters"),
            ("ann@-x.com", "not a valid host"),
            ("a..b@example.com", "characters"),
        ] {
            let err = normalize_email("customer.email", raw).unwrap_err();
            assert_eq!(err.field, "customer.email");
            assert!(err.problem.contains(why), "{raw}: {err}");
        }
    }

    #[test]
    fn time_zones_languages_and_domains() {
        assert!(validate_time_zone("Europe/Berlin").is_ok());
        assert!(validate_time_zone("Mars/Olympus").is_err());
        assert!(validate_language("pt-BR").is_ok());
        assert!(validate_language("english").is_err());
        assert_eq!(normalize_domain("@Acme.COM").unwrap(), "acme.com");
        assert!(normalize_domain("acme").is_err());
        assert_eq!(email_domain("ann@acme.com"), "acme.com");
    }

    #[test]
    fn preferences_reject_unknown_keys() {
        let err = serde_json::from_str::<Preferences>(r#"{"channel":"phone","colour":"red"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("colour"));
        let p: Preferences = serde_json::from_str(r#"{"channel":"phone"}"#).unwrap();
        assert_eq!(p.channel, Channel::Phone);
        assert_eq!(p.formality, Formality::Neutral);
    }

    proptest! {
        #[test]
        fn normalised_emails_stay_normalised(raw in "[A-Za-z0-9._+-]{1,20}@[A-Za-z0-9-]{1,20}\\.[a-z]{2,6}") {
            if let Ok(email) = normalize_email("email", &raw) {
                prop_assert_eq!(normalize_email("email", &email), Ok(email.clone()));
                prop_assert!(!email.chars().any(|c| c.is_uppercase()));
            }
        }

        #[test]
        fn email_check_never_panics(raw in "\\PC{0,80}") {
            let _ = normalize_email("email", &raw);
        }
    }
}
