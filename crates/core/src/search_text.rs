//! How text becomes searchable, once for both databases: words are folded (lower case, no
//! diacritics, `ß` as `ss`), English and German words also carry their Snowball stems (Russian
//! words their Russian stem), and Chinese, Japanese and Korean runs — written without spaces —
//! become overlapping pairs of characters, so any word inside a run can be found.
//!
//! A stem is stored *marked* (`_refund`), beside the word itself, so a stem never equals a
//! word the user typed and phrases still match words exactly. A query word matches an indexed
//! word when they are the same, when the indexed word is one of its stems, or when they share a
//! stem ([`Matcher::Word`] lists every form that achieves that). The SQLite and PostgreSQL
//! backends only store and look up these strings; neither tokenises text itself.

use crate::search::Text;
use rust_stemmers::{Algorithm, Stemmer};
use std::sync::LazyLock;
use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

/// Marks a stem; the tokenizer never produces it inside a word.
pub const STEM_MARK: char = '_';

/// Words indexed per ticket at most; what follows is left out (a ticket longer than this is
/// hundreds of pages; PostgreSQL also caps a document at 1 MB).
pub const MAX_DOC_WORDS: usize = 50_000;

static ENGLISH: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));
static GERMAN: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::German));
static RUSSIAN: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::Russian));

/// One searchable word of a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Folded: lower case, without diacritics.
    pub word: String,
    /// Marked stems that differ from the word.
    pub stems: Vec<String>,
    /// Byte range in the original text.
    pub start: usize,
    pub end: usize,
}

/// Scripts written without spaces between words: indexed as pairs of characters.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF   // Hiragana, Katakana
        | 0x31F0..=0x31FF // Katakana phonetic extensions
        | 0x3400..=0x4DBF // CJK extension A
        | 0x4E00..=0x9FFF // CJK unified ideographs
        | 0xAC00..=0xD7AF // Hangul syllables
        | 0xF900..=0xFAFF // CJK compatibility ideographs
        | 0x20000..=0x2FA1F)
}

/// Letters and digits make words; combining marks belong to the letter before them.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_combining_mark(c)
}

/// Lower case without diacritics: `Müller` → `muller`, `Straße` → `strasse`.
pub fn fold(word: &str) -> String {
    if word.is_ascii() {
        return word.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(word.len());
    for c in word.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        if c == 'ß' || c == 'ẞ' {
            out.push_str("ss");
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Distinct words whose stems one thread remembers; words are Zipf-distributed, so a small
/// cache answers most lookups (stemming is most of the cost of indexing a text).
const STEM_CACHE_WORDS: usize = 20_000;

thread_local! {
    static STEM_CACHE: std::cell::RefCell<std::collections::HashMap<String, Vec<String>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The marked stems of a folded word that differ from it, as indexed.
fn marked_stems(word: &str) -> Vec<String> {
    if let Some(stems) = STEM_CACHE.with(|c| c.borrow().get(word).cloned()) {
        return stems;
    }
    let stems: Vec<String> = raw_stems(word)
        .into_iter()
        .filter(|s| s != word)
        .map(|s| marked(&s))
        .collect();
    STEM_CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        if cache.len() >= STEM_CACHE_WORDS {
            cache.clear();
        }
        cache.insert(word.to_string(), stems.clone());
    });
    stems
}

/// The raw (unmarked) stems of a folded word, possibly equal to it.
fn raw_stems(word: &str) -> Vec<String> {
    if word.chars().count() < 3 || !word.chars().any(char::is_alphabetic) {
        return Vec::new();
    }
    let mut stems = Vec::with_capacity(2);
    let mut add = |s: std::borrow::Cow<'_, str>| {
        if !s.is_empty() && !stems.iter().any(|x: &String| *x == s) {
            stems.push(s.into_owned());
        }
    };
    if word.chars().any(|c| ('\u{0400}'..='\u{04FF}').contains(&c)) {
        add(RUSSIAN.stem(word));
    } else if word.is_ascii() || word.chars().all(|c| c.is_ascii() || c.is_alphabetic()) {
        add(ENGLISH.stem(word));
        add(GERMAN.stem(word));
    }
    stems
}

fn marked(stem: &str) -> String {
    let mut s = String::with_capacity(stem.len() + 1);
    s.push(STEM_MARK);
    s.push_str(stem);
    s
}

/// The searchable words of a text, in order, with their positions in it.
pub fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut run_start: Option<usize> = None;
    let mut run_cjk = false;
    let flush = |tokens: &mut Vec<Token>, start: usize, end: usize, cjk: bool| {
        let piece = &text[start..end];
        if cjk {
            push_pairs(tokens, piece, start);
        } else {
            let word = fold(piece);
            if word.is_empty() {
                return;
            }
            let stems = marked_stems(&word);
            tokens.push(Token {
                word,
                stems,
                start,
                end,
            });
        }
    };
    for (i, c) in text.char_indices() {
        let word_char = is_word_char(c);
        let cjk = is_cjk(c);
        match run_start {
            Some(start) if !word_char || cjk != run_cjk => {
                flush(&mut tokens, start, i, run_cjk);
                run_start = word_char.then_some(i);
                run_cjk = cjk;
            }
            None if word_char => {
                run_start = Some(i);
                run_cjk = cjk;
            }
            _ => {}
        }
    }
    if let Some(start) = run_start {
        flush(&mut tokens, start, text.len(), run_cjk);
    }
    tokens
}

