//! Every string the workspace and the portal show, by key, per language. The catalogues are
//! TOML files compiled in; a template reads `t.key`, and templates render with strict
//! undefined values, so a missing key fails the template test instead of showing a hole.

use std::collections::BTreeMap;
use std::sync::LazyLock;

/// The languages the UI speaks; the first is the fallback.
pub const LANGUAGES: [&str; 2] = ["en", "de"];

static CATALOGUES: LazyLock<BTreeMap<&'static str, BTreeMap<String, String>>> =
    LazyLock::new(|| {
        let sources = [
            ("en", include_str!("../../i18n/en.toml")),
            ("de", include_str!("../../i18n/de.toml")),
        ];
        sources
            .into_iter()
            .map(|(lang, text)| {
                // The files are part of the build; the test below parses both, so a broken
                // file fails CI rather than a running server.
                let table: BTreeMap<String, String> = toml::from_str(text).unwrap_or_default();
                (lang, table)
            })
            .collect()
    });

/// The strings of `language` (English for languages we do not have).
pub fn catalogue(language: &str) -> &'static BTreeMap<String, String> {
    let language = supported(language).unwrap_or(LANGUAGES[0]);
    &CATALOGUES[language]
}

/// One string, for code that builds messages outside templates (flash messages).
pub fn text(language: &str, key: &str) -> String {
    catalogue(language)
        .get(key)
        .or_else(|| catalogue(LANGUAGES[0]).get(key))
        .cloned()
        .unwrap_or_else(|| key.to_string())
}

fn supported(language: &str) -> Option<&'static str> {
    let primary = language
        .split(['-', '_'])
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    LANGUAGES.into_iter().find(|l| *l == primary)
}

/// The language to answer in: an explicit choice (the `lang` cookie) first, then the
/// browser's `Accept-Language` in order of preference, then English.
pub fn negotiate(chosen: Option<&str>, accept_language: Option<&str>) -> &'static str {
    if let Some(lang) = chosen.and_then(supported) {
        return lang;
    }
    let mut offers: Vec<(f32, &str)> = accept_language
        .unwrap_or_default()
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.split(';');
            let tag = pieces.next()?.trim();
            let quality = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((quality, tag))
        })
        .collect();
    offers.sort_by(|a, b| b.0.total_cmp(&a.0));
    offers
        .into_iter()
        .find_map(|(_, tag)| supported(tag))
        .unwrap_or(LANGUAGES[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_key() {
        let parse = |text: &str| -> BTreeMap<String, String> { toml::from_str(text).unwrap() };
        let en = parse(include_str!("../../i18n/en.toml"));
        let de = parse(include_str!("../../i18n/de.toml"));
        assert!(en.len() > 100, "the English catalogue is complete");
        let missing: Vec<_> = en.keys().filter(|k| !de.contains_key(*k)).collect();
        let extra: Vec<_> = de.keys().filter(|k| !en.contains_key(*k)).collect();
        assert!(missing.is_empty(), "German lacks {missing:?}");
        assert!(extra.is_empty(), "German has keys English lacks: {extra:?}");
        for (key, value) in &de {
            assert!(!value.trim().is_empty(), "German '{key}' is empty");
        }
    }

    #[test]
    fn the_browser_preference_picks_the_language() {
        assert_eq!(negotiate(None, Some("de-DE,de;q=0.9,en;q=0.8")), "de");
        assert_eq!(negotiate(None, Some("fr-FR,en;q=0.5,de;q=0.7")), "de");
        assert_eq!(negotiate(None, Some("fr")), "en");
        assert_eq!(negotiate(Some("de"), Some("en")), "de");
        assert_eq!(negotiate(Some("xx"), Some("en")), "en");
        assert_eq!(negotiate(None, None), "en");
        assert_eq!(text("de", "sign_in"), "Anmelden");
        assert_eq!(text("fr", "sign_in"), "Sign in");
    }
}
