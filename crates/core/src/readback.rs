//! The read-back (principle 1, "get the order right"): what we understood of a new request,
//! restated to the customer in the acknowledgement so they can correct us before anyone works
//! on the wrong problem.
//!
//! Everything here is a heuristic over free text in English and German (and any script for the
//! summary). It must never fail: a weak read-back is still sent, a panic would lose the
//! acknowledgement. Detection favours precision: a wrong "order number" restated to a customer
//! is worse than a missing one, and a correction flag on a plain "thanks" wastes an agent's time.

use serde::Serialize;

/// What we understood of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Readback {
    /// The first meaningful sentences, at most [`MAX_SUMMARY_CHARS`] characters.
    pub summary: String,
    /// Order, invoice, account … numbers, in order of appearance, without duplicates.
    pub references: Vec<Detected>,
}

/// A reference number found in the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Detected {
    pub kind: ReferenceKind,
    /// As the customer wrote it (case kept), always containing a digit.
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReferenceKind {
    Order,
    Invoice,
    Account,
    Contract,
    Tracking,
    Serial,
}

impl ReferenceKind {
    pub const ALL: [ReferenceKind; 6] = [
        Self::Order,
        Self::Invoice,
        Self::Account,
        Self::Contract,
        Self::Tracking,
        Self::Serial,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Order => "order",
            Self::Invoice => "invoice",
            Self::Account => "account",
            Self::Contract => "contract",
            Self::Tracking => "tracking",
            Self::Serial => "serial",
        }
    }

    /// The label shown to a customer, e.g. in the acknowledgement's list of references.
    /// `language` is a tag like `de` or `de-AT`; anything not German is English.
    pub fn label(self, language: &str) -> &'static str {
        if is_german(language) {
            match self {
                Self::Order => "Bestellnummer",
                Self::Invoice => "Rechnungsnummer",
                Self::Account => "Kundennummer",
                Self::Contract => "Vertragsnummer",
                Self::Tracking => "Sendungsnummer",
                Self::Serial => "Seriennummer",
            }
        } else {
            match self {
                Self::Order => "Order number",
                Self::Invoice => "Invoice number",
                Self::Account => "Account number",
                Self::Contract => "Contract number",
                Self::Tracking => "Tracking number",
                Self::Serial => "Serial number",
            }
        }
    }
}

fn is_german(language: &str) -> bool {
    let primary = language.split(['-', '_']).next().unwrap_or("");
    primary.eq_ignore_ascii_case("de")
}

/// The longest summary, in characters (not bytes), including a trailing "…".
pub const MAX_SUMMARY_CHARS: usize = 300;
const MAX_SENTENCES: usize = 3;

/// Reads a new request: `subject` and `new_text` (what the customer wrote this time, without
/// quoted history and signature).
pub fn read_back(subject: &str, new_text: &str) -> Readback {
    let mut references = Vec::new();
    detect_references(subject, &mut references);
    detect_references(new_text, &mut references);
    Readback {
        summary: summarize(subject, new_text),
        references,
    }
}

// ---------------------------------------------------------------------------------------------
// Summary
// ---------------------------------------------------------------------------------------------

fn summarize(subject: &str, text: &str) -> String {
    let subject = one_line(crate::subject::strip_reply_prefixes(subject).0);
    let subject_key = comparable(&subject);
    let mut sentences: Vec<String> = Vec::new();
    // Lines joined with '\n', so a line that ends in a full stop ends its sentence even when
    // the next line starts in lower case.
    let mut paragraph = String::new();
    let mut closed = false;
    // A sign-off seen before anything was said ("Thanks!"): a short line after it is a name.
    let mut after_closing = false;

    for raw in text.lines() {
        let line = raw.trim();
        // The conventional signature delimiter ends what the person wrote.
        if line == "--" || line == "__" {
            break;
        }
        if line.starts_with('>') {
            continue;
        }
        if line.is_empty() {
            take_sentences(&paragraph, &subject_key, &mut sentences, &mut closed);
            paragraph.clear();
            if closed {
                break;
            }
            continue;
        }
        if is_closing(line) {
            // A "Thanks!" before anything was said is a pleasantry, not the end.
            if !sentences.is_empty() || !paragraph.is_empty() {
                break;
            }
            after_closing = true;
            continue;
        }
        if after_closing && looks_like_a_name(line) {
            continue;
        }
        after_closing = false;
        let Some(line) = strip_greeting(line) else {
            continue;
        };
        if !subject_key.is_empty() && comparable(line) == subject_key {
            continue;
        }
        if !paragraph.is_empty() {
            paragraph.push('\n');
        }
        paragraph.push_str(line);
    }
    if !closed {
        take_sentences(&paragraph, &subject_key, &mut sentences, &mut closed);
    }

    let mut summary = String::new();
    let mut count = 0;
    for sentence in sentences {
        // CJK sentences are written without a space between them.
        let gap = usize::from(count > 0 && !summary.ends_with(['。', '！', '？']));
        if count > 0 && summary.chars().count() + gap + sentence.chars().count() > MAX_SUMMARY_CHARS
        {
            break;
        }
        if gap == 1 {
            summary.push(' ');
        }
        summary.push_str(&sentence);
        count += 1;
        if count == MAX_SENTENCES {
            break;
        }
    }
    if summary.is_empty() {
        summary = subject;
    }
    truncate_words(&capitalize_first(&summary), MAX_SUMMARY_CHARS)
}

