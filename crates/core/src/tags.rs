//! Tags: short labels, compared case-insensitively, stored in one canonical spelling.

use crate::Invalid;

pub const MAX_TAG_CHARS: usize = 64;
pub const MAX_TAGS_PER_TICKET: usize = 50;

/// Canonical spelling: lower case, inner white space as `-`. Letters of any script, digits and
/// `-_:.` are allowed, so `Billing Issue` and `billing-issue` are one tag.
pub fn normalize_tag(raw: &str) -> Result<String, Invalid> {
    let tag = raw
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("-")
        .to_lowercase();
    if tag.is_empty() {
        return Err(Invalid::new("tags", "a tag must not be empty"));
    }
    if tag.chars().count() > MAX_TAG_CHARS {
        return Err(Invalid::new(
            "tags",
            format!("'{raw}' is longer than {MAX_TAG_CHARS} characters"),
        ));
    }
    if let Some(bad) = tag
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | ':' | '.')))
    {
        return Err(Invalid::new(
            "tags",
            format!("'{raw}' contains '{bad}'; tags may use letters, digits and - _ : ."),
        ));
    }
    Ok(tag)
}

/// Normalises a list of tags, dropping repeats and keeping the first-seen order.
pub fn normalize_tags<S: AsRef<str>>(raw: &[S]) -> Result<Vec<String>, Invalid> {
    let mut tags: Vec<String> = Vec::with_capacity(raw.len());
    for r in raw {
        let tag = normalize_tag(r.as_ref())?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS_PER_TICKET {
        return Err(Invalid::new(
            "tags",
            format!(
                "{} tags given; at most {MAX_TAGS_PER_TICKET} are allowed",
                tags.len()
            ),
        ));
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_spelling_per_tag() {
        assert_eq!(normalize_tag("  Billing  Issue ").unwrap(), "billing-issue");
        assert_eq!(normalize_tag("VIP").unwrap(), "vip");
        assert_eq!(normalize_tag("Счёт").unwrap(), "счёт");
        assert_eq!(normalize_tag("plan:pro").unwrap(), "plan:pro");
    }

    #[test]
    fn rejects_empty_long_and_odd_tags() {
        assert!(normalize_tag("  ").is_err());
        assert!(normalize_tag(&"a".repeat(65)).is_err());
        assert!(
            normalize_tag("<script>")
                .unwrap_err()
                .problem
                .contains("'<'")
        );
    }

    #[test]
    fn lists_drop_repeats_in_order() {
        assert_eq!(
            normalize_tags(&["b", "A", "a", "B "]).unwrap(),
            vec!["b".to_string(), "a".to_string()]
        );
    }

    proptest! {
        #[test]
        fn normalising_is_idempotent(raw in "\\PC{0,40}") {
            if let Ok(tag) = normalize_tag(&raw) {
                prop_assert_eq!(normalize_tag(&tag), Ok(tag.clone()));
            }
        }
    }
}
