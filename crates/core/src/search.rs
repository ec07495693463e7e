//! The search query language agents type: words, `"exact phrases"`, `prefix*`, `-excluded`
//! words, and field filters — `status:open,pending`, `priority:high`, `tag:billing`,
//! `assignee:me|none|<id>|<email>`, `customer:ann@example.com` (or a name), `org:acme`,
//! `ref:R-10234`, `created>2026-01-01`, `updated<2026-02-01` — each negatable with `-`.
//! Text that only looks like a field (`error:timeout`) stays text.

use crate::{Invalid, Millis, Priority, TicketRef, TicketStatus};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Text {
    Word(String),
    /// Matches words that start with this.
    Prefix(String),
    /// These words, adjacent and in order.
    Phrase(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextTerm {
    pub text: Text,
    /// `-word`: tickets containing it anywhere are left out.
    pub exclude: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeRef {
    /// The agent searching; resolved with [`SearchQuery::resolve_me`] before it reaches a store.
    Me,
    Nobody,
    Id(i64),
    Email(String),
}

/// `>` (at or after) or `<` (before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    From,
    Before,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Status(Vec<TicketStatus>),
    Priority(Priority),
    Tag(String),
    Assignee(AssigneeRef),
    /// An exact email address, or words of the customer's name.
    Customer(String),
    /// Words of the organisation's name.
    Organization(String),
    Reference(i64),
    Created(Bound, Millis),
    Updated(Bound, Millis),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterTerm {
    pub filter: Filter,
    pub exclude: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchQuery {
    pub text: Vec<TextTerm>,
    pub filters: Vec<FilterTerm>,
}

/// Longer searches are refused: every word becomes index lookups.
pub const MAX_QUERY_CHARS: usize = 1_000;

const FIELDS: &str = "status, priority, tag, assignee, customer, org, ref, created, updated";

impl SearchQuery {
    /// Parses what the agent typed. Only filters can be wrong (an unknown status, a date that
    /// is not one); the error names the filter and what it accepts.
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        if input.chars().count() > MAX_QUERY_CHARS {
            return Err(Invalid::new(
                "q",
                format!("must be at most {MAX_QUERY_CHARS} characters"),
            ));
        }
        let mut query = Self::default();
        for token in tokens(input) {
            let (exclude, body) = match token.strip_prefix('-') {
                Some(rest) if !rest.is_empty() => (true, rest),
                _ => (false, token.as_str()),
            };
            if let Some(filter) = parse_filter(body)? {
                query.filters.push(FilterTerm { filter, exclude });
            } else if let Some(text) = parse_text(body) {
                query.text.push(TextTerm { text, exclude });
            }
        }
        if query.text.iter().all(|t| t.exclude) && query.filters.is_empty() {
            return Err(Invalid::new(
                "q",
                format!(
                    "give at least one word to find or one filter ({FIELDS}; e.g. status:open)"
                ),
            ));
        }
        Ok(query)
    }

    /// Replaces `assignee:me` with the searching agent.
    pub fn resolve_me(mut self, agent_id: i64) -> Self {
        for term in &mut self.filters {
            if term.filter == Filter::Assignee(AssigneeRef::Me) {
                term.filter = Filter::Assignee(AssigneeRef::Id(agent_id));
            }
        }
        self
    }

    /// Whether any word must be present (otherwise only filters and exclusions select).
    pub fn has_required_text(&self) -> bool {
        self.text.iter().any(|t| !t.exclude)
    }
}

/// Splits on white space, keeping `"quoted phrases"` (also after `field:`) together.
fn tokens(input: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in input.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn parse_text(token: &str) -> Option<Text> {
    if let Some(inner) = token.strip_prefix('"') {
        let ws = words(inner.trim_end_matches('"'));
        return match ws.len() {
            0 => None,
            1 => ws.into_iter().next().map(Text::Word),
            _ => Some(Text::Phrase(ws)),
        };
    }
    let prefix = token.ends_with('*');
    let ws = words(token);
    match (ws.len(), prefix) {
        (0, _) => None,
        (1, true) => ws.into_iter().next().map(Text::Prefix),
        (1, false) => ws.into_iter().next().map(Text::Word),
        // `order-17` or `a.b@c`: the parts, adjacent.
        _ => Some(Text::Phrase(ws)),
    }
}

/// A filter if the token is `field:value`, `field>value` or `field<value` for a known field.
fn parse_filter(token: &str) -> Result<Option<Filter>, Invalid> {
    let Some(split) = token.find([':', '>', '<']) else {
        return Ok(None);
    };
    let (field, rest) = token.split_at(split);
    let field = field.to_ascii_lowercase();
    let (op, value) = rest.split_at(1);
    let value = value.trim_matches('"');
    let known = matches!(
        field.as_str(),
        "status"
            | "priority"
            | "tag"
            | "assignee"
            | "customer"
            | "org"
            | "organization"
            | "ref"
            | "created"
            | "updated"
    );
    if !known {
        return Ok(None);
    }
    let bad = |problem: String| Invalid::new("q", format!("{field}{op}{value}: {problem}"));
    if value.is_empty() {
        return Err(bad("needs a value".into()));
    }
    let date_field = matches!(field.as_str(), "created" | "updated");
    if op != ":" && !date_field {
        return Err(bad(format!(
            "use {field}:value (only created and updated compare with > and <)"
        )));
    }
    let filter = match field.as_str() {
        "status" => Filter::Status(
            value
                .split(',')
                .map(|s| TicketStatus::parse(&s.trim().to_lowercase()).map_err(|e| bad(e.problem)))
                .collect::<Result<_, _>>()?,
        ),
        "priority" => {
            Filter::Priority(Priority::parse(&value.to_lowercase()).map_err(|e| bad(e.problem))?)
        }
        "tag" => Filter::Tag(crate::tags::normalize_tag(value).map_err(|e| bad(e.problem))?),
        "assignee" => {
            Filter::Assignee(match value.to_ascii_lowercase().as_str() {
                "me" => AssigneeRef::Me,
                "none" | "nobody" => AssigneeRef::Nobody,
                v if v.contains('@') => AssigneeRef::Email(v.to_string()),
                v => AssigneeRef::Id(v.parse().map_err(|_| {
                    bad("expected me, none, an agent id or an agent's email".into())
                })?),
            })
        }
        "customer" => Filter::Customer(value.to_lowercase()),
        "org" | "organization" => Filter::Organization(value.to_lowercase()),
        "ref" => Filter::Reference(
            TicketRef::parse(value)
                .ok_or_else(|| bad("expected a ticket reference like R-10234".into()))?
                .0,
        ),
        _ => {
            let at = Millis::parse(value)
                .ok_or_else(|| bad("expected a date (2026-01-31) or an RFC 3339 time".into()))?;
            let bound = if op == "<" {
                Bound::Before
            } else {
                Bound::From
            };
            if field == "created" {
                Filter::Created(bound, at)
            } else {
                Filter::Updated(bound, at)
            }
        }
    };
    Ok(Some(filter))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text(terms: &[(&str, bool)]) -> Vec<TextTerm> {
        terms
            .iter()
            .map(|(w, exclude)| TextTerm {
                text: Text::Word(w.to_string()),
                exclude: *exclude,
            })
            .collect()
    }

    #[test]
    fn words_phrases_prefixes_and_exclusions() {
        let q = SearchQuery::parse(r#"Refund "credit card" rout* -chargeback"#).unwrap();
        assert_eq!(
            q.text,
            vec![
                TextTerm {
                    text: Text::Word("refund".into()),
                    exclude: false
                },
                TextTerm {
                    text: Text::Phrase(vec!["credit".into(), "card".into()]),
                    exclude: false
                },
                TextTerm {
                    text: Text::Prefix("rout".into()),
                    exclude: false
                },
                TextTerm {
                    text: Text::Word("chargeback".into()),
                    exclude: true
                },
            ]
        );
        assert!(q.filters.is_empty());
    }

    #[test]
    fn fields_filter_and_can_be_excluded() {
        let q = SearchQuery::parse("status:open,pending priority:HIGH tag:Billing -tag:spam assignee:me org:acme ref:R-10234 created>2026-01-01 updated<2026-02-01T00:00:00Z customer:ann@example.com").unwrap();
        let filters: Vec<_> = q
            .filters
            .iter()
            .map(|f| (f.filter.clone(), f.exclude))
            .collect();
        assert_eq!(
            filters[0],
            (
                Filter::Status(vec![TicketStatus::Open, TicketStatus::Pending]),
                false
            )
        );
        assert_eq!(filters[1], (Filter::Priority(Priority::High), false));
        assert_eq!(filters[2], (Filter::Tag("billing".into()), false));
        assert_eq!(filters[3], (Filter::Tag("spam".into()), true));
        assert_eq!(filters[4], (Filter::Assignee(AssigneeRef::Me), false));
        assert_eq!(filters[5], (Filter::Organization("acme".into()), false));
        assert_eq!(filters[6], (Filter::Reference(10234), false));
        assert_eq!(
            filters[7],
            (
                Filter::Created(Bound::From, Millis(1_767_225_600_000)),
                false
            )
        );
        assert_eq!(
            filters[8],
            (
                Filter::Updated(Bound::Before, Millis(1_769_904_000_000)),
                false
            )
        );
        assert_eq!(
            filters[9],
            (Filter::Customer("ann@example.com".into()), false)
        );
        assert_eq!(
            q.clone().resolve_me(7).filters[4].filter,
            Filter::Assignee(AssigneeRef::Id(7))
        );
    }

    #[test]
    fn text_that_only_looks_like_a_field_stays_text() {
        let q = SearchQuery::parse("error:timeout order-17").unwrap();
        assert_eq!(
            q.text[0].text,
            Text::Phrase(vec!["error".into(), "timeout".into()])
        );
        assert_eq!(
            q.text[1].text,
            Text::Phrase(vec!["order".into(), "17".into()])
        );
    }

    #[test]
    fn bad_filters_say_what_they_accept() {
        for (input, expect) in [
            ("status:done", "not a status"),
            ("priority:", "needs a value"),
            ("created>yesterday", "expected a date"),
            ("ref:abc", "ticket reference"),
            ("assignee:someone", "agent id"),
            ("tag>x", "tag:value"),
        ] {
            let err = SearchQuery::parse(input).unwrap_err();
            assert_eq!(err.field, "q");
            assert!(err.problem.contains(expect), "{input}: {err}");
        }
        assert!(SearchQuery::parse("   ").is_err());
        assert!(
            SearchQuery::parse(&"word ".repeat(201)).is_err(),
            "at most 1,000 characters"
        );
        assert!(SearchQuery::parse(&"word ".repeat(200)).is_ok());
        assert!(
            SearchQuery::parse("-spam").is_err(),
            "only exclusions select nothing to start from"
        );
        assert_eq!(
            SearchQuery::parse("-spam status:open").unwrap().text,
            text(&[("spam", true)])
        );
    }

    proptest! {
        #[test]
        fn parsing_never_panics(input in "\\PC{0,60}") {
            let _ = SearchQuery::parse(&input);
        }
    }
}