fn looks_like_a_name(line: &str) -> bool {
    line.split_whitespace().count() <= 3 && !line.contains(['.', '!', '?', '。'])
}

/// Splits one paragraph into sentences and keeps the meaningful ones; sets `closed` when a
/// closing ("Thanks, Anna") follows what was said.
fn take_sentences(paragraph: &str, subject_key: &str, out: &mut Vec<String>, closed: &mut bool) {
    for sentence in split_sentences(paragraph) {
        let sentence = one_line(&sentence);
        if is_closing(&sentence) {
            if !out.is_empty() {
                *closed = true;
                return;
            }
            continue;
        }
        if is_pleasantry(&sentence) {
            continue;
        }
        if comparable(&sentence).is_empty() {
            continue;
        }
        if !subject_key.is_empty() && comparable(&sentence) == subject_key {
            continue;
        }
        out.push(sentence);
    }
}

/// White space (any kind, including line breaks) folded to single spaces; other control
/// characters dropped, since the summary is shown in mail and HTML.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().filter(|c| !c.is_control()));
    }
    out
}

/// Lower-case letters and digits only, words separated by one space: for comparing lines
/// regardless of case and punctuation.
fn comparable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut gap = false;
    for c in text.chars() {
        if c == '\'' || c == '’' {
            // "that's" and "thats" are the same word.
            continue;
        }
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.extend(c.to_lowercase());
        } else {
            gap = true;
        }
    }
    out
}

fn words_of(text: &str) -> Vec<String> {
    comparable(text)
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

fn starts_with_words(words: &[String], phrase: &str) -> bool {
    let phrase: Vec<&str> = phrase.split(' ').collect();
    words.len() >= phrase.len() && words.iter().zip(&phrase).all(|(w, p)| w == p)
}

const CLOSINGS: &[&str] = &[
    "thanks",
    "thank you",
    "thx",
    "many thanks",
    "best regards",
    "kind regards",
    "warm regards",
    "regards",
    "best wishes",
    "best",
    "all the best",
    "cheers",
    "sincerely",
    "yours sincerely",
    "yours faithfully",
    "yours truly",
    "sent from my",
    "mit freundlichen grüßen",
    "mit freundlichen grüssen",
    "mit freundlichem gruß",
    "mit freundlichem gruss",
    "freundliche grüße",
    "freundliche grüsse",
    "viele grüße",
    "viele grüsse",
    "beste grüße",
    "beste grüsse",
    "liebe grüße",
    "liebe grüsse",
    "herzliche grüße",
    "schöne grüße",
    "grüße",
    "gruß",
    "mfg",
    "lg",
    "vg",
    "danke",
    "vielen dank",
    "besten dank",
    "herzlichen dank",
    "gesendet von meinem",
    "von meinem iphone gesendet",
];

/// "Thanks, Anna", "Best regards", "Mit freundlichen Grüßen": short lines that open the
/// sign-off. Long lines that start with "Thanks" usually carry content ("Thanks for the quick
/// reply, but the router still drops the connection") and are not closings.
fn is_closing(line: &str) -> bool {
    let words = words_of(line);
    if words.is_empty() || words.len() > 8 {
        return false;
    }
    // "Best" signs off only on its own ("Best, Anna"); "Best way to reach me …" is content.
    if words[0] == "best" && words.len() > 3 && !starts_with_words(&words, "best regards") {
        return false;
    }
    CLOSINGS.iter().any(|c| starts_with_words(&words, c))
}

const GREETINGS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "dear",
    "good morning",
    "good afternoon",
    "good evening",
    "good day",
    "greetings",
    "to whom it may concern",
    "hallo",
    "liebe",
    "lieber",
    "liebes",
    "sehr geehrte",
    "sehr geehrter",
    "sehr geehrtes",
    "guten tag",
    "guten morgen",
    "guten abend",
    "moin",
    "servus",
    "grüß gott",
    "grüezi",
];