/// `我的订单` → `我的`, `的订`, `订单`; a single character stands alone.
fn push_pairs(tokens: &mut Vec<Token>, run: &str, offset: usize) {
    let chars: Vec<(usize, char)> = run.char_indices().collect();
    let end_of = |i: usize| chars.get(i + 1).map_or(run.len(), |(b, _)| *b);
    if chars.len() == 1 {
        tokens.push(Token {
            word: fold(run),
            stems: Vec::new(),
            start: offset,
            end: offset + run.len(),
        });
        return;
    }
    for (i, (start, _)) in chars.iter().copied().enumerate().take(chars.len() - 1) {
        let end = end_of(i + 1);
        tokens.push(Token {
            word: fold(&run[start..end]),
            stems: Vec::new(),
            start: offset + start,
            end: offset + end,
        });
    }
}

/// The parts of a ticket that search can look in. Customers never see notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Subject,
    /// The customer's name and addresses, their organisation's name.
    People,
    /// Public messages and their attachments' names.
    Public,
    /// Internal notes and their attachments' names.
    Notes,
}

impl Section {
    pub const ALL: [Section; 4] = [
        Section::Subject,
        Section::People,
        Section::Public,
        Section::Notes,
    ];
}

/// A ticket's searchable words by section, capped at [`MAX_DOC_WORDS`].
#[derive(Debug, Clone, Default)]
pub struct SearchDoc {
    sections: [Vec<Token>; 4],
    words: usize,
}

impl SearchDoc {
    pub fn add(&mut self, section: Section, text: &str) {
        let room = MAX_DOC_WORDS - self.words;
        if room == 0 {
            return;
        }
        let mut tokens = tokenize(text);
        tokens.truncate(room);
        self.words += tokens.len();
        self.sections[section as usize].extend(tokens);
    }

    pub fn section(&self, section: Section) -> &[Token] {
        &self.sections[section as usize]
    }

    /// A section as one line of words for an index that splits on spaces: the words in order
    /// (so phrases match), then the marked stems.
    pub fn section_line(&self, section: Section) -> String {
        let tokens = self.section(section);
        let mut line = String::new();
        for word in tokens
            .iter()
            .map(|t| &t.word)
            .chain(tokens.iter().flat_map(|t| &t.stems))
        {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        line
    }
}

/// One text term of a query, as the index must look it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// One word: any of these forms (the word, its stems, and its stems marked).
    Word(Vec<String>),
    /// Words starting with this.
    Prefix(String),
    /// These words adjacent and in order; the last may be a prefix.
    Phrase {
        words: Vec<String>,
        last_is_prefix: bool,
    },
}

impl Matcher {
    /// How the index looks up a query's text term; `None` when it holds no word.
    pub fn of(text: &Text) -> Option<Matcher> {
        let (source, prefix, exact) = match text {
            Text::Word(w) => (w.clone(), false, false),
            Text::Prefix(w) => (w.clone(), true, false),
            Text::Phrase(ws) => (ws.join(" "), false, true),
        };
        let mut tokens = tokenize(&source);
        match tokens.len() {
            0 => None,
            1 if prefix => tokens.pop().map(|t| Matcher::Prefix(t.word)),
            1 if !exact => tokens.pop().map(|t| Matcher::Word(word_forms(&t.word))),
            _ => Some(Matcher::Phrase {
                words: tokens.into_iter().map(|t| t.word).collect(),
                last_is_prefix: prefix,
            }),
        }
    }

