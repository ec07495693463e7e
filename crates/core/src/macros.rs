//! Macros (canned replies): a text with placeholders such as `{{customer.first_name}}`, and
//! the ticket changes applying it makes. Placeholders are a closed list, checked when a macro
//! is saved, so a typo is refused then rather than sent to a customer.

use crate::ticket::{Priority, TicketStatus, validate_body};
use crate::{Invalid, tags};
use serde::{Deserialize, Serialize};

/// The placeholders a macro may use.
pub const PLACEHOLDERS: [&str; 6] = [
    "customer.first_name",
    "customer.name",
    "agent.first_name",
    "agent.name",
    "ticket.reference",
    "ticket.subject",
];

/// What applying a macro changes on the ticket, besides filling the reply box.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MacroActions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TicketStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_tags: Vec<String>,
}

/// The values placeholders stand for on one ticket.
#[derive(Debug, Clone)]
pub struct MacroValues {
    pub customer_name: String,
    pub agent_name: String,
    pub reference: String,
    pub subject: String,
}

impl MacroValues {
    fn get(&self, name: &str) -> Option<String> {
        Some(match name {
            "customer.first_name" => first_name(&self.customer_name),
            "customer.name" => self.customer_name.clone(),
            "agent.first_name" => first_name(&self.agent_name),
            "agent.name" => self.agent_name.clone(),
            "ticket.reference" => self.reference.clone(),
            "ticket.subject" => self.subject.clone(),
            _ => return None,
        })
    }
}

/// The first word of a name ("Ann Lee" → "Ann"). A name with no capitals at all was most
/// likely made from an email address ("carla"), so its first letter is raised ("Carla").
pub fn first_name(full: &str) -> String {
    let first = full.split_whitespace().next().unwrap_or(full);
    if full.chars().any(char::is_uppercase) {
        return first.to_string();
    }
    let mut chars = first.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Splits `body` into literal text and `{{ name }}` placeholders, in order.
fn pieces(body: &str) -> Vec<Result<&str, &str>> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        out.push(Ok(&rest[..start]));
        out.push(Err(rest[start + 2..start + len].trim()));
        rest = &rest[start + len + 2..];
    }
    out.push(Ok(rest));
    out
}

/// Fills the placeholders of `body`.
pub fn render(body: &str, values: &MacroValues) -> String {
    pieces(body)
        .into_iter()
        .map(|p| match p {
            Ok(text) => text.to_string(),
            Err(name) => values.get(name).unwrap_or_default(),
        })
        .collect()
}

/// Checks a macro before it is saved: a name, a body, only known placeholders, valid tags.
pub fn validate(name: &str, body: &str, actions: &MacroActions) -> Result<MacroActions, Invalid> {
    crate::one_line("name", name, 100)?;
    validate_body("body", body)?;
    if let Some(unknown) = pieces(body)
        .into_iter()
        .filter_map(Result::err)
        .find(|n| !PLACEHOLDERS.contains(n))
    {
        return Err(Invalid::new(
            "body",
            format!(
                "'{{{{{unknown}}}}}' is not a placeholder; use one of {}",
                PLACEHOLDERS.map(|p| format!("{{{{{p}}}}}")).join(", ")
            ),
        ));
    }
    let add_tags = tags::normalize_tags(&actions.add_tags)?;
    Ok(MacroActions {
        add_tags,
        ..actions.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> MacroValues {
        MacroValues {
            customer_name: "Ann Lee".into(),
            agent_name: "Sam Okafor".into(),
            reference: "R-10234".into(),
            subject: "Router drops Wi-Fi".into(),
        }
    }

    #[test]
    fn placeholders_are_filled() {
        let body = "Hi {{customer.first_name}},\n\nabout {{ ticket.reference }} ({{ticket.subject}}): done.\n{{agent.first_name}}";
        assert_eq!(
            render(body, &values()),
            "Hi Ann,\n\nabout R-10234 (Router drops Wi-Fi): done.\nSam"
        );
        assert_eq!(
            render("No placeholders {{", &values()),
            "No placeholders {{"
        );
        assert_eq!(first_name("Cher"), "Cher");
        assert_eq!(first_name("carla"), "Carla");
        assert_eq!(first_name("élodie martin"), "Élodie");
        assert_eq!(first_name("Anna-Lena de Vries"), "Anna-Lena");
        assert_eq!(first_name(""), "");
    }

    #[test]
    fn unknown_placeholders_and_bad_tags_are_refused_when_saved() {
        let ok = MacroActions {
            add_tags: vec!["Billing".into()],
            ..Default::default()
        };
        assert_eq!(
            validate("Thanks", "Hi {{customer.name}}", &ok)
                .unwrap()
                .add_tags,
            vec!["billing"]
        );
        let err = validate("Thanks", "Hi {{customer.frist_name}}", &ok).unwrap_err();
        assert_eq!(err.field, "body");
        assert!(err.problem.contains("{{customer.frist_name}}"));
        assert!(validate("", "Hi", &ok).is_err());
        assert!(validate("Thanks", "  ", &ok).is_err());
    }
}

/// Where the `@name` mentions of a note are: the byte range of each name (after its `@`).
/// The `@` must start a word, so an address (ann@example.com) is not a mention; a name is
/// letters, digits and `.`, `_`, `-`, without trailing punctuation.
pub fn mention_spans(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(offset) = text[from..].find('@') {
        let at = from + offset;
        let starts_word = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let start = at + 1;
        let len = text[start..]
            .char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '-')))
            .map_or(text.len() - start, |(i, _)| i);
        let name = text[start..start + len].trim_end_matches(['.', '-', '_']);
        if starts_word && !name.is_empty() {
            spans.push(start..start + name.len());
            from = start + name.len();
        } else {
            from = start;
        }
    }
    spans
}

/// The `@name` mentions in a note, lower-cased, each once ("@ann, @Bo.Lee!" → ann, bo.lee).
pub fn mentions(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for span in mention_spans(text) {
        let name = text[span].to_lowercase();
        if !found.contains(&name) {
            found.push(name);
        }
    }
    found
}

#[cfg(test)]
mod mention_tests {
    use super::mentions;

    #[test]
    fn mentions_are_words_after_an_at_sign_not_addresses() {
        assert_eq!(
            mentions("@Ann can you check? cc @bo.lee."),
            vec!["ann", "bo.lee"]
        );
        assert_eq!(mentions("mail ann@example.com and @ann @ANN"), vec!["ann"]);
        assert!(mentions("no one @ all").is_empty());
        assert!(mentions("just text").is_empty());
    }
}