/// `None` for a line that is only a greeting ("Hi team,", "Dear Sir or Madam"); the rest of
/// the line for "Hi team, my printer is broken."; the line itself otherwise.
fn strip_greeting(line: &str) -> Option<&str> {
    let words = words_of(line);
    if !GREETINGS.iter().any(|g| starts_with_words(&words, g)) {
        return Some(line);
    }
    // The greeting ends at the first comma, colon or exclamation mark, if one comes early.
    if let Some((at, mark)) = line
        .char_indices()
        .take(60)
        .find(|(_, c)| matches!(c, ',' | '!' | ':' | ';'))
    {
        let rest = line[at + mark.len_utf8()..].trim();
        return (!rest.is_empty()).then_some(rest);
    }
    if words.len() <= 6 { None } else { Some(line) }
}

/// "I hope you are well", "Ich hoffe, es geht Ihnen gut", "Thank you for your help": polite,
/// says nothing about the request. "I hope you can help me with …" is kept, since it names
/// the request.
fn is_pleasantry(sentence: &str) -> bool {
    const HOPES: [&str; 9] = [
        "i hope",
        "hope you",
        "hope this",
        "hope all",
        "hope everything",
        "ich hoffe",
        "hoffe es",
        "hoffe sie",
        "hoffe dir",
    ];
    const WELL: [&str; 9] = [
        "well",
        "good",
        "great",
        "fine",
        "weekend",
        "gut",
        "wohl",
        "bestens",
        "wochenende",
    ];
    const THANKS: [&str; 5] = ["thank you", "thanks", "danke", "vielen dank", "many thanks"];
    let words = words_of(sentence);
    if words.is_empty() || words.len() > 10 {
        return false;
    }
    if THANKS.iter().any(|t| starts_with_words(&words, t)) {
        return words.len() <= 7;
    }
    HOPES.iter().any(|h| starts_with_words(&words, h))
        && words.iter().any(|w| WELL.contains(&w.as_str()))
        || starts_with_words(&words, "how are you")
        || starts_with_words(&words, "wie geht es")
        || starts_with_words(&words, "wie gehts")
}

/// Sentences end at `.`, `!`, `?` or `…` before white space, and at CJK full stops. A dot
/// after an abbreviation ("No.", "Nr.", "z.B.") or an ordinal ("25. November") does not end
/// one, nor does a dot followed by a lower-case word.
fn split_sentences(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let cjk = matches!(c, '。' | '！' | '？');
        if !(cjk || matches!(c, '.' | '!' | '?' | '…')) {
            i += 1;
            continue;
        }
        let mut end = i + 1;
        while end < chars.len()
            && matches!(
                chars[end],
                '.' | '!' | '?' | '…' | '"' | '\'' | ')' | '”' | '’' | '»' | '。' | '！' | '？'
            )
        {
            end += 1;
        }
        let at_gap = end == chars.len() || chars[end].is_whitespace();
        let boundary = cjk || (at_gap && (c != '.' || end > i + 1 || dot_ends(&chars, i, end)));
        if boundary {
            push_sentence(&chars[start..end], &mut out);
            start = end;
        }
        i = end;
    }
    push_sentence(&chars[start..], &mut out);
    out
}

fn push_sentence(chars: &[char], out: &mut Vec<String>) {
    let sentence: String = chars.iter().collect();
    let sentence = sentence.trim();
    if !sentence.is_empty() {
        out.push(sentence.to_owned());
    }
}

/// Whether the single dot at `dot` ends a sentence.
fn dot_ends(chars: &[char], dot: usize, after: usize) -> bool {
    const ABBREVIATIONS: [&str; 24] = [
        "no", "nr", "nos", "vs", "mr", "mrs", "ms", "dr", "prof", "st", "inc", "ltd", "approx",
        "ca", "bzw", "usw", "ggf", "inkl", "zzgl", "evtl", "vgl", "tel", "str", "abs",
    ];
    let word_start = chars[..dot]
        .iter()
        .rposition(|c| c.is_whitespace())
        .map_or(0, |p| p + 1);
    let word: String = chars[word_start..dot]
        .iter()
        .flat_map(|c| c.to_lowercase())
        .collect();
    let word = word.trim_start_matches(['(', '"', '\'', '„', '“']);
    if ABBREVIATIONS.contains(&word) {
        return false;
    }
    // "z.B.", "e.g.", "i.e.", "u.a.": short letter groups joined by dots; also initials.
    if !word.is_empty()
        && word
            .split('.')
            .all(|part| part.chars().count() <= 2 && part.chars().all(char::is_alphabetic))
        && (word.contains('.') || word.chars().count() == 1)
    {
        return false;
    }
    // German ordinals: "am 25. November".
    if (1..=2).contains(&word.len()) && word.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    // A line break after the dot ends the sentence whatever follows; within a line, a
    // lower-case word after the dot means it was an abbreviation we do not know.
    if chars.get(after) == Some(&'\n') {
        return true;
    }
    let next = chars[after..].iter().find(|c| !c.is_whitespace());
    !next.is_some_and(|c| c.is_lowercase())
}

