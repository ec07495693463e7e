//! Two-factor sign-in (RFC 6238 TOTP, the codes authenticator apps show) and single-use
//! recovery codes. The secret is shown once while setting up; recovery codes are shown once
//! and kept only as SHA-256.

use crate::auth::token_hash;
use rand::RngCore;
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// How many recovery codes an agent gets.
pub const RECOVERY_CODES: usize = 10;

/// 160 random bits, base32 as authenticator apps take them.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret::from(bytes).to_base32()
}

fn totp(secret: &str, account: &str) -> Option<Totp> {
    let secret = Secret::try_from_base32(secret).ok()?;
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_secret(secret)
        // One step either side: phones' clocks drift, and people type slowly.
        .with_skew(1)
        .with_account_name(account)
        .with_issuer(Some("Rapport"))
        .build()
        .ok()
}

/// The `otpauth://` address an authenticator app imports (also typed in by hand as the secret).
pub fn setup_url(secret: &str, account: &str) -> Option<String> {
    totp(secret, account)?.to_url().ok()
}

/// The setup address as a QR code (SVG markup) for an authenticator app to scan.
pub fn setup_qr(url: &str) -> Option<String> {
    let code = qrcode::QrCode::new(url.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(180, 180)
            .quiet_zone(true)
            .build(),
    )
}

/// The time step `code` (six digits, spaces allowed) is right for at `unix_seconds`, if any.
/// The caller accepts each step once (`Store::use_totp_step`): RFC 6238 §5.2.
pub fn code_step(secret: &str, code: &str, unix_seconds: u64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let step = totp(secret, "check")?.check(&code, unix_seconds)?;
    i64::try_from(step).ok()
}

/// Fresh recovery codes (`xxxx-xxxx`, lower-case letters and digits without look-alikes).
pub fn recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut code = String::with_capacity(9);
            for i in 0..8 {
                if i == 4 {
                    code.push('-');
                }
                code.push(ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char);
            }
            code
        })
        .collect()
}

/// What the store keeps of a recovery code, however it was typed.
pub fn recovery_hash(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    token_hash(&format!("recovery:{normal}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_of_the_current_step_and_its_neighbours_are_accepted() {
        let secret = new_secret();
        let t = totp(&secret, "ann@example.com").unwrap();
        let now = 1_790_000_000;
        let code = t.generate(now).to_string();
        let step = code_step(&secret, &code, now).expect("the current code");
        assert_eq!(step, (now / 30) as i64);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(code_step(&secret, &spaced, now), Some(step));
        assert_eq!(
            code_step(&secret, &code, now + 30),
            Some(step),
            "one step of drift"
        );
        assert_eq!(code_step(&secret, &code, now + 120), None);
        assert_eq!(code_step(&secret, "12345", now), None);
        assert_eq!(code_step("not base32!", &code, now), None);
        let url = setup_url(&secret, "ann@example.com").unwrap();
        let qr = setup_qr(&url).unwrap();
        assert!(qr.contains("<svg") && qr.contains("</svg>"));
        assert!(
            url.starts_with("otpauth://totp/Rapport:ann%40example.com?"),
            "{url}"
        );
    }

    #[test]
    fn recovery_codes_are_distinct_and_hashed_however_typed() {
        let codes = recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert_eq!(codes[0].len(), 9);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), codes.len());
        assert_eq!(recovery_hash("abcd-efgh"), recovery_hash(" ABCD EFGH "));
        assert_ne!(recovery_hash("abcd-efgh"), recovery_hash("abcd-efgj"));
    }
}
