//! Separating what a sender wrote this time from the history their client quoted and from
//! their signature.
//!
//! Heuristics over plain text, tuned to the forms real clients write: `>` quoting,
//! attribution lines ("On … wrote:", "Am … schrieb …:", …), Outlook's separators and header
//! blocks, the RFC 3676 `-- ` signature delimiter and mobile "Sent from my …" lines. When in
//! doubt text stays in `new_text`: cutting a customer's words is worse than showing a quote.

/// A text body cut into its parts. Joined in order they give back the text (less the
/// signature delimiter and surrounding blank lines).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    pub new_text: String,
    pub quoted: String,
    pub signature: String,
}

/// Splits `text` into new text, quoted history and signature. A text that would have no new
/// text left (only a quote, only a signature) is kept whole as `new_text`.
pub fn split(text: &str) -> Split {
    let normalized = text.replace("\r\n", "\n");
    let lines: Vec<&str> = normalized.split('\n').collect();

    let (body_start, leading_quote) = leading_quote_end(&lines);
    let quote_start = find_quote_start(&lines, body_start).unwrap_or(lines.len());
    let body = &lines[body_start..quote_start];
    let sig = find_signature(body);

    let (new_lines, signature) = match sig {
        Some(Signature { start, content }) => (&body[..start], join(&body[content..])),
        None => (body, String::new()),
    };
    let new_text = join(new_lines);
    if new_text.is_empty() {
        return Split {
            new_text: join(&lines),
            ..Split::default()
        };
    }

    let mut quoted = Vec::new();
    if leading_quote {
        quoted.push(join(&lines[..body_start]));
    }
    quoted.push(join(&lines[quote_start..]));
    Split {
        new_text,
        quoted: quoted
            .into_iter()
            .filter(|q| !q.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n"),
        signature,
    }
}

/// Lines joined, blank lines at either end dropped, trailing spaces removed.
fn join(lines: &[&str]) -> String {
    let text = lines
        .iter()
        .map(|l| l.trim_end())
        .collect::<Vec<_>>()
        .join("\n");
    text.trim_matches('\n').to_string()
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

/// Trimmed, lower-cased, without the `*…*` that HTML-to-text conversion leaves around bold
/// header names.
fn norm(line: &str) -> String {
    line.trim()
        .trim_matches(|c| c == '*' || c == '_')
        .trim()
        .to_lowercase()
}

/// A bottom-posted reply starts with the quote it answers: returns where the sender's own
/// text begins, and whether there was such a leading quote.
fn leading_quote_end(lines: &[&str]) -> (usize, bool) {
    let first = lines.iter().position(|l| !is_blank(l)).unwrap_or(0);
    let mut i = first;
    if let Some(n) = attribution_len(lines, i) {
        i += n;
    }
    let quote_from = i;
    while lines.get(i).is_some_and(|l| is_quoted(l) || is_blank(l)) {
        i += 1;
    }
    let had_quote = lines[quote_from..i].iter().any(|l| is_quoted(l));
    // More `>` lines further down mean answers written between the questions: those keep
    // their questions.
    let interleaved = lines[i..].iter().any(|l| is_quoted(l));
    if had_quote && !interleaved && i < lines.len() {
        (i, true)
    } else {
        (0, false)
    }
}

/// Where quoted history starts (it runs to the end), searching from `from`.
fn find_quote_start(lines: &[&str], from: usize) -> Option<usize> {
    let marker = (from..lines.len()).find(|&i| is_history_marker(lines, i));
    let trailing = trailing_quote_start(lines, from);
    match (marker, trailing) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The start of a `>` block that runs (with blank lines) to the end of the text, moved up
/// over an attribution line right above it.
fn trailing_quote_start(lines: &[&str], from: usize) -> Option<usize> {
    let mut start = None;
    for i in (from..lines.len()).rev() {
        if is_quoted(lines[i]) {
            start = Some(i);
        } else if !is_blank(lines[i]) {
            break;
        }
    }
    let start = start?;
    // "Ann wrote:" (any client, any language that we know the verb of), possibly with a blank
    // line between it and the quote.
    let mut above = start;
    while above > from && is_blank(lines[above - 1]) {
        above -= 1;
    }
    for span in 1..=3 {
        if above >= from + span && attribution_len(lines, above - span) == Some(span) {
            return Some(above - span);
        }
    }
    if above > from && ends_like_attribution(lines[above - 1]) {
        return Some(above - 1);
    }
    Some(start)
}

fn ends_like_attribution(line: &str) -> bool {
    let l = norm(line);
    l.ends_with(':')
        && [
            "wrote",
            "writes",
            "schrieb",
            "a écrit",
            "escribió",
            "schreef",
            "scrisse",
            "napisał",
            "skrev",
        ]
        .iter()
        .any(|w| l.contains(w))
}

/// Whether line `i` starts history that runs to the end: an attribution, an
/// "Original Message" separator or a mail-header block.
fn is_history_marker(lines: &[&str], i: usize) -> bool {
    attribution_len(lines, i).is_some() || is_separator(lines, i) || is_header_block(lines, i)
}

/// The number of lines (1–3) of an attribution starting at line `i`, if there is one.
fn attribution_len(lines: &[&str], i: usize) -> Option<usize> {
    let first = norm(lines.get(i)?);
    let opener = ["on ", "am ", "le ", "el ", "op ", "il ", "den "];
    if !opener.iter().any(|o| first.starts_with(o)) {
        return None;
    }
    // Clients wrap long attributions, Gmail often right before the address.
    let mut joined = String::new();
    for span in 1..=3 {
        let line = lines.get(i + span - 1)?;
        if span > 1 && (is_blank(line) || is_quoted(line)) {
            return None;
        }
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(&norm(line));
        if joined.len() > 400 {
            return None;
        }
        if is_attribution(&joined) {
            return Some(span);
        }
    }
    None
}

fn is_attribution(l: &str) -> bool {
    (l.starts_with("on ") && (l.ends_with("wrote:") || l.ends_with("writes:")))
        || (l.starts_with("am ") && l.contains("schrieb") && l.ends_with(':'))
        || (l.starts_with("le ") && (l.ends_with("a écrit :") || l.ends_with("a écrit:")))
        || (l.starts_with("el ") && l.ends_with("escribió:"))
        || (l.starts_with("op ") && l.contains("schreef") && l.ends_with(':'))
        || (l.starts_with("il ") && l.ends_with("scritto:"))
        || (l.starts_with("den ") && l.ends_with("skrev:"))
}

fn is_separator(lines: &[&str], i: usize) -> bool {
    let l = norm(lines[i]);
    let dashed = lines[i].trim().starts_with("--");
    if dashed
        && [
            "original message",
            "ursprüngliche nachricht",
            "originalnachricht",
            "message d'origine",
            "mensaje original",
            "oorspronkelijk bericht",
            "messaggio originale",
            // Bounces: the returned message below the report.
            "copy of the message",
        ]
        .iter()
        .any(|p| l.contains(p))
    {
        return true;
    }
    // Outlook's HTML replies turn into a line of underscores above the header block.
    let t = lines[i].trim();
    t.len() >= 10
        && t.chars().all(|c| c == '_')
        && (i + 1..lines.len().min(i + 3)).any(|j| is_header_block(lines, j))
}

const FROM_NAMES: [&str; 5] = ["from:", "von:", "de:", "van:", "da:"];
const WHEN_NAMES: [&str; 8] = [
    "sent:",
    "date:",
    "gesendet:",
    "datum:",
    "envoyé :",
    "envoyé:",
    "enviado:",
    "verzonden:",
];
const OTHER_NAMES: [&str; 10] = [
    "to:", "an:", "subject:", "betreff:", "cc:", "à :", "objet :", "para:", "asunto:", "aan:",
];

/// "From: … / Sent: … / To: … / Subject: …", as Outlook writes above the message it quotes.
fn is_header_block(lines: &[&str], i: usize) -> bool {
    let first = norm(lines[i]);
    if !FROM_NAMES.iter().any(|n| first.starts_with(n)) {
        return false;
    }
    let mut when = false;
    let mut other = false;
    for line in lines.iter().skip(i + 1).take(6) {
        let l = norm(line);
        if l.is_empty() {
            break;
        }
        when |= WHEN_NAMES.iter().any(|n| l.starts_with(n));
        other |= OTHER_NAMES.iter().any(|n| l.starts_with(n));
    }
    when && other
}

struct Signature {
    /// First line cut (the delimiter, or the mobile line itself).
    start: usize,
    /// First line of the signature's content.
    content: usize,
}

fn find_signature(body: &[&str]) -> Option<Signature> {
    let delimiter = body.iter().enumerate().find_map(|(i, line)| {
        let exact = *line == "-- ";
        if !exact && line.trim_end() != "--" {
            return None;
        }
        // Clients that strip trailing spaces turn "-- " into "--"; only trust that form for a
        // short tail, since "--" also appears as a plain separator in prose.
        let short_tail = || body[i + 1..].iter().filter(|l| !is_blank(l)).count() <= 10;
        (exact || short_tail()).then_some(Signature {
            start: i,
            content: i + 1,
        })
    });
    let mobile = {
        let last_lines: Vec<usize> = (0..body.len())
            .rev()
            .filter(|&i| !is_blank(body[i]))
            .take(3)
            .collect();
        last_lines
            .into_iter()
            .rev()
            .find(|&i| is_mobile_signature(body[i]))
            .map(|i| Signature {
                start: i,
                content: i,
            })
    };
    match (delimiter, mobile) {
        (Some(d), Some(m)) => Some(if m.start < d.start { m } else { d }),
        (d, m) => d.or(m),
    }
}

fn is_mobile_signature(line: &str) -> bool {
    let l = norm(line);
    if l.len() > 80 {
        return false;
    }
    l.starts_with("sent from my ")
        || l.starts_with("sent from mail for ")
        || l.starts_with("sent from outlook")
        || l.starts_with("sent from yahoo mail")
        || l.starts_with("get outlook for ")
        || (l.starts_with("von meinem ") && l.ends_with("gesendet"))
        || l.starts_with("gesendet von meinem ")
        || l.starts_with("envoyé de mon ")
        || l.starts_with("enviado desde mi ")
        || l.starts_with("verzonden vanaf mijn ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, new_text: &str, quoted_starts: &str, signature: &str) {
        let s = split(text);
        assert_eq!(s.new_text, new_text, "new_text of {text:?}");
        assert!(
            s.quoted.starts_with(quoted_starts),
            "quoted {:?} should start with {quoted_starts:?}",
            s.quoted
        );
        if quoted_starts.is_empty() {
            assert_eq!(s.quoted, "");
        }
        assert_eq!(s.signature, signature, "signature of {text:?}");
    }

    #[test]
    fn plain_text_is_all_new() {
        check(
            "Hello,\n\nmy printer is broken.\n\nThanks, Ann",
            "Hello,\n\nmy printer is broken.\n\nThanks, Ann",
            "",
            "",
        );
    }

    #[test]
    fn closings_are_not_signatures() {
        check(
            "It works now.\n\nThanks,\nAnn\n",
            "It works now.\n\nThanks,\nAnn",
            "",
            "",
        );
        check("Best regards\nBob", "Best regards\nBob", "", "");
    }

    #[test]
    fn trailing_gt_quote() {
        check(
            "Yes, that fixed it.\n\n> Did you restart it?\n> \n> Support\n",
            "Yes, that fixed it.",
            "> Did you restart it?",
            "",
        );
    }

    #[test]
    fn english_attribution_on_one_line() {
        check(
            "Still broken.\n\nOn Tue, 5 Mar 2024 at 10:15, Support <help@example.com> wrote:\n> Try again.\n",
            "Still broken.",
            "On Tue, 5 Mar 2024 at 10:15, Support <help@example.com> wrote:",
            "",
        );
    }

    #[test]
    fn english_attribution_wrapped_over_two_lines() {
        check(
            "Thanks!\r\n\r\nOn Tue, Mar 5, 2024 at 10:15 AM Northwind Support <\r\nhelp@example.com> wrote:\r\n\r\n> Try again.\r\n",
            "Thanks!",
            "On Tue, Mar 5, 2024 at 10:15 AM Northwind Support <\nhelp@example.com> wrote:",
            "",
        );
    }

    #[test]
    fn attribution_without_gt_quote() {
        // Some clients (and HTML-to-text) put the quote below the attribution unmarked.
        check(
            "Great.\n\nOn 5 Mar 2024, at 10:15, Support <help@example.com> wrote:\n\nPlease restart.\n",
            "Great.",
            "On 5 Mar 2024",
            "",
        );
    }

    #[test]
    fn german_attribution() {
        check(
            "Danke, jetzt geht es.\n\nAm 05.03.2024 um 10:15 schrieb Support <help@example.com>:\n> Bitte neu starten.\n",
            "Danke, jetzt geht es.",
            "Am 05.03.2024 um 10:15 schrieb",
            "",
        );
        check(
            "Danke.\n\nAm Di., 5. März 2024 um 10:15 Uhr schrieb Support\n<help@example.com>:\n> Hallo\n",
            "Danke.",
            "Am Di., 5. März 2024",
            "",
        );
    }

    #[test]
    fn outlook_original_message() {
        check(
            "See attached.\n\n-----Original Message-----\nFrom: Support <help@example.com>\nSent: Tuesday, March 5, 2024 10:15 AM\nTo: Ann\nSubject: RE: Printer\n\nPlease send a photo.\n",
            "See attached.",
            "-----Original Message-----",
            "",
        );
        check(
            "Anbei.\n\n-----Ursprüngliche Nachricht-----\nVon: Support\nGesendet: Dienstag\n",
            "Anbei.",
            "-----Ursprüngliche Nachricht-----",
            "",
        );
    }

    #[test]
    fn outlook_header_blocks() {
        check(
            "Here you go.\n\n________________________________\nFrom: Support <help@example.com>\nSent: Tuesday, March 5, 2024 10:15\nTo: Ann <ann@example.com>\nSubject: Printer\n\nHi Ann\n",
            "Here you go.",
            "________________",
            "",
        );
        check(
            "Hier bitte.\n\nVon: Support <help@example.com>\nGesendet: Dienstag, 5. März 2024 10:15\nAn: Ann\nBetreff: Drucker\n\nHallo Ann\n",
            "Hier bitte.",
            "Von: Support",
            "",
        );
        check(
            "Here.\n\n*From:* Support <help@example.com>\n*Sent:* Tuesday\n*To:* Ann\n\nHi\n",
            "Here.",
            "*From:* Support",
            "",
        );
    }

    #[test]
    fn a_from_line_in_prose_is_not_a_header_block() {
        let text = "The error says\nFrom: unknown sender\nand then it stops.";
        check(text, text, "", "");
    }

    #[test]
    fn rfc3676_signature() {
        check(
            "The invoice is wrong.\n\n-- \nAnn Smith\nAcme Corp\n",
            "The invoice is wrong.",
            "",
            "Ann Smith\nAcme Corp",
        );
    }

    #[test]
    fn signature_then_quote() {
        check(
            "Fixed.\n\n-- \nAnn\n\nOn Mon, 4 Mar 2024, Support wrote:\n> Restart it\n",
            "Fixed.",
            "On Mon, 4 Mar 2024, Support wrote:",
            "Ann",
        );
    }

    #[test]
    fn mobile_signatures() {
        check(
            "Ok thanks\n\nSent from my iPhone\n",
            "Ok thanks",
            "",
            "Sent from my iPhone",
        );
        check(
            "Alles klar\n\nVon meinem iPhone gesendet\n\n> Am 05.03.2024 um 10:15 schrieb Support <help@example.com>:\n> Hallo\n",
            "Alles klar",
            "> Am 05.03.2024",
            "Von meinem iPhone gesendet",
        );
    }

    #[test]
    fn only_a_quote_stays_new_text() {
        let text = "> just the old text\n> nothing new";
        check(text, text, "", "");
        check("-- \nAnn", "--\nAnn", "", "");
    }

    #[test]
    fn bottom_posting() {
        check(
            "On Mon, 4 Mar 2024, Support wrote:\n> Did it work?\n\nYes it did.\n",
            "Yes it did.",
            "On Mon, 4 Mar 2024, Support wrote:\n> Did it work?",
            "",
        );
    }

    #[test]
    fn inline_answers_keep_their_questions() {
        let text = "> Which model?\nThe X200.\n> Which year?\n2021.";
        check(text, text, "", "");
    }

    #[test]
    fn gmail_style_thunderbird_attribution() {
        check(
            "Done.\n\nAnn Smith wrote:\n> hello\n",
            "Done.",
            "Ann Smith wrote:",
            "",
        );
    }

    #[test]
    fn odd_input_does_not_panic() {
        for t in [
            "",
            "\n",
            "\r\n\r\n",
            ">",
            "-- ",
            "On",
            "Am x schrieb",
            "____________\nFrom:",
            "é\u{0}\r",
        ] {
            let _ = split(t);
        }
    }
}