    /// Whether one indexed token satisfies this matcher on its own (for phrases: is one of
    /// its words) — what a snippet highlights.
    pub fn touches(&self, token: &Token) -> bool {
        match self {
            Matcher::Word(forms) => forms
                .iter()
                .any(|f| *f == token.word || token.stems.contains(f)),
            Matcher::Prefix(p) => token.word.starts_with(p.as_str()),
            Matcher::Phrase {
                words,
                last_is_prefix,
            } => words.iter().enumerate().any(|(i, w)| {
                *w == token.word
                    || (*last_is_prefix
                        && i + 1 == words.len()
                        && token.word.starts_with(w.as_str()))
            }),
        }
    }
}

/// Every indexed form a query word matches: itself, each stem as a word, each stem marked.
fn word_forms(word: &str) -> Vec<String> {
    let mut forms = vec![word.to_string()];
    for stem in raw_stems(word) {
        for form in [marked(&stem), stem] {
            if !forms.contains(&form) {
                forms.push(form);
            }
        }
    }
    forms
}

/// A short excerpt of `text` around the densest run of matches, each match in `[` `]`, with
/// `…` where text was cut; `None` when nothing in it matches.
pub fn snippet(text: &str, matchers: &[Matcher], window: usize) -> Option<String> {
    let tokens = tokenize(text);
    let hits: Vec<bool> = tokens
        .iter()
        .map(|t| matchers.iter().any(|m| m.touches(t)))
        .collect();
    let first = hits.iter().position(|h| *h)?;
    let window = window.max(1);
    // The window start (a few words before a hit) that holds the most hits.
    let mut best = (0usize, first.saturating_sub(3));
    for (i, _) in hits.iter().enumerate().filter(|(_, h)| **h) {
        let start = i.saturating_sub(3);
        let count = hits[start..(start + window).min(hits.len())]
            .iter()
            .filter(|h| **h)
            .count();
        if count > best.0 {
            best = (count, start);
        }
    }
    // A window running past the end moves back to stay full.
    let start = best.1.min(tokens.len().saturating_sub(window));
    let end = (start + window).min(tokens.len());
    let shown = &tokens[start..end];
    // Matches as byte ranges; character pairs overlap, so overlapping ranges merge.
    let mut marks: Vec<(usize, usize)> = Vec::new();
    for (token, _) in shown.iter().zip(&hits[start..end]).filter(|(_, h)| **h) {
        match marks.last_mut() {
            Some(last) if token.start < last.1 => last.1 = last.1.max(token.end),
            _ => marks.push((token.start, token.end)),
        }
    }
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    // Brackets in the text itself become parentheses, so only matches are bracketed.
    let plain = |s: &str| s.replace('[', "(").replace(']', ")");
    let mut at = shown[0].start;
    for (from, to) in marks {
        out.push_str(&plain(&text[at..from]));
        out.push('[');
        out.push_str(&plain(&text[from..to]));
        out.push(']');
        at = to;
    }
    let last = shown.iter().map(|t| t.end).max().unwrap_or(at).max(at);
    // The punctuation that closes the last word (`."`) stays with it.
    let closing = text[last..]
        .find(|c: char| c.is_whitespace() || is_word_char(c))
        .unwrap_or(text.len() - last);
    out.push_str(&plain(&text[at..last + closing]));
    if end < tokens.len() {
        out.push('…');
    }
    Some(out.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::SearchQuery;
    use proptest::prelude::*;

    fn words(text: &str) -> Vec<String> {
        tokenize(text).into_iter().map(|t| t.word).collect()
    }

    fn matcher(q: &str) -> Matcher {
        let text = &SearchQuery::parse(q).unwrap().text[0].text;
        Matcher::of(text).unwrap()
    }

    /// Whether a query word finds a text, as an index would decide it (any token matches).
    fn finds(q: &str, text: &str) -> bool {
        let m = matcher(q);
        tokenize(text).iter().any(|t| m.touches(t))
    }

    #[test]
    fn words_are_folded_and_split_on_everything_else() {
        assert_eq!(
            words("Müller's ROUTER-42, Straße; naïve"),
            ["muller", "s", "router", "42", "strasse", "naive"]
        );
        assert_eq!(words("Привет, мир"), ["привет", "мир"]);
    }

    #[test]
    fn stems_join_english_and_german_inflections() {
        assert!(finds("refunds", "We refunded the order"));
        assert!(finds("refunded", "a refund"));
        assert!(finds("refund", "Refunding takes days"));
        assert!(finds("Rechnungen", "Ihre Rechnung ist da"));
        assert!(finds("rechnung", "zwei Rechnungen"));
        assert!(finds("Lieferung", "die Lieferungen kamen nicht"));
        assert!(finds("заказы", "мой заказ не пришёл"));
        assert!(!finds("refund", "the order arrived"));
    }

    #[test]
    fn stems_are_marked_so_phrases_match_words_exactly() {
        let t = &tokenize("refunded")[0];
        assert_eq!(t.word, "refunded");
        assert!(t.stems.iter().all(|s| s.starts_with(STEM_MARK)));
        assert!(t.stems.contains(&"_refund".to_string()));
        // A word that is its own stem carries no stem.
        assert!(tokenize("refund")[0].stems.is_empty());
        assert_eq!(
            matcher("\"credit cards\""),
            Matcher::Phrase {
                words: vec!["credit".into(), "cards".into()],
                last_is_prefix: false
            }
        );
    }

    #[test]
    fn chinese_and_japanese_runs_become_pairs() {
        assert_eq!(
            words("我的订单没有到"),
            ["我的", "的订", "订单", "单没", "没有", "有到"]
        );
        assert_eq!(words("iPhone充电器"), ["iphone", "充电", "电器"]);
        assert_eq!(words("猫"), ["猫"]);
        assert_eq!(
            matcher("订单没有"),
            Matcher::Phrase {
                words: vec!["订单".into(), "单没".into(), "没有".into()],
                last_is_prefix: false
            }
        );
        assert_eq!(matcher("注文*"), Matcher::Prefix("注文".into()));
        assert!(finds("订单", "您好，我的订单没有到"));
        assert!(finds("パスワード", "パスワードを忘れました"));
    }

    #[test]
    fn prefixes_and_phrases() {
        assert_eq!(matcher("rout*"), Matcher::Prefix("rout".into()));
        assert!(finds("rout*", "the Router"));
        assert_eq!(
            matcher("order-17"),
            Matcher::Phrase {
                words: vec!["order".into(), "17".into()],
                last_is_prefix: false
            }
        );
    }

    #[test]
    fn the_doc_caps_its_words_and_keeps_sections_apart() {
        let mut doc = SearchDoc::default();
        doc.add(Section::Subject, "Refunds pending");
        doc.add(Section::Notes, "internal only");
        assert_eq!(
            doc.section_line(Section::Subject),
            "refunds pending _refund _pend"
        );
        assert_eq!(
            doc.section_line(Section::Notes),
            "internal only _intern _onli"
        );
        assert!(doc.section(Section::Public).is_empty());
        let long = "word ".repeat(MAX_DOC_WORDS + 10);
        doc.add(Section::Public, &long);
        doc.add(Section::Public, "lost");
        assert_eq!(
            Section::ALL
                .iter()
                .map(|s| doc.section(*s).len())
                .sum::<usize>(),
            MAX_DOC_WORDS
        );
    }

    #[test]
    fn snippets_mark_the_densest_matches() {
        let text = "Hello there. Our invoice 4711 was charged twice; please refund the second charge of the invoice. Thanks, Ann";
        let s = snippet(text, &[matcher("refunds"), matcher("invoice")], 12).unwrap();
        assert!(s.contains("[refund]"), "{s}");
        assert!(s.contains("[invoice]"), "{s}");
        assert!(s.starts_with("Hello") && s.ends_with('…'), "{s}");
        let s = snippet(text, &[matcher("thanks")], 4).unwrap();
        assert!(s.starts_with('…') && s.contains("[Thanks]"), "{s}");
        assert_eq!(snippet(text, &[matcher("router")], 8), None);
        let s = snippet(
            "See [1] or \"ask the refund desk.\" Bye",
            &[matcher("refund")],
            5,
        )
        .unwrap();
        assert_eq!(s, "…or \"ask the [refund] desk.\"…");
        let s = snippet("See [1]: refund", &[matcher("refund")], 5).unwrap();
        assert_eq!(s, "See (1): [refund]", "only matches are bracketed");
        let s = snippet("我的订单没有到", &[matcher("订单")], 8).unwrap();
        assert!(s.contains("[订单]"), "{s}");
    }

    proptest! {
        #[test]
        fn tokens_point_into_the_text(text in "\\PC{0,80}") {
            for t in tokenize(&text) {
                prop_assert!(text.is_char_boundary(t.start) && text.is_char_boundary(t.end));
                prop_assert!(t.start < t.end);
                prop_assert!(!t.word.contains(' ') && !t.word.starts_with(STEM_MARK));
            }
            let _ = snippet(&text, &[Matcher::Prefix("a".into())], 5);
        }

        #[test]
        fn every_word_finds_the_text_it_came_from(word in "[a-zA-ZäöüßéÀ-ÿ]{1,12}") {
            let q = SearchQuery::parse(&word);
            if let Some(m) = q.ok().and_then(|q| Matcher::of(&q.text[0].text)) {
                prop_assert!(tokenize(&word).iter().any(|t| m.touches(t)));
            }
        }
    }
}