fn capitalize_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if first.is_lowercase() => first.to_uppercase().chain(chars).collect(),
        _ => text.to_owned(),
    }
}

/// At most `max` characters: cut at a word boundary with "…" when longer. Text without
/// spaces (Chinese, Japanese, one long URL) is cut between characters.
fn truncate_words(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let keep: Vec<char> = text.chars().take(max.saturating_sub(1)).collect();
    let cut = match keep.iter().rposition(|c| c.is_whitespace()) {
        Some(space) if space >= keep.len() / 2 => space,
        _ => keep.len(),
    };
    let mut out: String = keep[..cut].iter().collect();
    let trimmed_len = out
        .trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':' | '-'))
        .len();
    out.truncate(trimmed_len);
    out.push('…');
    out
}

// ---------------------------------------------------------------------------------------------
// Reference numbers
// ---------------------------------------------------------------------------------------------

/// Words that introduce a reference number, English and German. A space matches any run of
/// white space; a hyphen matches itself.
const KEYWORDS: &[(&str, ReferenceKind)] = &[
    ("order", ReferenceKind::Order),
    ("purchase order", ReferenceKind::Order),
    ("bestellnummer", ReferenceKind::Order),
    ("bestellung", ReferenceKind::Order),
    ("bestell-nr", ReferenceKind::Order),
    ("bestellnr", ReferenceKind::Order),
    ("auftragsnummer", ReferenceKind::Order),
    ("auftrag", ReferenceKind::Order),
    ("auftrags-nr", ReferenceKind::Order),
    ("auftragsnr", ReferenceKind::Order),
    ("invoice", ReferenceKind::Invoice),
    ("rechnungsnummer", ReferenceKind::Invoice),
    ("rechnung", ReferenceKind::Invoice),
    ("rechnungs-nr", ReferenceKind::Invoice),
    ("rechnungsnr", ReferenceKind::Invoice),
    ("account", ReferenceKind::Account),
    ("customer number", ReferenceKind::Account),
    ("customer no", ReferenceKind::Account),
    ("customer nr", ReferenceKind::Account),
    ("customer id", ReferenceKind::Account),
    ("customer account", ReferenceKind::Account),
    ("kundennummer", ReferenceKind::Account),
    ("kunden-nr", ReferenceKind::Account),
    ("kundennr", ReferenceKind::Account),
    ("kundenkonto", ReferenceKind::Account),
    ("kunden-id", ReferenceKind::Account),
    ("contract", ReferenceKind::Contract),
    ("vertragsnummer", ReferenceKind::Contract),
    ("vertrag", ReferenceKind::Contract),
    ("vertrags-nr", ReferenceKind::Contract),
    ("vertragsnr", ReferenceKind::Contract),
    ("tracking", ReferenceKind::Tracking),
    ("tracking-nummer", ReferenceKind::Tracking),
    ("trackingnummer", ReferenceKind::Tracking),
    ("sendungsnummer", ReferenceKind::Tracking),
    ("sendungsverfolgungsnummer", ReferenceKind::Tracking),
    ("paketnummer", ReferenceKind::Tracking),
    ("shipment", ReferenceKind::Tracking),
    ("parcel", ReferenceKind::Tracking),
    ("serial", ReferenceKind::Serial),
    ("s/n", ReferenceKind::Serial),
    ("seriennummer", ReferenceKind::Serial),
    ("serien-nr", ReferenceKind::Serial),
    ("seriennr", ReferenceKind::Serial),
];

/// Words allowed between the keyword and the value: "order **number is** 123",
/// "Rechnung **Nr.** 2024/118".
const FILLERS: &[&str] = &[
    "no", "nr", "number", "num", "nummer", "id", "is", "ist", "lautet", "was", "war", "code", "ref",
];

const MAX_VALUE_CHARS: usize = 40;

fn detect_references(text: &str, found: &mut Vec<Detected>) {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let at_word_start = i == 0 || !chars[i - 1].is_alphanumeric();
        if !at_word_start || !chars[i].is_ascii_alphabetic() {
            i += 1;
            continue;
        }
        let hit = KEYWORDS
            .iter()
            .filter_map(|(word, kind)| match_keyword(&chars, i, word).map(|end| (end, *kind)))
            .max_by_key(|(end, _)| *end);
        let Some((end, kind)) = hit else {
            i += 1;
            continue;
        };
        match value_after(&chars, end) {
            Some((value, value_end)) => {
                let duplicate = found
                    .iter()
                    .any(|d| d.kind == kind && d.value.eq_ignore_ascii_case(&value));
                if !duplicate {
                    found.push(Detected { kind, value });
                }
                i = value_end;
            }
            None => i = end,
        }
    }
}

