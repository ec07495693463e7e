//! Outbound messages: composed, then read back with mail-parser as a receiving client would.

use mail_parser::{HeaderValue, MessageParser};
use rapport_mail::Mailbox;
use rapport_mail::compose::{ComposeError, MAX_REFERENCES, OutboundEmail, compose};
use rapport_mail::templates::{AckContext, default_ack_template, render_ack, render_reply};

fn email() -> OutboundEmail {
    OutboundEmail {
        from: Mailbox {
            email: "support@example.com".into(),
            name: Some("Müller & Söhne Support".into()),
        },
        reply_to: Some("support+r10234.abc@example.com".into()),
        to: Mailbox {
            email: "kunde@example.org".into(),
            name: Some("Jürgen Groß".into()),
        },
        subject: "Re: Drucker druckt nicht – 打印机 [R-10234]".into(),
        message_id: "r10234.5.abcdef@example.com".into(),
        in_reply_to: Some("CAF=x+1@mail.example.org".into()),
        references: vec![
            "root@mail.example.org".into(),
            "CAF=x+1@mail.example.org".into(),
        ],
        automatic: false,
        // 2026-11-24T09:00:00.123Z
        date: 1_795_510_800_123,
        text: "Guten Tag,\n\nder Treiber ist installiert. Grüße\n".into(),
        html: "<p>Guten Tag,</p><p>der Treiber ist installiert. Grüße</p>".into(),
    }
}

fn build(email: &OutboundEmail) -> Vec<u8> {
    compose(email).unwrap_or_else(|e| panic!("compose failed: {e}"))
}

