//! Every `.eml` in `tests/fixtures` parsed: general invariants for all of them (so a new
//! fixture is covered the moment it is added), specific expectations for the known ones, and
//! random mutations of them that must never break the parser.

use std::path::PathBuf;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rapport_mail::{AutomaticKind, ParsedMail, parse};

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(fixture_dir()).expect("fixtures directory") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "eml") {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((name, std::fs::read(&path).expect("fixture readable")));
        }
    }
    out.sort();
    out
}

fn fixture(name: &str) -> ParsedMail {
    let raw = std::fs::read(fixture_dir().join(name)).expect("fixture exists");
    parse(&raw)
}

/// What must hold for any message at all.
fn assert_invariants(name: &str, p: &ParsedMail) {
    if let Some(failure) = p
        .problems
        .iter()
        .find(|m| m.starts_with(rapport_mail::parse::INTERNAL_FAILURE))
    {
        // mail-parser's own `debug_assert!(false, …)` state checks fire in debug builds only;
        // release builds carry on (the fuzz target runs those). Anything else is a real panic.
        let debug_check = [
            "Invalid part ID",
            "Failed to restore parent message",
            "This should not have happened",
        ]
        .iter()
        .any(|m| failure.contains(m));
        assert!(cfg!(debug_assertions) && debug_check, "{name}: {failure}");
    }
    assert!(
        !p.subject.contains(['\r', '\n', '\0']),
        "{name}: subject not one line"
    );
    assert!(!p.text.contains(['\0', '\r']), "{name}: text has NUL or CR");
    if !p.text.trim().is_empty() {
        assert!(
            !p.new_text.trim().is_empty(),
            "{name}: split lost all new text"
        );
    }
    for mailbox in p.from.iter().chain(&p.reply_to).chain(&p.to).chain(&p.cc) {
        assert_eq!(mailbox.email, mailbox.email.to_lowercase(), "{name}");
        assert!(!mailbox.email.contains(char::is_whitespace), "{name}");
        assert!(!mailbox.email.contains(['<', '>']), "{name}");
    }
    for id in p
        .message_id
        .iter()
        .chain(&p.in_reply_to)
        .chain(&p.references)
    {
        assert!(
            !id.is_empty() && !id.contains(['<', '>', ' ']),
            "{name}: id {id:?}"
        );
    }
    if let Some(html) = &p.html {
        for tag in tags(html) {
            let tag = tag.to_lowercase();
            let name = tag.trim_start_matches('/');
            for banned in [
                "script", "style", "iframe", "object", "embed", "form", "input", "meta", "link",
                "base",
            ] {
                assert!(
                    !(name.starts_with(banned)
                        && name[banned.len()..].starts_with([' ', '>', '/'])
                        || name == banned),
                    "{name}: html keeps <{tag}>"
                );
            }
            let event_handler = tag
                .split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
                .any(|word| word.starts_with("on") && word.contains('='));
            assert!(
                !event_handler,
                "{name}: html keeps an event handler in <{tag}>"
            );
            for bad in ["javascript:", " src=\"http", " src=\"//", "url("] {
                assert!(!tag.contains(bad), "{name}: html keeps {bad} in <{tag}>");
            }
        }
    }
    for a in &p.attachments {
        let f = &a.filename;
        assert!(!f.is_empty(), "{name}: empty file name");
        assert!(
            !f.contains(['/', '\\']) && !f.contains(char::is_control),
            "{name}: {f:?}"
        );
        assert!(!f.starts_with('.'), "{name}: {f:?}");
        assert_eq!(a.content_type, a.content_type.to_lowercase(), "{name}");
        assert!(a.content_type.contains('/'), "{name}: {}", a.content_type);
    }
}

/// The markup of sanitised HTML: text is escaped there, so every `<` opens a tag.
fn tags(html: &str) -> Vec<&str> {
    html.split('<')
        .skip(1)
        .map(|rest| rest.split('>').next().unwrap_or(rest))
        .collect()
}

fn names(p: &ParsedMail) -> Vec<&str> {
    p.attachments.iter().map(|a| a.filename.as_str()).collect()
}

#[test]
fn every_fixture_parses_and_keeps_the_invariants() {
    let all = fixtures();
    assert!(all.len() >= 25, "only {} fixtures", all.len());
    for (name, raw) in &all {
        let parsed = parse(raw);
        assert_invariants(name, &parsed);
        assert_eq!(parsed, parse(raw), "{name}: parsing is not deterministic");
    }
}