/// The index after `keyword` when it is written at `at` as a whole word (case-insensitive).
fn match_keyword(chars: &[char], at: usize, keyword: &str) -> Option<usize> {
    let mut i = at;
    for k in keyword.chars() {
        if k == ' ' {
            let start = i;
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            if i == start {
                return None;
            }
        } else {
            if i >= chars.len() || chars[i].to_ascii_lowercase() != k {
                return None;
            }
            i += 1;
        }
    }
    let whole_word = i == chars.len() || !chars[i].is_alphanumeric();
    whole_word.then_some(i)
}

/// The reference value after a keyword, and where it ends; `None` when what follows is not a
/// plausible number (no digit, a year, a time, a date, a phone number).
fn value_after(chars: &[char], from: usize) -> Option<(String, usize)> {
    let mut i = from;
    let mut fillers = 0;
    loop {
        while i < chars.len() && (chars[i].is_whitespace() || matches!(chars[i], ':' | '#' | '=')) {
            i += 1;
        }
        if fillers == 3 {
            break;
        }
        let word_end = chars[i..]
            .iter()
            .position(|c| !c.is_ascii_alphabetic())
            .map_or(chars.len(), |p| i + p);
        if word_end == i {
            break;
        }
        let word: String = chars[i..word_end]
            .iter()
            .map(char::to_ascii_lowercase)
            .collect();
        let followed_by_letter_or_digit = chars.get(word_end).is_some_and(|c| c.is_alphanumeric());
        if !FILLERS.contains(&word.as_str()) || followed_by_letter_or_digit {
            break;
        }
        i = word_end;
        if chars.get(i) == Some(&'.') {
            i += 1;
        }
        fillers += 1;
    }

    let start = i;
    while i < chars.len()
        && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '-' | '/' | '_' | '.'))
    {
        i += 1;
    }
    let mut end = i;
    while end > start && matches!(chars[end - 1], '.' | '-' | '/' | '_') {
        end -= 1;
    }
    // A value glued to other letters ("123abc…" in another script) is not a reference.
    if chars.get(i).is_some_and(|c| c.is_alphanumeric()) {
        return None;
    }
    let value: String = chars[start..end].iter().collect();
    plausible_value(&value, &chars[end..]).then_some((value, end))
}

fn plausible_value(value: &str, after: &[char]) -> bool {
    let len = value.chars().count();
    if !(3..=MAX_VALUE_CHARS).contains(&len) || !value.chars().any(|c| c.is_ascii_digit()) {
        return false;
    }
    let all_digits = value.chars().all(|c| c.is_ascii_digit());
    // A year: "invoice 2024".
    if all_digits && len == 4 && matches!(value.parse::<u32>(), Ok(1900..=2099)) {
        return false;
    }
    // A time or a date: "14.30", "24.11.2024", "14:30".
    let groups: Vec<&str> = value.split(['.', ':']).collect();
    if groups.len() >= 2
        && groups
            .iter()
            .all(|g| !g.is_empty() && g.len() <= 4 && g.chars().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    if after.first() == Some(&':') && after.get(1).is_some_and(char::is_ascii_digit) {
        return false;
    }
    // Digit groups separated by spaces are a phone number ("0170 1234567"), not an order.
    if all_digits {
        let rest: Vec<&char> = after.iter().take(2).collect();
        if rest.len() == 2 && *rest[0] == ' ' && rest[1].is_ascii_digit() {
            return false;
        }
    }
    true
}

// ---------------------------------------------------------------------------------------------
// Corrections
// ---------------------------------------------------------------------------------------------

/// A phrase that says "you got it wrong", with the words before or after it that turn it into
/// something else ("**no** correction needed", "not quite **sure**").
struct CorrectionPhrase {
    phrase: &'static str,
    not_after: &'static [&'static str],
    not_before: &'static [&'static str],
}

const fn p(phrase: &'static str) -> CorrectionPhrase {
    CorrectionPhrase {
        phrase,
        not_after: &[],
        not_before: &[],
    }
}

const NEGATIONS: &[&str] = &["no", "not", "nothing", "kein", "keine", "keiner", "nicht"];
const UNSURE: &[&str] = &["sure", "certain", "clear", "understand", "sicher", "klar"];

