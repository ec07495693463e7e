//! Subject lines as mail clients rewrite them: `Re:`, `AW:`, `Fwd[2]:`, list tags.

/// Reply and forward prefixes in the languages customers most often write in.
const PREFIXES: &[&str] = &[
    "re", "fw", "fwd", "aw", "wg", "sv", "vs", "antw", "antwort", "doorst", "tr", "rif", "r",
    "odp", "res", "enc", "vb", "atb",
];

/// The subject without leading list tags (`[ext]`) and reply/forward prefixes (`Re:`,
/// `AW:`, `Fwd[2]:`, `RE :`), however many; and whether there was a reply/forward prefix.
pub fn strip_reply_prefixes(subject: &str) -> (&str, bool) {
    let mut rest = subject.trim();
    let mut replied = false;
    loop {
        let before = rest;
        if let Some(after) = rest.strip_prefix('[')
            && let Some(end) = after.find(']')
        {
            rest = after[end + 1..].trim_start();
        }
        if let Some(colon) = rest.find(':') {
            let head = rest[..colon].trim();
            let word = head.split(['[', '(']).next().unwrap_or(head).trim();
            if PREFIXES.iter().any(|p| p.eq_ignore_ascii_case(word)) {
                rest = rest[colon + 1..].trim_start();
                replied = true;
            }
        }
        if rest == before {
            return (rest, replied);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn prefixes_and_tags_go_in_any_language() {
        for (subject, rest, replied) in [
            ("Re: AW: Fwd: Hello", "Hello", true),
            ("RE[2]: Hello", "Hello", true),
            ("Re(3): Hello", "Hello", true),
            ("Re : WG: Hello", "Hello", true),
            ("[ext] SV: Hello", "Hello", true),
            ("AW: [ext] Frage", "Frage", true),
            ("[ext] Frage: Preise", "Frage: Preise", false),
            ("Remember: this", "Remember: this", false),
            ("Re:", "", true),
            ("[unterminated tag", "[unterminated tag", false),
            ("  ", "", false),
        ] {
            assert_eq!(strip_reply_prefixes(subject), (rest, replied), "{subject}");
        }
    }

    proptest! {
        #[test]
        fn never_panics_and_only_shortens(subject in "\\PC{0,60}") {
            let (rest, _) = strip_reply_prefixes(&subject);
            prop_assert!(rest.len() <= subject.len());
            prop_assert!(subject.contains(rest));
        }
    }
}
