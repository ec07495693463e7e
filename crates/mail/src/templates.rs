//! What the customer reads: the acknowledgement with its read-back (principle 1), replies
//! with the footer that always shows how to reach a person (principle 12), and the dates in
//! them.
//!
//! Templates are plain text with minijinja placeholders, edited by admins. The HTML version
//! of every message is derived from the rendered text by escaping it, so neither customer
//! text (summary, subject, name) nor a template can put markup into a message.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use minijinja::{Environment, UndefinedBehavior};
use rapport_core::Invalid;
use rapport_core::subject::strip_reply_prefixes;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub subject: String,
    /// Plain text with minijinja placeholders.
    pub body: String,
}

/// What an acknowledgement template can use.
#[derive(Debug, Clone, Serialize)]
pub struct AckContext {
    /// The ticket reference, e.g. `R-10234`.
    pub reference: String,
    pub subject: String,
    pub customer_name: String,
    pub summary: String,
    /// (label, value), e.g. ("Order number", "A-778812").
    pub references: Vec<(String, String)>,
    /// Already formatted, e.g. by [`format_expected`].
    pub expected_answer: String,
    /// e.g. "Call us on +49 30 1234567, Mon–Fri 9:00–17:00".
    pub human_contact: String,
    pub inbox_name: String,
    pub signature: String,
}