const CORRECTIONS: &[CorrectionPhrase] = &[
    // English
    p("not what i meant"),
    p("not what i said"),
    p("not what i asked"),
    p("not what i wrote"),
    p("not what i was asking"),
    p("what i meant"),
    p("i didnt mean"),
    p("i did not mean"),
    p("i was referring to"),
    p("you misunderstood"),
    p("you have misunderstood"),
    p("youve misunderstood"),
    p("misunderstood me"),
    p("misunderstood my"),
    p("misunderstanding"),
    p("got it wrong"),
    p("got that wrong"),
    p("got this wrong"),
    p("thats wrong"),
    p("that is wrong"),
    p("this is wrong"),
    p("thats not right"),
    p("that is not right"),
    p("this is not right"),
    p("thats not correct"),
    p("that is not correct"),
    p("this is not correct"),
    p("thats incorrect"),
    p("that is incorrect"),
    p("thats not it"),
    p("that is not it"),
    p("thats not the problem"),
    p("that is not the problem"),
    p("thats not the issue"),
    CorrectionPhrase {
        phrase: "not quite",
        not_after: &[],
        not_before: UNSURE,
    },
    CorrectionPhrase {
        phrase: "correction",
        not_after: NEGATIONS,
        not_before: &[],
    },
    p("to clarify"),
    p("let me clarify"),
    p("clarification"),
    p("actually the problem is"),
    p("actually the issue is"),
    p("actually my problem"),
    p("actually my question"),
    p("the problem is actually"),
    p("the issue is actually"),
    p("wrong order number"),
    p("wrong invoice number"),
    p("wrong account number"),
    p("wrong customer number"),
    p("wrong reference"),
    p("wrong number"),
    // German
    p("das ist nicht richtig"),
    p("das ist so nicht richtig"),
    p("ist nicht ganz richtig"),
    p("nicht richtig verstanden"),
    p("das stimmt nicht"),
    p("das stimmt so nicht"),
    p("stimmt so nicht"),
    p("das ist falsch"),
    p("das ist so nicht korrekt"),
    p("das ist nicht korrekt"),
    p("falsch verstanden"),
    p("missverstanden"),
    p("missverständnis"),
    p("das meinte ich nicht"),
    p("nicht das was ich meinte"),
    p("nicht was ich meinte"),
    p("was ich meinte"),
    p("ich meinte eigentlich"),
    CorrectionPhrase {
        phrase: "nicht ganz",
        not_after: &[],
        not_before: UNSURE,
    },
    CorrectionPhrase {
        phrase: "korrektur",
        not_after: NEGATIONS,
        not_before: &[],
    },
    p("berichtigung"),
    p("eigentlich geht es"),
    p("es geht eigentlich"),
    p("eigentlich ist das problem"),
    p("das problem ist eigentlich"),
    p("zur klarstellung"),
    p("klarstellen"),
    p("klarzustellen"),
    p("richtigstellen"),
    p("richtigstellung"),
    p("falsche bestellnummer"),
    p("falsche rechnungsnummer"),
    p("falsche kundennummer"),
    p("falsche nummer"),
];

