//! Time as the store keeps it: UTC milliseconds since the Unix epoch.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant in milliseconds. Stored as an integer, shown to people and API clients as
/// RFC 3339 (`2026-11-23T13:14:05.123Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub i64);

impl Millis {
    pub fn to_timestamp(self) -> Option<jiff::Timestamp> {
        jiff::Timestamp::from_millisecond(self.0).ok()
    }

    /// Parses RFC 3339 (`2026-01-01T00:00:00Z`), a plain date (`2026-01-01`, taken as UTC
    /// midnight) or an integer number of milliseconds.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(ms) = text.parse::<i64>() {
            return Some(Self(ms));
        }
        if let Ok(ts) = text.parse::<jiff::Timestamp>() {
            return Some(Self(ts.as_millisecond()));
        }
        let date = text.parse::<jiff::civil::Date>().ok()?;
        let ts = date.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
        Some(Self(ts.as_millisecond()))
    }

    pub fn plus_minutes(self, minutes: i64) -> Self {
        Self(self.0.saturating_add(minutes.saturating_mul(60_000)))
    }
}

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_timestamp() {
            Some(ts) => write!(f, "{ts:.3}"),
            None => write!(f, "{}ms", self.0),
        }
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("'{text}' is not an RFC 3339 time")))
    }
}

/// `#[serde(with = "millis_as_int")]` on an `Option<Millis>`: stored as a plain integer, for
/// internal JSON read and written in bulk (SLA clocks), where RFC 3339 text would cost
/// formatting, parsing and space on every row.
pub mod millis_as_int {
    use super::Millis;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
        value.map(|m| m.0).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Millis>, D::Error> {
        Ok(Option::<i64>::deserialize(d)?.map(Millis))
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Millis {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .examples(["2026-11-23T13:14:05.123Z"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Millis {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shows_rfc3339_with_milliseconds() {
        assert_eq!(Millis(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            Millis(1_795_439_645_123).to_string(),
            "2026-11-23T13:14:05.123Z"
        );
    }

    #[test]
    fn parses_dates_times_and_integers() {
        assert_eq!(Millis::parse("2026-01-01"), Some(Millis(1_767_225_600_000)));
        assert_eq!(
            Millis::parse("2026-01-01T00:00:00Z"),
            Some(Millis(1_767_225_600_000))
        );
        assert_eq!(
            Millis::parse("2026-01-01T01:00:00+01:00"),
            Some(Millis(1_767_225_600_000))
        );
        assert_eq!(Millis::parse("42"), Some(Millis(42)));
        assert_eq!(Millis::parse("yesterday"), None);
        assert_eq!(Millis::parse("2026-13-01"), None);
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(ms in -62_000_000_000_000i64..253_000_000_000_000i64) {
            let shown = Millis(ms).to_string();
            prop_assert_eq!(Millis::parse(&shown), Some(Millis(ms)));
        }
    }
}