#[test]
fn plain_ascii() {
    let p = fixture("01-plain-ascii.eml");
    assert_eq!(
        p.message_id.as_deref(),
        Some("CAB1234.plain@mail.customer.example")
    );
    assert_eq!(p.subject, "Printer on floor 3 is not working");
    let from = p.from.as_ref().expect("from");
    assert_eq!(from.email, "ann.smith@customer.example");
    assert_eq!(from.name.as_deref(), Some("Ann Smith"));
    assert_eq!(
        p.reply_to.as_ref().map(|m| m.email.as_str()),
        Some("ann.smith+replies@customer.example")
    );
    assert_eq!(p.to.len(), 1);
    let cc: Vec<_> = p.cc.iter().map(|m| m.email.as_str()).collect();
    assert_eq!(cc, ["bob@customer.example", "carol@customer.example"]);
    assert_eq!(p.cc[1].name.as_deref(), Some("Carol Jones"));
    // 2024-03-05T09:15:00Z
    assert_eq!(p.date, Some(1_709_630_100_000));
    assert!(p.text.contains("prints blank pages"));
    assert!(p.new_text.ends_with("Thanks, Ann"));
    assert!(p.quoted.is_empty() && p.signature.is_empty());
    assert_eq!(p.html, None);
    assert!(p.attachments.is_empty());
    assert_eq!(p.automatic, None);
    assert_eq!(p.bounce, None);
    assert!(p.problems.is_empty(), "{:?}", p.problems);
}

#[test]
fn charsets_decode() {
    let cases = [
        (
            "02-utf8-8bit.eml",
            "Grüße aus München",
            "Jürgen Müller",
            "„Störung“ – bitte prüfen. ✓",
        ),
        (
            "03-qp-latin1.eml",
            "Facture n° 4711 à vérifier",
            "François Lefèvre",
            "crème brûlée pour la réunion.\nÇa ne",
        ),
        (
            "04-koi8r-base64.eml",
            "Не работает принтер",
            "Иван Петров",
            "У меня не работает принтер",
        ),
        (
            "05-shift-jis.eml",
            "プリンターの故障",
            "山田太郎",
            "プリンターが動きません。",
        ),
        (
            "06-iso-2022-jp.eml",
            "請求書について",
            "鈴木花子",
            "請求書を添付します。",
        ),
        ("07-gb2312.eml", "订单未送达", "李伟", "我的订单还没有到。"),
    ];
    for (file, subject, name, body) in cases {
        let p = fixture(file);
        assert_eq!(p.subject, subject, "{file}");
        assert_eq!(
            p.from.as_ref().and_then(|f| f.name.as_deref()),
            Some(name),
            "{file}"
        );
        assert!(p.text.contains(body), "{file}: {:?}", p.text);
        assert!(
            !p.text.contains('\u{FFFD}'),
            "{file}: replacement characters"
        );
        assert!(p.problems.is_empty(), "{file}: {:?}", p.problems);
    }
    assert_eq!(
        fixture("02-utf8-8bit.eml").from.map(|f| f.email),
        Some("juergen.mueller@example.de".to_string())
    );
}

#[test]
fn encoded_words_mixed_charsets_and_folded() {
    let p = fixture("08-rfc2047-mixed.eml");
    assert_eq!(p.subject, "Café crème ✓ plain words “quoted” €");
    let from = p.from.expect("from");
    assert_eq!(
        (from.email.as_str(), from.name.as_deref()),
        ("asse@example.no", Some("Åsse Løver"))
    );
    let to: Vec<_> =
        p.to.iter()
            .map(|m| (m.email.as_str(), m.name.as_deref()))
            .collect();
    assert_eq!(
        to,
        [
            ("andre@example.com", Some("André")),
            ("olga@example.ru", Some("Ольга"))
        ]
    );
}