impl AckContext {
    /// Example values, used to check templates and for previews.
    pub fn sample(language: &str) -> Self {
        let german = is_german(language);
        Self {
            reference: "R-10234".into(),
            subject: if german {
                "Lieferung fehlt".into()
            } else {
                "Delivery missing".into()
            },
            customer_name: "Alex Example".into(),
            summary: if german {
                "Meine Bestellung ist nicht angekommen.".into()
            } else {
                "My order has not arrived.".into()
            },
            references: vec![(
                rapport_core::readback::ReferenceKind::Order
                    .label(language)
                    .to_owned(),
                "A-778812".into(),
            )],
            expected_answer: format_expected(1_795_510_800_000, "Europe/Berlin", language),
            human_contact: if german {
                "Rufen Sie uns an: +49 30 1234567, Mo–Fr 9–17 Uhr".into()
            } else {
                "Call us on +49 30 1234567, Mon–Fri 9:00–17:00".into()
            },
            inbox_name: "Example Support".into(),
            signature: "Example Support".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

const MAX_SUBJECT_TEMPLATE_CHARS: usize = 1_000;
const MAX_BODY_TEMPLATE_CHARS: usize = 50_000;

const ACK_EN_SUBJECT: &str = "[{{ reference }}] We received your request: {{ subject }}";
const ACK_EN_BODY: &str = "\
{% if customer_name %}Hello {{ customer_name }},{% else %}Hello,{% endif %}


thank you for writing to {{ inbox_name }}. Your request has the reference {{ reference }}.

Here is what we understood:

Subject: {{ subject }}
{% if summary %}
Your request: {{ summary }}
{% endif %}
{% if references %}
You mentioned:
{% for label, value in references %}
- {{ label }}: {{ value }}
{% endfor %}
{% endif %}

{% if expected_answer %}
You can expect our first answer by {{ expected_answer }}.

{% endif %}
If we got anything wrong or something is missing, just reply to this email. Your reply goes \
straight to the people handling your request.

Would you rather speak to a person? {{ human_contact }}

{{ signature }}
";

const ACK_DE_SUBJECT: &str = "[{{ reference }}] Wir haben Ihre Anfrage erhalten: {{ subject }}";
const ACK_DE_BODY: &str = "\
{% if customer_name %}Guten Tag {{ customer_name }},{% else %}Guten Tag,{% endif %}


vielen Dank für Ihre Nachricht an {{ inbox_name }}. Ihre Anfrage hat die Referenznummer \
{{ reference }}.

So haben wir Ihr Anliegen verstanden:

Betreff: {{ subject }}
{% if summary %}
Ihr Anliegen: {{ summary }}
{% endif %}
{% if references %}
Ihre Angaben:
{% for label, value in references %}
- {{ label }}: {{ value }}
{% endfor %}
{% endif %}

{% if expected_answer %}
Mit einer ersten Antwort können Sie bis {{ expected_answer }} rechnen.

{% endif %}
Falls wir etwas falsch verstanden haben oder etwas fehlt, antworten Sie einfach auf diese \
E-Mail. Ihre Antwort geht direkt an die Menschen, die Ihre Anfrage bearbeiten.

Sie möchten lieber mit jemandem persönlich sprechen? {{ human_contact }}

{{ signature }}
";

/// The acknowledgement for a language tag (`de`, `de-AT`, `en-GB`, …); languages without
/// their own template get English.
pub fn default_ack_template(language: &str) -> Template {
    let (subject, body) = if is_german(language) {
        (ACK_DE_SUBJECT, ACK_DE_BODY)
    } else {
        (ACK_EN_SUBJECT, ACK_EN_BODY)
    };
    Template {
        subject: subject.to_owned(),
        body: body.to_owned(),
    }
}

/// Whether an admin's template can be used: it parses, renders with sample data, names the
/// reference and shows how to reach a person (a template without them would send customers
/// into a dead end, which principle 12 rules out).
pub fn validate_template(t: &Template) -> Result<(), Invalid> {
    if t.subject.trim().is_empty() {
        return Err(Invalid::new("template.subject", "must not be empty"));
    }
    if t.subject.chars().count() > MAX_SUBJECT_TEMPLATE_CHARS {
        return Err(Invalid::new(
            "template.subject",
            format!("must be at most {MAX_SUBJECT_TEMPLATE_CHARS} characters"),
        ));
    }
    if t.body.trim().is_empty() {
        return Err(Invalid::new("template.body", "must not be empty"));
    }
    if t.body.chars().count() > MAX_BODY_TEMPLATE_CHARS {
        return Err(Invalid::new(
            "template.body",
            format!("must be at most {MAX_BODY_TEMPLATE_CHARS} characters"),
        ));
    }
    let sample = AckContext::sample("en");
    let rendered = render_ack(t, &sample)?;
    if rendered.subject.is_empty() {
        return Err(Invalid::new(
            "template.subject",
            "renders to an empty subject",
        ));
    }
    for (field, out) in [
        ("template.subject", &rendered.subject),
        ("template.body", &rendered.text),
    ] {
        if out.contains("{{") || out.contains("{%") {
            return Err(Invalid::new(
                field,
                "contains '{{' or '{%' that is not a placeholder (check for a raw block or a \
                 stray brace)",
            ));
        }
    }
    if !rendered.text.contains(&sample.human_contact) {
        return Err(Invalid::new(
            "template.body",
            "must show how to reach a person: include {{ human_contact }}",
        ));
    }
    if !rendered.subject.contains(&sample.reference) && !rendered.text.contains(&sample.reference) {
        return Err(Invalid::new(
            "template.body",
            "must name the ticket: include {{ reference }} in the subject or the body",
        ));
    }
    Ok(())
}

/// The acknowledgement for one request. The subject is folded to one line.
pub fn render_ack(template: &Template, ctx: &AckContext) -> Result<Rendered, Invalid> {
    let env = environment();
    let subject = env
        .render_str(&template.subject, ctx)
        .map_err(|e| template_error("template.subject", &e))?;
    let body = env
        .render_str(&template.body, ctx)
        .map_err(|e| template_error("template.body", &e))?;
    let text = tidy(&body);
    Ok(Rendered {
        subject: one_line(&subject),
        html: text_to_html(&text),
        text,
    })
}

/// An agent's reply: the body, the signature, then a footer with the reference and how to
/// reach a person. The footer is language-neutral (the reference in brackets, then
/// `human_contact`, which is configured in the inbox's language). `subject` is left empty: see
/// [`reply_subject`].
pub fn render_reply(body: &str, signature: &str, human_contact: &str, reference: &str) -> Rendered {
    let mut text = tidy(body).trim_end().to_owned();
    text.push_str("\n\n-- \n");
    // Signatures are often stored with their own delimiter.
    let signature = signature.trim();
    let signature = signature
        .strip_prefix("--")
        .map_or(signature, str::trim_start);
    if !signature.is_empty() {
        text.push_str(tidy(signature).trim_end());
        text.push_str("\n\n");
    }
    let contact = one_line(human_contact);
    let footer = match (reference.trim(), contact.as_str()) {
        ("", "") => String::new(),
        ("", contact) => contact.to_owned(),
        (reference, "") => format!("[{reference}]"),
        (reference, contact) => format!("[{reference}] · {contact}"),
    };
    if !footer.is_empty() {
        text.push_str(&footer);
        text.push('\n');
    }
    Rendered {
        subject: String::new(),
        html: text_to_html(&text),
        text,
    }
}

/// "Re: <subject> [R-10234]": one "Re:" however many reply prefixes (in any of the common
/// languages) the subject had, and the reference once.
pub fn reply_subject(ticket_subject: &str, reference: &str) -> String {
    let reference = reference.trim();
    let mut subject = one_line(strip_reply_prefixes(ticket_subject).0);
    if !reference.is_empty() {
        let tag = format!("[{reference}]");
        subject = remove_ignoring_ascii_case(&subject, &tag);
        subject = one_line(strip_reply_prefixes(&subject).0);
    }
    match (subject.is_empty(), reference.is_empty()) {
        (true, true) => "Re:".to_owned(),
        (true, false) => format!("Re: [{reference}]"),
        (false, true) => format!("Re: {subject}"),
        (false, false) => format!("Re: {subject} [{reference}]"),
    }
}

/// When the first answer is due, as a customer reads it: "Tuesday, 25 November 2026, 14:00
/// (Europe/Berlin)", or in German "Dienstag, 25. November 2026, 14:00 Uhr (Europe/Berlin)".
/// An unknown time zone is shown as UTC rather than failing the acknowledgement.
pub fn format_expected(at_millis: i64, time_zone: &str, language: &str) -> String {
    let at = Timestamp::from_millisecond(at_millis).unwrap_or(if at_millis < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    let (tz, zone_name) = match TimeZone::get(time_zone.trim()) {
        Ok(tz) if !time_zone.trim().is_empty() => (tz, time_zone.trim()),
        _ => (TimeZone::UTC, "UTC"),
    };
    let local = at.to_zoned(tz);
    let weekday = usize::from(local.weekday().to_monday_zero_offset().unsigned_abs());
    let month = usize::from(local.month().unsigned_abs().saturating_sub(1));
    if is_german(language) {
        format!(
            "{}, {}. {} {}, {:02}:{:02} Uhr ({zone_name})",
            DE_WEEKDAYS[weekday % 7],
            local.day(),
            DE_MONTHS[month % 12],
            local.year(),
            local.hour(),
            local.minute(),
        )
    } else {
        format!(
            "{}, {} {} {}, {:02}:{:02} ({zone_name})",
            EN_WEEKDAYS[weekday % 7],
            local.day(),
            EN_MONTHS[month % 12],
            local.year(),
            local.hour(),
            local.minute(),
        )
    }
}

const EN_WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const DE_WEEKDAYS: [&str; 7] = [
    "Montag",
    "Dienstag",
    "Mittwoch",
    "Donnerstag",
    "Freitag",
    "Samstag",
    "Sonntag",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DE_MONTHS: [&str; 12] = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
];

/// How to reach a person when an inbox has not said (no phone line configured): replying
/// reaches a human, so an automatic message is never a dead end.
pub fn default_human_contact(language: &str) -> &'static str {
    if is_german(language) {
        "Antworten Sie einfach auf diese E-Mail: Jede Antwort liest ein Mensch."
    } else {
        "Just reply to this email: a person reads every reply."
    }
}

/// A chat transcript: the conversation's messages (written when it was asked for) under a
/// line saying what this is, with the reply footer (reference, how to reach a person).
pub fn render_transcript(
    messages: &str,
    signature: &str,
    human_contact: &str,
    reference: &str,
    language: &str,
) -> Rendered {
    let (subject, intro) = if is_german(language) {
        (
            "Ihr Chat-Verlauf",
            "Hier ist der Verlauf Ihres Chats mit uns. Antworten Sie auf diese E-Mail, um das Gespräch fortzusetzen.",
        )
    } else {
        (
            "Your chat transcript",
            "Here is the transcript of your chat with us. Reply to this email to continue the conversation.",
        )
    };
    let mut r = render_reply(
        &format!("{intro}\n\n{messages}"),
        signature,
        human_contact,
        reference,
    );
    r.subject = format!("{subject} [{reference}]");
    r
}

fn is_german(language: &str) -> bool {
    let primary = language.trim().split(['-', '_']).next().unwrap_or("");
    primary.eq_ignore_ascii_case("de")
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // Block tags on their own lines leave no blank lines behind, so templates can be laid out
    // readably.
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    // A misspelt placeholder fails validation instead of silently rendering as nothing.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Admins write these templates; a runaway loop must end, not stall the outbox worker.
    env.set_fuel(Some(TEMPLATE_FUEL));
    env
}

/// Instructions a template may run: far above any real acknowledgement (a few hundred).
const TEMPLATE_FUEL: u64 = 50_000;

fn template_error(field: &str, error: &minijinja::Error) -> Invalid {
    let mut problem = error.kind().to_string();
    if let Some(line) = error.line() {
        problem.push_str(&format!(" on line {line}"));
    }
    if let Some(detail) = error.detail() {
        problem.push_str(": ");
        problem.push_str(detail);
    }
    Invalid::new(field, problem)
}

/// Trailing spaces cut, line endings made `\n`, at most one blank line in a row, no blank
/// lines at the start, one newline at the end.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_run > 0 { "\n\n" } else { "\n" });
        }
        blank_run = 0;
        out.push_str(line);
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// Paragraphs (separated by blank lines) become `<p>`, line breaks `<br>`; everything is
/// escaped.
fn text_to_html(text: &str) -> String {
    let mut html =
        String::from("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n<body>\n");
    for paragraph in text.split("\n\n") {
        let lines: Vec<String> = paragraph
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(escape_html)
            .collect();
        if lines.is_empty() {
            continue;
        }
        html.push_str("<p>");
        html.push_str(&lines.join("<br>\n"));
        html.push_str("</p>\n");
    }
    html.push_str("</body></html>\n");
    html
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn remove_ignoring_ascii_case(text: &str, needle: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    // ASCII lower-casing keeps byte offsets, so positions in `lower` are positions in `text`.
    while let Some(found) = lower[from..].find(&needle) {
        out.push_str(&text[from..from + found]);
        from += found + needle.len();
    }
    out.push_str(&text[from..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(language: &str) -> AckContext {
        let mut ctx = AckContext::sample(language);
        ctx.customer_name = "Jürgen Müller".into();
        ctx.references = vec![
            (
                rapport_core::readback::ReferenceKind::Order
                    .label(language)
                    .into(),
                "A-778812".into(),
            ),
            (
                rapport_core::readback::ReferenceKind::Invoice
                    .label(language)
                    .into(),
                "INV-2024-0042".into(),
            ),
        ];
        ctx
    }

    #[test]
    fn english_ack_has_every_part() {
        let ctx = context("en");
        let r = render_ack(&default_ack_template("en"), &ctx).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            r.subject,
            "[R-10234] We received your request: Delivery missing"
        );
        for part in [
            "Hello Jürgen Müller,",
            "Your request has the reference R-10234.",
            "Subject: Delivery missing",
            "Your request: My order has not arrived.",
            "- Order number: A-778812\n- Invoice number: INV-2024-0042\n",
            "by Tuesday, 24 November 2026, 10:00 (Europe/Berlin).",
            "just reply to this email",
            "Call us on +49 30 1234567, Mon–Fri 9:00–17:00",
        ] {
            assert!(r.text.contains(part), "missing {part:?} in:\n{}", r.text);
        }
        assert!(r.text.ends_with("Example Support\n"), "{}", r.text);
        assert!(!r.text.contains("{{") && !r.text.contains("{%"));
        assert!(!r.text.contains("\n\n\n"), "{}", r.text);
        assert!(r.html.contains("<p>Hello Jürgen Müller,</p>"), "{}", r.html);
    }

    #[test]
    fn german_ack_has_every_part() {
        let ctx = context("de");
        let r = render_ack(&default_ack_template("de-DE"), &ctx).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            r.subject,
            "[R-10234] Wir haben Ihre Anfrage erhalten: Lieferung fehlt"
        );
        for part in [
            "Guten Tag Jürgen Müller,",
            "Ihre Anfrage hat die Referenznummer R-10234.",
            "Betreff: Lieferung fehlt",
            "Ihr Anliegen: Meine Bestellung ist nicht angekommen.",
            "- Bestellnummer: A-778812\n- Rechnungsnummer: INV-2024-0042\n",
            "bis Dienstag, 24. November 2026, 10:00 Uhr (Europe/Berlin) rechnen.",
            "antworten Sie einfach auf diese E-Mail",
            "Rufen Sie uns an: +49 30 1234567, Mo–Fr 9–17 Uhr",
        ] {
            assert!(r.text.contains(part), "missing {part:?} in:\n{}", r.text);
        }
        assert!(!r.text.contains("{{"));
    }

    #[test]
    fn ack_without_optional_parts() {
        let mut ctx = context("en");
        ctx.customer_name.clear();
        ctx.references.clear();
        ctx.summary.clear();
        ctx.expected_answer.clear();
        let r = render_ack(&default_ack_template("fr"), &ctx).unwrap_or_else(|e| panic!("{e}"));
        assert!(r.text.starts_with("Hello,\n\nthank you"), "{}", r.text);
        assert!(!r.text.contains("You mentioned"));
        assert!(!r.text.contains("Your request:"));
        assert!(!r.text.contains("expect our first answer"));
        assert!(r.text.contains("Call us on"));
    }

    #[test]
    fn customer_text_is_escaped_in_html() {
        let mut ctx = context("en");
        ctx.summary = "<script>alert(1)</script> & \"quotes\"".into();
        ctx.customer_name = "<b>Eve</b>".into();
        ctx.subject = "Hi\r\nBcc: evil@example.com".into();
        let r = render_ack(&default_ack_template("en"), &ctx).unwrap_or_else(|e| panic!("{e}"));
        assert!(!r.html.contains("<script>") && !r.html.contains("<b>"));
        assert!(
            r.html
                .contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;")
        );
        assert!(r.text.contains("<script>alert(1)</script>"));
        assert!(!r.subject.contains('\n') && !r.subject.contains('\r'));
        // Customer text is data, never template code.
        ctx.summary = "{{ reference }} {% if true %}x{% endif %}".into();
        let r = render_ack(&default_ack_template("en"), &ctx).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            r.text
                .contains("Your request: {{ reference }} {% if true %}x{% endif %}")
        );
    }

    #[test]
    fn default_templates_validate() {
        for language in ["en", "de", "es"] {
            assert_eq!(validate_template(&default_ack_template(language)), Ok(()));
        }
    }

    #[test]
    fn validation_names_field_and_line() {
        let mut t = default_ack_template("en");
        t.body =
            "Hello,\n\nyour reference is {{ reference }} {% endfor %}\n{{ human_contact }}".into();
        let e = validate_template(&t)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(e.field, "template.body");
        assert!(
            e.problem.starts_with("syntax error on line 3"),
            "{}",
            e.problem
        );

        let mut t = default_ack_template("en");
        t.subject = "{% if subject %}{{ subject }}".into();
        let e = validate_template(&t)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(e.field, "template.subject");
        assert!(e.problem.contains("syntax error"), "{}", e.problem);

        let mut t = default_ack_template("en");
        t.body = "{{ reference }} {{ human_contact }} {{ summry }}".into();
        let e = validate_template(&t)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(e.field, "template.body");
        assert!(e.problem.contains("undefined"), "{}", e.problem);

        let mut t = default_ack_template("en");
        t.body = "We got it: {{ reference }}.".into();
        let e = validate_template(&t)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert!(e.problem.contains("human_contact"), "{}", e.problem);

        let mut t = default_ack_template("en");
        t.body = "{% raw %}{{ reference }}{% endraw %} {{ human_contact }}".into();
        let e = validate_template(&t)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert!(e.problem.contains("not a placeholder"), "{}", e.problem);

        // A template that would run forever is refused instead of stalling the outbox.
        let mut t = default_ack_template("en");
        t.body = "{{ reference }} {{ human_contact }}{% for a in range(1000) %}{% for b in range(1000) %}x{% endfor %}{% endfor %}".into();
        let e = validate_template(&t)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(e.field, "template.body");
        assert!(e.problem.contains("fuel"), "{}", e.problem);

        let t = Template {
            subject: " ".into(),
            body: "x".into(),
        };
        assert_eq!(
            validate_template(&t),
            Err(Invalid::new("template.subject", "must not be empty"))
        );
    }

    #[test]
    fn reply_has_signature_and_footer() {
        let r = render_reply(
            "Hello Anna,\r\n\r\nthe refund is on its way.<br>\n",
            "-- \nBen, Example Support",
            "Call us on +49 30 1234567",
            "R-10234",
        );
        assert_eq!(r.subject, "");
        assert_eq!(
            r.text,
            "Hello Anna,\n\nthe refund is on its way.<br>\n\n-- \nBen, Example Support\n\n\
             [R-10234] · Call us on +49 30 1234567\n"
        );
        assert!(
            r.html.contains("the refund is on its way.&lt;br&gt;</p>"),
            "{}",
            r.html
        );
        assert!(
            r.html
                .contains("<p>-- <br>\nBen, Example Support</p>\n<p>[R-10234]"),
            "{}",
            r.html
        );
    }

    #[test]
    fn reply_subjects() {
        let cases = [
            ("Printer broken", "Re: Printer broken [R-10234]"),
            ("Re: Printer broken", "Re: Printer broken [R-10234]"),
            ("RE: AW: Printer broken", "Re: Printer broken [R-10234]"),
            (
                "Re: Printer broken [R-10234]",
                "Re: Printer broken [R-10234]",
            ),
            (
                "[r-10234] Re: Printer broken",
                "Re: Printer broken [R-10234]",
            ),
            ("Re[2]: Printer\r\n broken", "Re: Printer broken [R-10234]"),
            ("", "Re: [R-10234]"),
            ("Fwd: Rechnung", "Re: Rechnung [R-10234]"),
            ("Renewal: contract", "Re: Renewal: contract [R-10234]"),
        ];
        for (subject, expected) in cases {
            assert_eq!(reply_subject(subject, "R-10234"), expected, "{subject}");
        }
    }

    #[test]
    fn expected_answer_dates() {
        // 2026-11-24T09:00:00Z
        let at = 1_795_510_800_000;
        assert_eq!(
            format_expected(at, "Europe/Berlin", "en"),
            "Tuesday, 24 November 2026, 10:00 (Europe/Berlin)"
        );
        assert_eq!(
            format_expected(at, "Europe/Berlin", "de"),
            "Dienstag, 24. November 2026, 10:00 Uhr (Europe/Berlin)"
        );
        assert_eq!(
            format_expected(at, "Not/AZone", "en"),
            "Tuesday, 24 November 2026, 09:00 (UTC)"
        );
        assert_eq!(
            format_expected(at, "America/New_York", "en-US"),
            "Tuesday, 24 November 2026, 04:00 (America/New_York)"
        );
        // Out of range is clamped, never a panic.
        assert!(!format_expected(i64::MAX, "UTC", "de").is_empty());
        assert!(!format_expected(i64::MIN, "", "en").is_empty());
    }
}