/// Whether a customer's reply to the read-back says we understood them wrongly.
/// Case- and punctuation-insensitive; English and German.
pub fn is_correction(new_text: &str) -> bool {
    let words = words_of(new_text);
    CORRECTIONS.iter().any(|c| {
        let phrase: Vec<&str> = c.phrase.split(' ').collect();
        words.windows(phrase.len()).enumerate().any(|(at, window)| {
            window.iter().zip(&phrase).all(|(w, p)| w == p)
                && !(at > 0 && c.not_after.contains(&words[at - 1].as_str()))
                && !words
                    .get(at + phrase.len())
                    .is_some_and(|next| c.not_before.contains(&next.as_str()))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReferenceKind::*;
    use proptest::prelude::*;

    fn refs(text: &str) -> Vec<(ReferenceKind, String)> {
        read_back("", text)
            .references
            .into_iter()
            .map(|d| (d.kind, d.value))
            .collect()
    }

    #[test]
    fn references_in_english_and_german() {
        let cases: &[(&str, &[(ReferenceKind, &str)])] = &[
            ("My order #12345 has not arrived.", &[(Order, "12345")]),
            ("Order No. A-778812 is missing", &[(Order, "A-778812")]),
            ("Bestellnummer 4711-22 fehlt", &[(Order, "4711-22")]),
            ("Bestellnummer: 4711-22.", &[(Order, "4711-22")]),
            (
                "about invoice INV-2024-0042, please",
                &[(Invoice, "INV-2024-0042")],
            ),
            (
                "Rechnung Nr. 2024/118 ist doppelt",
                &[(Invoice, "2024/118")],
            ),
            ("my account 88123 is locked", &[(Account, "88123")]),
            ("Kundennummer K-5512", &[(Account, "K-5512")]),
            ("customer number: 99812", &[(Account, "99812")]),
            (
                "Our contract number is C-2023-77.",
                &[(Contract, "C-2023-77")],
            ),
            ("Vertragsnummer VN-88/123", &[(Contract, "VN-88/123")]),
            (
                "tracking number 1Z999AA10123456784",
                &[(Tracking, "1Z999AA10123456784")],
            ),
            (
                "Sendungsnummer: 00340434161094042557",
                &[(Tracking, "00340434161094042557")],
            ),
            ("serial number SN-77-AB", &[(Serial, "SN-77-AB")]),
            ("Seriennummer: XK-20931", &[(Serial, "XK-20931")]),
            ("S/N: 4F7Q-0021", &[(Serial, "4F7Q-0021")]),
            ("My order number is 55555", &[(Order, "55555")]),
            ("ORDER#778812", &[(Order, "778812")]),
            (
                "order 12345, invoice 9876 and again order 12345",
                &[(Order, "12345"), (Invoice, "9876")],
            ),
            (
                "Bestellung 4711-22, Rechnung RE-9981, Kundennummer K-5512",
                &[
                    (Order, "4711-22"),
                    (Invoice, "RE-9981"),
                    (Account, "K-5512"),
                ],
            ),
            // Not references:
            ("I placed the order in 2024", &[]),
            ("invoice 2024 was wrong", &[]),
            ("the order arrived at 14:30", &[]),
            ("order 14:30", &[]),
            ("Rechnung vom 24.11.2024", &[]),
            ("invoice 24.11.2024", &[]),
            ("my account: 0170 1234567 is my phone", &[]),
            ("account +49 30 1234567", &[]),
            ("the order is late", &[]),
            ("orders 12345", &[]),
            ("reorder 12345", &[]),
            ("no digits: order ABC-DEF", &[]),
            ("Bestellung Nr. 12", &[]),
        ];
        for (text, expected) in cases {
            let expected: Vec<(ReferenceKind, String)> = expected
                .iter()
                .map(|(k, v)| (*k, (*v).to_owned()))
                .collect();
            assert_eq!(refs(text), expected, "{text}");
        }
    }

    #[test]
    fn references_from_the_subject_come_first_and_are_not_repeated() {
        let rb = read_back(
            "Order #12345 missing",
            "Hi, my order 12345 and invoice 777-1.",
        );
        assert_eq!(
            rb.references,
            vec![
                Detected {
                    kind: Order,
                    value: "12345".into()
                },
                Detected {
                    kind: Invoice,
                    value: "777-1".into()
                },
            ]
        );
    }

    #[test]
    fn labels() {
        assert_eq!(Order.label("en"), "Order number");
        assert_eq!(Order.label("de"), "Bestellnummer");
        assert_eq!(Account.label("de-AT"), "Kundennummer");
        assert_eq!(Tracking.label("fr"), "Tracking number");
        for kind in ReferenceKind::ALL {
            assert!(!kind.label("de").is_empty() && !kind.label("en").is_empty());
        }
        assert_eq!(
            serde_json::to_string(&Tracking).ok().as_deref(),
            Some("\"tracking\"")
        );
    }

    #[test]
    fn summary_skips_greeting_and_stops_at_closing() {
        let text = "Hi team,\n\nI hope you are well.\nMy printer stopped printing after the update. \
                    It shows error E-42.\n\nThanks,\nAnna";
        assert_eq!(
            read_back("Printer", text).summary,
            "My printer stopped printing after the update. It shows error E-42."
        );
    }

    #[test]
    fn summary_in_german() {
        let text = "Hallo zusammen,\n\nich hoffe, es geht Ihnen gut.\nseit dem 25. November kann ich \
                    mich nicht mehr anmelden. Das Passwort wird abgelehnt.\n\nMit freundlichen Grüßen\n\
                    Jens Müller";
        assert_eq!(
            read_back("Login", text).summary,
            "Seit dem 25. November kann ich mich nicht mehr anmelden. Das Passwort wird abgelehnt."
        );
        let text = "Sehr geehrte Damen und Herren,\nbitte stornieren Sie die Bestellung Nr. 4711. \
                    Danke!\nViele Grüße";
        assert_eq!(
            read_back("", text).summary,
            "Bitte stornieren Sie die Bestellung Nr. 4711."
        );
    }

    #[test]
    fn summary_skips_subject_repeats_and_keeps_at_most_three_sentences() {
        let text = "Dear Sir or Madam\nRouter keeps rebooting\nIt reboots every hour. Since Monday. \
                    The light is red. I tried a reset. Nothing helped.";
        assert_eq!(
            read_back("Re: Router keeps rebooting", text).summary,
            "It reboots every hour. Since Monday. The light is red."
        );
    }

    #[test]
    fn summary_greeting_on_the_same_line() {
        assert_eq!(
            read_back("x", "Hi team, my invoice is wrong. Thanks, Anna").summary,
            "My invoice is wrong."
        );
        assert_eq!(
            read_back(
                "x",
                "Order No. 4711 e.g. the blue one has not arrived yet. Please check."
            )
            .summary,
            "Order No. 4711 e.g. the blue one has not arrived yet. Please check."
        );
    }

    #[test]
    fn summary_falls_back_to_the_subject() {
        assert_eq!(
            read_back("Re: AW: Refund please", "").summary,
            "Refund please"
        );
        assert_eq!(
            read_back("Refund", "Hello,\n\nThanks!\nBob").summary,
            "Refund"
        );
        assert_eq!(read_back("", "").summary, "");
    }

    #[test]
    fn summary_is_cut_at_a_word_boundary() {
        let long = "word ".repeat(200);
        let summary = read_back("", &long).summary;
        assert!(summary.ends_with("word…"), "{summary}");
        assert!(summary.chars().count() <= MAX_SUMMARY_CHARS);
        // No spaces and non-ASCII: cut between characters, never inside one.
        let cjk = "订单没有到".repeat(100);
        let summary = read_back("", &cjk).summary;
        assert_eq!(summary.chars().count(), MAX_SUMMARY_CHARS);
        assert!(summary.ends_with('…'));
        let cjk = "我的订单没有到。请帮忙。谢谢。再来一句。";
        assert_eq!(read_back("", cjk).summary, "我的订单没有到。请帮忙。谢谢。");
    }

    #[test]
    fn summary_collapses_white_space() {
        assert_eq!(
            read_back("", "The   app\tcrashes\r\non start.").summary,
            "The app crashes on start."
        );
    }

    #[test]
    fn corrections() {
        let yes = [
            "That's not what I meant.",
            "Not quite - it is the other printer.",
            "You misunderstood: I want a refund, not a replacement.",
            "Correction: the order number is 12345.",
            "To clarify, the problem is the invoice.",
            "Actually, the problem is the login.",
            "You have the wrong order number, it's 4711.",
            "you got it wrong",
            "THAT IS NOT CORRECT!!!",
            "Just to clarify: I never received the parcel.",
            "Das ist nicht richtig.",
            "Sie haben mich falsch verstanden.",
            "Korrektur: Es ist die Rechnung 2024/118.",
            "Nicht ganz. Es geht um den zweiten Vertrag.",
            "Eigentlich geht es um meine Rechnung.",
            "Zur Klarstellung: Ich möchte kündigen.",
            "Das stimmt so nicht, die Bestellung war 4711.",
            "Falsche Bestellnummer – richtig ist 4712.",
            "What I meant was the mobile app",
            "Das meinte ich nicht",
            "That’s wrong, I wrote about my account",
        ];
        let no = [
            "Thanks, that's right.",
            "correct",
            "That is exactly it.",
            "Richtig, danke!",
            "Yes, that's correct!",
            "Perfect, thank you.",
            "Genau so ist es.",
            "Stimmt, danke.",
            "Alles richtig.",
            "The printer still doesn't work.",
            "Danke für die schnelle Rückmeldung.",
            "No correction needed, thanks.",
            "I'm not quite sure when it started.",
            "Ich bin mir nicht ganz sicher.",
            "That's right, order 12345.",
            "Thanks, correct.",
            "Das ist richtig so.",
            "ok",
            "",
            "Keine Korrektur nötig.",
            "Good, I will wait for your answer.",
        ];
        for text in yes {
            assert!(is_correction(text), "should be a correction: {text}");
        }
        for text in no {
            assert!(!is_correction(text), "should not be a correction: {text}");
        }
    }

    #[test]
    fn reply_prefixes() {}

    proptest! {
        #[test]
        fn read_back_never_panics(subject in any::<String>(), text in any::<String>()) {
            let rb = read_back(&subject, &text);
            prop_assert!(rb.summary.chars().count() <= MAX_SUMMARY_CHARS + 1);
            for d in &rb.references {
                prop_assert!(d.value.chars().any(|c| c.is_ascii_digit()));
            }
            let _ = is_correction(&text);
        }

        #[test]
        fn read_back_on_wordy_text(words in proptest::collection::vec(
            "(Hi|Thanks|order|Nr\\.|No\\.|#|:|[A-Za-zäöü]{1,12}|[0-9-]{1,8}|\\.|!|\n| |。|…)", 0..200)) {
            let text = words.join(" ");
            let rb = read_back("Re: order 1", &text);
            prop_assert!(rb.summary.chars().count() <= MAX_SUMMARY_CHARS + 1);
        }
    }
}