fn text_list(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(list) => list.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn compose_a_reply_and_read_every_header_back() {
    let email = email();
    let bytes = build(&email);
    let raw = String::from_utf8(bytes.clone()).unwrap_or_else(|_| panic!("not UTF-8"));
    assert!(
        raw.is_ascii(),
        "headers and bodies must be 7-bit safe:\n{raw}"
    );
    assert!(
        !raw.replace("\r\n", "").contains('\n'),
        "bare LF in:\n{raw}"
    );
    assert!(raw.contains("Message-ID: <r10234.5.abcdef@example.com>\r\n"));
    assert!(
        raw.contains("Date: Tue, 24 Nov 2026 09:00:00 +0000\r\n"),
        "{raw}"
    );
    assert!(raw.contains("multipart/alternative"));
    assert!(!raw.contains("Auto-Submitted"));
    assert!(!raw.contains("X-Auto-Response-Suppress"));
    assert!(!raw.contains("Precedence"));

    let parsed = MessageParser::default()
        .parse(&bytes)
        .unwrap_or_else(|| panic!("unparsable:\n{raw}"));
    let from = parsed.from().and_then(|a| a.first());
    assert_eq!(from.and_then(|a| a.name()), Some("Müller & Söhne Support"));
    assert_eq!(from.and_then(|a| a.address()), Some("support@example.com"));
    let to = parsed.to().and_then(|a| a.first());
    assert_eq!(to.and_then(|a| a.name()), Some("Jürgen Groß"));
    assert_eq!(to.and_then(|a| a.address()), Some("kunde@example.org"));
    assert_eq!(
        parsed
            .reply_to()
            .and_then(|a| a.first())
            .and_then(|a| a.address()),
        Some("support+r10234.abc@example.com")
    );
    assert_eq!(
        parsed.subject(),
        Some("Re: Drucker druckt nicht – 打印机 [R-10234]")
    );
    assert_eq!(parsed.message_id(), Some("r10234.5.abcdef@example.com"));
    assert_eq!(
        text_list(parsed.in_reply_to()),
        vec!["CAF=x+1@mail.example.org"]
    );
    assert_eq!(
        text_list(parsed.references()),
        vec!["root@mail.example.org", "CAF=x+1@mail.example.org"]
    );
    assert_eq!(parsed.date().map(|d| d.to_timestamp()), Some(1_795_510_800));
    assert_eq!(
        parsed.body_text(0).as_deref(),
        Some("Guten Tag,\r\n\r\nder Treiber ist installiert. Grüße\r\n")
    );
    assert_eq!(
        parsed.body_html(0).as_deref(),
        Some("<p>Guten Tag,</p><p>der Treiber ist installiert. Grüße</p>")
    );
    assert_eq!(parsed.text_body_count(), 1);
    assert_eq!(parsed.html_body_count(), 1);
}

#[test]
fn compose_is_deterministic() {
    let email = email();
    let first = build(&email);
    assert_eq!(first, build(&email));
    assert_eq!(first, build(&email.clone()));

    // The boundary follows the content, so another message has another one.
    let mut other = email.clone();
    other.message_id = "r10234.6.abcdef@example.com".into();
    let boundary = |bytes: &[u8]| {
        let raw = String::from_utf8_lossy(bytes).to_string();
        raw.split("boundary=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(str::to_owned)
    };
    let (a, b) = (boundary(&first), boundary(&build(&other)));
    assert!(a.is_some() && a != b, "{a:?} {b:?}");
}

#[test]
fn compose_an_acknowledgement_marks_it_automatic() {
    let mut email = email();
    email.automatic = true;
    email.in_reply_to = None;
    email.references.clear();
    email.reply_to = None;
    let bytes = build(&email);
    let parsed = MessageParser::default()
        .parse(&bytes)
        .unwrap_or_else(|| panic!("unparsable"));
    assert_eq!(
        parsed.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-replied")
    );
    assert_eq!(
        parsed.header_raw("X-Auto-Response-Suppress").map(str::trim),
        Some("OOF, AutoReply")
    );
    assert!(parsed.header_raw("Precedence").is_none());
    assert!(parsed.header_raw("In-Reply-To").is_none());
    assert!(parsed.header_raw("References").is_none());
    assert!(parsed.reply_to().is_none());
}

#[test]
fn compose_folds_header_injection_attempts() {
    let mut email = email();
    email.subject = "Hello\r\nBcc: victim@example.net\r\n\r\nbody".into();
    email.to.name = Some("Eve\r\nX-Evil: 1".into());
    email.from.name = Some("\n".into());
    let bytes = build(&email);
    let raw = String::from_utf8_lossy(&bytes).to_string();
    let headers = raw.split("\r\n\r\n").next().unwrap_or_default();
    assert!(!headers.contains("\r\nBcc:"), "{headers}");
    assert!(!headers.contains("\r\nX-Evil:"), "{headers}");
    let parsed = MessageParser::default()
        .parse(&bytes)
        .unwrap_or_else(|| panic!("unparsable"));
    assert_eq!(parsed.subject(), Some("Hello Bcc: victim@example.net body"));
    assert_eq!(
        parsed.to().and_then(|a| a.first()).and_then(|a| a.name()),
        Some("Eve X-Evil: 1")
    );
    assert_eq!(
        parsed.from().and_then(|a| a.first()).and_then(|a| a.name()),
        None
    );
    assert!(parsed.header_raw("X-Evil").is_none());
    assert!(parsed.header_raw("Bcc").is_none());
}

#[test]
fn compose_caps_references_keeping_the_root() {
    let mut email = email();
    email.references = (0..50).map(|i| format!("m{i}@example.org")).collect();
    // Duplicates and ids that cannot be written safely are dropped, not fatal.
    email.references.insert(3, "m1@example.org".into());
    email.references.insert(5, "bad id>@x".into());
    email.in_reply_to = Some("white space@x".into());
    let bytes = build(&email);
    let parsed = MessageParser::default()
        .parse(&bytes)
        .unwrap_or_else(|| panic!("unparsable"));
    let refs = text_list(parsed.references());
    assert_eq!(refs.len(), MAX_REFERENCES);
    assert_eq!(refs[0], "m0@example.org");
    assert_eq!(refs[1], "m31@example.org");
    assert_eq!(refs[MAX_REFERENCES - 1], "m49@example.org");
    assert!(parsed.header_raw("In-Reply-To").is_none());
    let raw = String::from_utf8_lossy(&bytes).to_string();
    assert!(
        raw.lines().all(|l| l.len() <= 998),
        "an over-long header line"
    );
}

#[test]
fn compose_without_html_is_plain_text() {
    let mut email = email();
    email.html.clear();
    let bytes = build(&email);
    let raw = String::from_utf8_lossy(&bytes).to_string();
    assert!(!raw.contains("multipart"));
    let parsed = MessageParser::default()
        .parse(&bytes)
        .unwrap_or_else(|| panic!("unparsable"));
    assert_eq!(
        parsed.body_text(0).as_deref(),
        Some("Guten Tag,\r\n\r\nder Treiber ist installiert. Grüße\r\n")
    );
}

type Change = fn(&mut OutboundEmail);

#[test]
fn compose_names_the_bad_field() {
    let cases: [(Change, &str); 10] = [
        (|e| e.from.email = "not an address".into(), "from"),
        (|e| e.to.email = "kunde@".into(), "to"),
        (|e| e.to.email = "a@b.c\r\nBcc: x@y.z".into(), "to"),
        (|e| e.reply_to = Some("nope".into()), "reply_to"),
        (|e| e.message_id = "<id@example.com>".into(), "message_id"),
        (|e| e.message_id = "no-at-sign".into(), "message_id"),
        (|e| e.message_id = "a b@example.com".into(), "message_id"),
        (|e| e.message_id = String::new(), "message_id"),
        (|e| e.date = -1, "date"),
        (|e| e.date = i64::MAX, "date"),
    ];
    for (change, field) in cases {
        let mut email = email();
        change(&mut email);
        let error = compose(&email)
            .err()
            .unwrap_or_else(|| panic!("accepted a bad {field}"));
        assert_eq!(error.field(), field, "{error}");
        assert!(error.to_string().starts_with(field), "{error}");
    }
    assert!(matches!(
        compose(&OutboundEmail {
            date: -5,
            ..email()
        }),
        Err(ComposeError::Date(-5))
    ));
}

#[test]
fn compose_a_rendered_acknowledgement_end_to_end() {
    let mut ctx = AckContext::sample("de");
    ctx.summary = "<script>alert('x')</script> Der Drucker druckt nicht.".into();
    let rendered = render_ack(&default_ack_template("de"), &ctx).unwrap_or_else(|e| panic!("{e}"));
    let mut email = email();
    email.automatic = true;
    email.subject = rendered.subject.clone();
    email.text = rendered.text.clone();
    email.html = rendered.html.clone();
    let bytes = build(&email);
    let parsed = MessageParser::default()
        .parse(&bytes)
        .unwrap_or_else(|| panic!("unparsable"));
    assert_eq!(parsed.subject(), Some(rendered.subject.as_str()));
    let text = parsed
        .body_text(0)
        .unwrap_or_default()
        .replace("\r\n", "\n");
    assert_eq!(text, rendered.text);
    let html = parsed
        .body_html(0)
        .unwrap_or_default()
        .replace("\r\n", "\n");
    assert!(!html.contains("<script>"));
    assert!(html.contains("&lt;script&gt;"));

    let reply = render_reply("Danke, erledigt.", "Ben", "Tel. +49 30 1234567", "R-10234");
    email.automatic = false;
    email.text = reply.text.clone();
    email.html = reply.html;
    let parsed_bytes = build(&email);
    let parsed = MessageParser::default()
        .parse(&parsed_bytes)
        .unwrap_or_else(|| panic!("unparsable"));
    assert_eq!(
        parsed
            .body_text(0)
            .unwrap_or_default()
            .replace("\r\n", "\n"),
        reply.text
    );
}