#[test]
fn multipart_alternative_prefers_plain_text_and_keeps_sanitised_html() {
    let p = fixture("09-multipart-alternative.eml");
    assert_eq!(
        p.text,
        "Hi,\n\nthe password reset link in your mail says it expired after 5 minutes. Could you make it last longer?\n\nBob\n"
    );
    let html = p.html.expect("html");
    assert!(html.contains("<b>5 minutes</b>"));
    assert!(html.contains(r#"href="https://northwind.example/reset""#));
    assert!(html.contains(r#"rel="noopener noreferrer nofollow""#));
    assert!(p.attachments.is_empty());
}

#[test]
fn hostile_html_only() {
    let p = fixture("10-html-only-hostile.eml");
    let html = p.html.expect("html");
    assert!(html.contains(r#"data-remote-src="https://tracker.evil.example/open.gif?id=42""#));
    assert!(html.contains(r#"data-remote-src="http://evil.example/logo.png""#));
    assert!(html.contains(r#"href="https://example.com/ok""#));
    assert!(!html.contains("evil.example/frame") && !html.contains("phish"));
    assert!(!html.contains("Invoice\n"), "title text leaked: {html}");
    // Text comes from the HTML when there is no text part.
    assert!(
        p.text
            .starts_with("Dear support,\n\nPlease review the attached invoice")
    );
    assert!(p.text.contains("Total: 1 234 €"));
    assert!(!p.text.contains("document.") && !p.text.contains("alert"));
}

#[test]
fn related_inline_image() {
    let p = fixture("11-related-inline-cid.eml");
    assert!(
        p.html
            .as_deref()
            .is_some_and(|h| h.contains(r#"src="cid:screenshot.123@customer.example""#))
    );
    assert_eq!(p.text, "This error appears when I log in:");
    let [a] = p.attachments.as_slice() else {
        panic!("one attachment expected: {:?}", names(&p));
    };
    assert_eq!(a.filename, "screenshot.png");
    assert_eq!(
        a.content_id.as_deref(),
        Some("screenshot.123@customer.example")
    );
    assert!(a.inline);
    assert_eq!(a.sniffed_type, Some("image/png"));
    assert!(a.data.starts_with(b"\x89PNG"));
}

#[test]
fn attachments_names_types_and_sniffing() {
    let p = fixture("12-attachments.eml");
    assert_eq!(p.text.trim(), "Please find the documents attached.");
    assert_eq!(
        names(&p),
        [
            "contract.pdf",
            "photo.png",
            "invoice.pdf",
            "Quartalsbericht über die Wartungsverträge für alle Standorte in Österreich und der Schweiz 2024.pdf",
            "passwd",
            "evil.bat",
            "Angebot für Kunde.docx",
            "attachment-8.bin",
        ]
    );
    let by_name = |n: &str| p.attachments.iter().find(|a| a.filename == n).expect(n);

    let contract = by_name("contract.pdf");
    assert_eq!(contract.content_type, "application/pdf");
    assert_eq!(contract.sniffed_type, Some("application/pdf"));
    assert!(!contract.type_mismatch() && !contract.is_executable());
    assert!(!contract.inline && contract.content_id.is_none());

    let photo = by_name("photo.png");
    assert_eq!(
        photo.content_type, "image/png",
        "declared type is lower-cased"
    );
    assert_eq!(photo.sniffed_type, Some("image/png"));

    let disguised = by_name("invoice.pdf");
    assert_eq!(disguised.content_type, "application/pdf");
    assert_eq!(disguised.sniffed_type, Some("application/x-msdownload"));
    assert!(disguised.type_mismatch() && disguised.is_executable());

    let traversal = by_name("passwd");
    assert_eq!(traversal.data, b"root:x:0:0:root:/root:/bin/bash");

    let docx = by_name("Angebot für Kunde.docx");
    assert_eq!(docx.sniffed_type, Some("application/zip"));
    assert!(!docx.type_mismatch());

    let unnamed = by_name("attachment-8.bin");
    assert_eq!(unnamed.data, b"\x00\x01\x02raw");
    assert_eq!(unnamed.sniffed_type, None);
}

#[test]
fn forwarded_message_is_an_eml_attachment() {
    let p = fixture("13-forward-rfc822.eml");
    assert!(p.text.starts_with("See the invoice"));
    assert!(
        !p.text.contains("120.00 EUR"),
        "the forwarded body is not our text"
    );
    let [a] = p.attachments.as_slice() else {
        panic!("one attachment expected: {:?}", names(&p));
    };
    assert_eq!(a.filename, "Invoice 4711.eml");
    assert_eq!(a.content_type, "message/rfc822");
    let nested = parse(&a.data);
    assert_eq!(
        nested.message_id.as_deref(),
        Some("invoice-4711@billing.northwind.example")
    );
    assert!(nested.text.contains("120.00 EUR"));
}

#[test]
fn outlook_reply_splits_at_original_message() {
    let p = fixture("14-outlook-reply.eml");
    assert_eq!(p.in_reply_to, ["ticket-10234-3@northwind.example"]);
    assert_eq!(
        p.references,
        [
            "ticket-10234-1@northwind.example",
            "ticket-10234-3@northwind.example"
        ]
    );
    assert_eq!(
        p.new_text,
        "It still disconnects every 10 minutes, even with the new client.\n\nGina"
    );
    assert!(
        p.quoted
            .starts_with("-----Original Message-----\nFrom: Northwind Support")
    );
    assert!(p.quoted.ends_with("Northwind Support"));
}

#[test]
fn gmail_reply_splits_at_wrapped_attribution() {
    let p = fixture("15-gmail-reply.eml");
    assert_eq!(p.new_text, "That worked, thank you!");
    assert!(p.quoted.starts_with(
        "On Tue, Mar 19, 2024 at 4:12 PM Northwind Support <\nsupport@northwind.example> wrote:"
    ));
    assert!(p.quoted.contains("> please clear the browser cache"));
    assert!(p.html.as_deref().is_some_and(|h| h.contains("<blockquote")));
}

#[test]
fn german_outlook_html_reply_splits_at_header_block() {
    let p = fixture("16-german-outlook-reply.eml");
    assert_eq!(
        p.new_text,
        "Hallo,\n\nanbei die gewünschten Protokolle.\n\nViele Grüße\nIngrid Schäfer"
    );
    assert!(
        p.quoted
            .starts_with("Von: Northwind Support <support@northwind.example>\nGesendet: Montag")
    );
    assert!(p.quoted.ends_with("bitte senden Sie uns die Protokolle."));
}

#[test]
fn signature_is_cut_but_closing_stays() {
    let p = fixture("17-signature.eml");
    assert_eq!(
        p.new_text,
        "Our VAT number is DE123456789, the invoice shows DE987654321.\n\nThanks,\nIvy"
    );
    assert_eq!(
        p.signature,
        "Ivy Chen | Head of Accounting\nCustomer Corp, 1 Main Street, Springfield\n+1 555 0100"
    );
    assert_eq!(p.quoted, "");
}

#[test]
fn mobile_reply() {
    let p = fixture("36-iphone-reply.eml");
    assert_eq!(p.new_text, "Yes, tomorrow at 9 works.");
    assert_eq!(p.signature, "Sent from my iPhone");
    assert!(
        p.quoted
            .starts_with("> On 7. Apr 2024, at 18:00, Northwind Support")
    );
}

#[test]
fn automatic_mail() {
    let cases = [
        (
            "18-out-of-office.eml",
            AutomaticKind::AutoReply,
            "Auto-Submitted: auto-replied",
        ),
        (
            "19-vacation-precedence-bulk.eml",
            AutomaticKind::Bulk,
            "Precedence: bulk",
        ),
        (
            "20-mailing-list.eml",
            AutomaticKind::Bulk,
            "Precedence: list",
        ),
    ];
    for (file, kind, reason) in cases {
        let a = fixture(file)
            .automatic
            .unwrap_or_else(|| panic!("{file} not automatic"));
        assert_eq!((a.kind, a.reason.as_str()), (kind, reason), "{file}");
    }
    for file in [
        "01-plain-ascii.eml",
        "14-outlook-reply.eml",
        "15-gmail-reply.eml",
        "24-long-thread.eml",
    ] {
        assert_eq!(fixture(file).automatic, None, "{file}");
    }
}

#[test]
fn postfix_dsn() {
    let p = fixture("21-postfix-dsn.eml");
    let bounce = p.bounce.clone().expect("bounce");
    assert_eq!(
        bounce.original_message_id.as_deref(),
        Some("reply-10234-7.a1b2c3@northwind.example")
    );
    let [r] = bounce.recipients.as_slice() else {
        panic!("one recipient expected: {:?}", bounce.recipients);
    };
    assert_eq!(r.email, "nobody@customer.example");
    assert_eq!((r.action.as_str(), r.status.as_str()), ("failed", "5.1.1"));
    assert_eq!(
        r.diagnostic.as_deref(),
        Some(
            "550 5.1.1 <nobody@customer.example>: Recipient address rejected: User unknown in virtual mailbox table"
        )
    );
    assert_eq!(bounce.permanent_failures().count(), 1);
    assert_eq!(
        p.automatic.as_ref().map(|a| a.kind),
        Some(AutomaticKind::Generated)
    );
    assert!(names(&p).contains(&"[R-10234] VPN disconnects.eml"));
}

#[test]
fn exim_text_bounce() {
    let p = fixture("22-exim-bounce.eml");
    let bounce = p.bounce.expect("bounce");
    assert_eq!(
        bounce.original_message_id.as_deref(),
        Some("reply-10777-2.ffee@northwind.example")
    );
    let emails: Vec<_> = bounce.recipients.iter().map(|r| r.email.as_str()).collect();
    assert_eq!(
        emails,
        ["gone@customer.example", "also.gone@customer.example"]
    );
    assert_eq!(bounce.recipients[0].status, "5.1.1");
    assert!(
        bounce.recipients[0]
            .diagnostic
            .as_deref()
            .is_some_and(|d| d.contains("Recipient address rejected"))
    );
    assert_eq!(
        bounce.recipients[1].diagnostic.as_deref(),
        Some("Unrouteable address")
    );
    assert_eq!(bounce.permanent_failures().count(), 2);
    assert_eq!(p.automatic.map(|a| a.kind), Some(AutomaticKind::Generated));
    assert!(
        p.new_text.ends_with("Unrouteable address"),
        "{:?}",
        p.new_text
    );
}

#[test]
fn qmail_bounce() {
    let p = fixture("23-qmail-bounce.eml");
    let bounce = p.bounce.expect("bounce");
    assert_eq!(
        bounce.original_message_id.as_deref(),
        Some("reply-10888-1.0a0b@northwind.example")
    );
    let [r] = bounce.recipients.as_slice() else {
        panic!("one recipient expected: {:?}", bounce.recipients);
    };
    assert_eq!(r.email, "olduser@oldhost.example");
    assert_eq!((r.action.as_str(), r.status.as_str()), ("failed", "5.1.1"));
    assert_eq!(p.automatic.map(|a| a.kind), Some(AutomaticKind::Generated));
}

#[test]
fn no_bounce_for_ordinary_mail() {
    for (name, raw) in fixtures() {
        if !name.contains("bounce") && !name.contains("dsn") {
            assert_eq!(parse(&raw).bounce, None, "{name}");
        }
    }
}

#[test]
fn long_thread_references() {
    let p = fixture("24-long-thread.eml");
    assert_eq!(p.references.len(), 20);
    assert_eq!(p.references[0], "thread-01.1001@mail1.example.com");
    assert_eq!(p.references[19], "thread-20.1020@mail2.example.com");
    assert_eq!(p.in_reply_to, ["thread-20.1020@mail2.example.com"]);
    assert_eq!(p.subject, "Re: Re: Re: Re: AW: RE: Fwd: Re: Migration plan");
    assert_eq!(p.new_text, "Round 21: agreed, let's go ahead on Monday.");
}

fn has_problem(p: &ParsedMail, needle: &str) -> bool {
    p.problems.iter().any(|m| m.contains(needle))
}

#[test]
fn malformed_messages_are_read_anyway() {
    let p = fixture("25-malformed-no-headers.eml");
    assert!(
        p.text
            .starts_with("hello, this message has no headers at all\njust text")
    );
    assert_eq!((p.from.as_ref(), p.message_id.as_ref()), (None, None));
    assert!(has_problem(&p, "no header"));

    let p = fixture("26-malformed-missing-boundary-end.eml");
    assert_eq!(p.text.trim(), "The attachment below got cut off.");
    assert!(has_problem(&p, "never closed"), "{:?}", p.problems);
    let half = p
        .attachments
        .iter()
        .find(|a| a.filename == "half.pdf")
        .expect("half.pdf");
    assert!(
        half.data.starts_with(b"%PDF-1.4"),
        "damaged base64 decoded leniently"
    );
    assert_eq!(half.sniffed_type, Some("application/pdf"));

    let p = fixture("27-malformed-bad-base64.eml");
    assert!(p.text.contains("This part is fine."));
    assert!(has_problem(&p, "could not be decoded"), "{:?}", p.problems);

    let p = fixture("28-malformed-unknown-charset.eml");
    assert_eq!(p.subject, "Strange charset");
    assert!(p.text.starts_with("Caf\u{FFFD} ol\u{FFFD}"));
    assert!(has_problem(
        &p,
        "unknown charset x-foo read as UTF-8 with replacements"
    ));

    let p = fixture("29-malformed-header-without-colon.eml");
    assert_eq!(p.subject, "Header without colon");
    assert_eq!(
        p.to.first().map(|m| m.email.as_str()),
        Some("support@northwind.example")
    );
    assert_eq!(p.text.trim(), "The body survives.");
    assert!(has_problem(&p, "without a colon"));

    let p = fixture("30-empty.eml");
    assert_eq!(p.text, "");
    assert!(has_problem(&p, "empty message"));

    let p = fixture("31-malformed-nul-bytes.eml");
    assert_eq!(p.subject, "Nul bytes inside");
    assert_eq!(
        p.from.as_ref().and_then(|f| f.name.as_deref()),
        Some("Rita Moss")
    );
    assert_eq!(p.text.trim(), "Beforeafter the NUL.");
    assert!(has_problem(&p, "NUL"));

    let p = fixture("32-malformed-bare-cr.eml");
    assert_eq!(p.subject, "Classic Mac line endings");
    assert_eq!(p.text, "Line one.\nLine two.\n");
    assert!(has_problem(&p, "bare CR"));

    let p = fixture("33-mixed-line-endings.eml");
    assert_eq!(p.subject, "Mixed line endings");
    assert_eq!(p.text, "Line one.\nLine two.\nLine three.\n");
}

#[test]
fn huge_inputs() {
    let p = fixture("34-huge-body.eml");
    assert!(p.text.len() > 2_000_000);
    assert!(p.new_text.ends_with("END OF LOG"));

    let p = fixture("35-huge-header.eml");
    assert!(p.subject.starts_with("very long subject very long subject"));
    assert_eq!(p.text.trim(), "Short body after long headers.");
}

/// Byte-level damage of the kind transports and attackers cause: flipped bytes, cut-off
/// tails, spliced junk, dropped ranges.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(prop::sample::Index, u8),
    Truncate(prop::sample::Index),
    Insert(prop::sample::Index, Vec<u8>),
    Delete(prop::sample::Index, usize),
    Duplicate(prop::sample::Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        (
            any::<prop::sample::Index>(),
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..32),
                Just(b"\r\n--".to_vec()),
                Just(b"=?utf-8?B?".to_vec()),
                Just(b"\r\n\r\n".to_vec()),
                Just(b"Content-Type: message/rfc822\r\n\r\n".to_vec()),
                Just(b"Content-Transfer-Encoding: base64\r\n".to_vec()),
                Just("é€😀".as_bytes().to_vec()),
            ]
        )
            .prop_map(|(i, bytes)| Mutation::Insert(i, bytes)),
        (any::<prop::sample::Index>(), 0usize..200).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<prop::sample::Index>(), 0usize..200).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

fn apply(data: &mut Vec<u8>, m: &Mutation) {
    let at = |i: &prop::sample::Index, len: usize| if len == 0 { 0 } else { i.index(len + 1) };
    match m {
        Mutation::Flip(i, b) => {
            if !data.is_empty() {
                let i = i.index(data.len());
                data[i] ^= b;
            }
        }
        Mutation::Truncate(i) => {
            let i = at(i, data.len());
            data.truncate(i);
        }
        Mutation::Insert(i, bytes) => {
            let i = at(i, data.len());
            data.splice(i..i, bytes.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let i = at(i, data.len());
            let end = (i + n).min(data.len());
            data.drain(i..end);
        }
        Mutation::Duplicate(i, n) => {
            let i = at(i, data.len());
            let end = (i + n).min(data.len());
            let copy = data[i..end].to_vec();
            data.splice(end..end, copy);
        }
    }
}

#[test]
fn mutated_fixtures_never_break_the_parser() {
    let small: Vec<Vec<u8>> = fixtures()
        .into_iter()
        .map(|(_, raw)| raw)
        .filter(|raw| raw.len() < 16 * 1024)
        .collect();
    let mut runner = TestRunner::new(Config {
        cases: 1024,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        any::<prop::sample::Index>(),
        proptest::collection::vec(mutation(), 1..6),
    );
    runner
        .run(&strategy, |(which, mutations)| {
            let mut data = small[which.index(small.len())].clone();
            for m in &mutations {
                apply(&mut data, m);
            }
            let parsed = parse(&data);
            assert_invariants("mutated fixture", &parsed);
            Ok(())
        })
        .expect("no mutation breaks the parser");
}

#[test]
fn arbitrary_bytes_never_break_the_parser() {
    let mut runner = TestRunner::new(Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..4096), |data| {
            assert_invariants("arbitrary bytes", &parse(&data));
            Ok(())
        })
        .expect("no input breaks the parser");
}
