//! Configuration: defaults, then `rapport.toml` (or `--config FILE`), then `RAPPORT_*`
//! environment variables. Every value is checked at start; a bad one stops Rapport with a
//! message naming the key and what is wrong with it.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub http: SocketAddr,
    pub log: String,
    pub base_url: String,
    pub mail: MailConfig,
    /// How long a node holds claimed background work (an email being sent, an IMAP mailbox
    /// being polled) before another node may take it over: the wait after a node dies.
    pub lease: std::time::Duration,
    /// Reverse proxies whose `X-Forwarded-For` is believed when counting clients.
    pub trusted_proxies: rapport_web::TrustedProxies,
}

/// The email channel's settings.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// Where the SMTP listener binds; `None` when switched off (`smtp = "off"`).
    pub smtp: Option<SocketAddr>,
    /// The name the listener greets with and mail is received for.
    pub hostname: String,
    /// Certificate and key (PEM files) that turn on STARTTLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Largest message accepted, in bytes (SMTP SIZE, `mail-in`).
    pub max_message_bytes: usize,
    /// Attachments larger than this are not stored separately (the raw message keeps them).
    pub max_attachment_bytes: usize,
    /// Where outbound mail goes; `None` keeps it queued.
    pub relay: Option<rapport_mail::sender::Relay>,
    pub imap: Vec<rapport_mail::imap::ImapMailbox>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("configuration error: {key}: {problem}")]
pub struct ConfigError {
    pub key: String,
    pub problem: String,
}

fn err(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_string(),
        problem: problem.into(),
    }
}

/// The file's keys mirror the environment variables without the `RAPPORT_` prefix.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    http: Option<String>,
    data_dir: Option<String>,
    log: Option<String>,
    base_url: Option<String>,
    lease_seconds: Option<String>,
    trusted_proxies: Option<String>,
    smtp: Option<String>,
    smtp_hostname: Option<String>,
    smtp_tls_cert: Option<String>,
    smtp_tls_key: Option<String>,
    smtp_max_message_size: Option<String>,
    attachment_max_size: Option<String>,
    smtp_relay: Option<String>,
    smtp_relay_user: Option<String>,
    smtp_relay_password: Option<String>,
    smtp_relay_tls: Option<String>,
    #[serde(default)]
    imap: Vec<ImapFileConfig>,
}

/// One `[[imap]]` table: a mailbox polled into an inbox.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImapFileConfig {
    inbox: String,
    host: String,
    port: Option<u16>,
    /// `tls` (default), `starttls` or `none`.
    tls: Option<String>,
    user: String,
    password: String,
    folder: Option<String>,
    move_to: Option<String>,
    poll_seconds: Option<u64>,
    idle: Option<bool>,
}

/// One setting and where it came from, so errors can name the right key.
struct Setting {
    key: String,
    value: String,
}

pub const DEFAULT_FILE: &str = "rapport.toml";

impl Config {
    /// Loads the configuration. `file` is an explicit `--config`; without it `rapport.toml` in
    /// the working directory is read when present. `env` looks up environment variables.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let (file_name, mut from_file) = read_file(file)?;
        let pick = |name: &str, from_file: Option<String>| -> Option<Setting> {
            let var = format!("RAPPORT_{}", name.to_uppercase());
            match env(&var) {
                Some(value) => Some(Setting { key: var, value }),
                None => from_file.map(|value| Setting {
                    key: format!("{name} (in {file_name})"),
                    value,
                }),
            }
        };

        let data_dir = match pick("data_dir", from_file.data_dir.take()) {
            Some(s) if s.value.trim().is_empty() => return Err(err(&s.key, "must not be empty")),
            Some(s) => PathBuf::from(s.value),
            None => PathBuf::from("rapport-data"),
        };
        let http = match pick("http", from_file.http.take()) {
            Some(s) => socket_address(&s, "127.0.0.1:8080")?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let database_url = match pick("database_url", from_file.database_url.take()) {
            Some(s) => check_database_url(&s)?,
            None => format!("sqlite://{}", data_dir.join("rapport.db").display()),
        };
        let log = match pick("log", from_file.log.take()) {
            Some(s) => check_log(&s)?,
            None => "info".to_string(),
        };
        let base_url = match pick("base_url", from_file.base_url.take()) {
            Some(s) => check_base_url(&s)?,
            None => format!("http://{http}"),
        };
        let lease = match pick("lease_seconds", from_file.lease_seconds.take()) {
            Some(s) => lease_seconds(&s)?,
            None => std::time::Duration::from_secs(300),
        };
        let trusted_proxies = match pick("trusted_proxies", from_file.trusted_proxies.take()) {
            Some(s) => rapport_web::TrustedProxies::parse(&s.value).map_err(|e| err(&s.key, e))?,
            None => rapport_web::TrustedProxies::default(),
        };
        let mail = MailConfig::load(&pick, &from_file, &base_url, &file_name)?;
        Ok(Self {
            database_url,
            http,
            log,
            base_url,
            mail,
            lease,
            trusted_proxies,
        })
    }
}

const MIB: usize = 1024 * 1024;

impl MailConfig {
    fn load(
        pick: &dyn Fn(&str, Option<String>) -> Option<Setting>,
        file: &FileConfig,
        base_url: &str,
        file_name: &str,
    ) -> Result<Self, ConfigError> {
        let smtp = match pick("smtp", file.smtp.clone()) {
            Some(s) if s.value.trim().eq_ignore_ascii_case("off") => None,
            Some(s) => Some(socket_address(&s, "127.0.0.1:2525")?),
            None => Some(SocketAddr::from(([127, 0, 0, 1], 2525))),
        };
        let hostname = match pick("smtp_hostname", file.smtp_hostname.clone()) {
            Some(s) if s.value.trim().is_empty() || s.value.contains(char::is_whitespace) => {
                return Err(err(&s.key, "must be a host name without spaces"));
            }
            Some(s) => s.value.trim().to_string(),
            None => host_of(base_url),
        };
        let cert = pick("smtp_tls_cert", file.smtp_tls_cert.clone());
        let key = pick("smtp_tls_key", file.smtp_tls_key.clone());
        let tls = match (cert, key) {
            (None, None) => None,
            (Some(c), Some(k)) => Some((PathBuf::from(c.value), PathBuf::from(k.value))),
            (Some(c), None) => {
                return Err(err(&c.key, "needs RAPPORT_SMTP_TLS_KEY (smtp_tls_key) too"));
            }
            (None, Some(k)) => {
                return Err(err(
                    &k.key,
                    "needs RAPPORT_SMTP_TLS_CERT (smtp_tls_cert) too",
                ));
            }
        };
        let max_message_bytes = size(
            pick("smtp_max_message_size", file.smtp_max_message_size.clone()),
            25 * MIB,
        )?;
        let max_attachment_bytes = size(
            pick("attachment_max_size", file.attachment_max_size.clone()),
            20 * MIB,
        )?;
        let relay = match pick("smtp_relay", file.smtp_relay.clone()) {
            None => None,
            Some(s) => Some(relay(&s, pick, file)?),
        };
        let imap = file
            .imap
            .iter()
            .enumerate()
            .map(|(i, m)| imap_mailbox(i, m, file_name))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            smtp,
            hostname,
            tls,
            max_message_bytes,
            max_attachment_bytes,
            relay,
            imap,
        })
    }
}

fn socket_address(s: &Setting, example: &str) -> Result<SocketAddr, ConfigError> {
    s.value.trim().parse::<SocketAddr>().map_err(|_| {
        err(
            &s.key,
            format!(
                "'{}' is not a socket address (expected host:port, like {example})",
                s.value
            ),
        )
    })
}

/// Seconds, 2 to 86,400: shorter leases would expire while a slow relay still answers.
fn lease_seconds(s: &Setting) -> Result<std::time::Duration, ConfigError> {
    match s.value.trim().parse::<u64>() {
        Ok(n) if (2..=86_400).contains(&n) => Ok(std::time::Duration::from_secs(n)),
        _ => Err(err(
            &s.key,
            format!("'{}' is not a number of seconds from 2 to 86400", s.value),
        )),
    }
}

/// The host part of the base URL: what mail is addressed to when nothing else is said.
fn host_of(base_url: &str) -> String {
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    let host = rest.split(['/', ':']).next().unwrap_or("");
    if host.is_empty() || host.parse::<std::net::IpAddr>().is_ok() {
        "rapport.localhost".to_string()
    } else {
        host.to_string()
    }
}

/// A size in bytes, or with a unit: `25MB`, `512KiB`, `1048576`.
fn size(setting: Option<Setting>, default: usize) -> Result<usize, ConfigError> {
    let Some(s) = setting else { return Ok(default) };
    let text = s.value.trim().to_ascii_lowercase();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let factor = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => MIB,
        "g" | "gb" | "gib" => 1024 * MIB,
        _ => 0,
    };
    match number.parse::<usize>() {
        Ok(n) if factor > 0 && n > 0 => n
            .checked_mul(factor)
            .ok_or_else(|| err(&s.key, "is too large")),
        _ => Err(err(
            &s.key,
            format!("'{}' is not a size (like 25MB, 512KB or 1048576)", s.value),
        )),
    }
}

fn relay(
    s: &Setting,
    pick: &dyn Fn(&str, Option<String>) -> Option<Setting>,
    file: &FileConfig,
) -> Result<rapport_mail::sender::Relay, ConfigError> {
    use rapport_mail::sender::{Relay, RelayTls};
    let (host, port) = s
        .value
        .trim()
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
        .filter(|(h, p)| !h.is_empty() && *p > 0)
        .ok_or_else(|| {
            err(
                &s.key,
                format!("'{}' is not host:port (like smtp.example.com:587)", s.value),
            )
        })?;
    let tls = match pick("smtp_relay_tls", file.smtp_relay_tls.clone()) {
        Some(t) => t
            .value
            .trim()
            .parse::<RelayTls>()
            .map_err(|e| err(&t.key, e.to_string()))?,
        None if port == 465 => RelayTls::Tls,
        None => RelayTls::StartTls,
    };
    let user = pick("smtp_relay_user", file.smtp_relay_user.clone()).map(|u| u.value);
    let password = pick("smtp_relay_password", file.smtp_relay_password.clone()).map(|p| p.value);
    if user.is_some() != password.is_some() {
        return Err(err(
            &s.key,
            "RAPPORT_SMTP_RELAY_USER and RAPPORT_SMTP_RELAY_PASSWORD go together",
        ));
    }
    Ok(Relay {
        host: host.to_string(),
        port,
        tls,
        user,
        password,
    })
}

fn imap_mailbox(
    i: usize,
    m: &ImapFileConfig,
    file_name: &str,
) -> Result<rapport_mail::imap::ImapMailbox, ConfigError> {
    use rapport_mail::imap::{ImapMailbox, ImapTls};
    let key = |field: &str| format!("imap[{i}].{field} (in {file_name})");
    let tls = match &m.tls {
        Some(t) => t
            .trim()
            .parse::<ImapTls>()
            .map_err(|e| err(&key("tls"), e.to_string()))?,
        None => ImapTls::Tls,
    };
    if m.host.trim().is_empty() {
        return Err(err(&key("host"), "must not be empty"));
    }
    if m.poll_seconds == Some(0) {
        return Err(err(&key("poll_seconds"), "must be at least 1"));
    }
    Ok(ImapMailbox {
        inbox: m.inbox.clone(),
        host: m.host.trim().to_string(),
        port: m
            .port
            .unwrap_or(if tls == ImapTls::Tls { 993 } else { 143 }),
        tls,
        user: m.user.clone(),
        password: m.password.clone(),
        folder: m.folder.clone().unwrap_or_else(|| "INBOX".to_string()),
        move_to: m.move_to.clone(),
        poll_interval: std::time::Duration::from_secs(m.poll_seconds.unwrap_or(60)),
        idle: m.idle.unwrap_or(true),
    })
}

fn read_file(explicit: Option<&Path>) -> Result<(String, FileConfig), ConfigError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None if Path::new(DEFAULT_FILE).exists() => PathBuf::from(DEFAULT_FILE),
        None => return Ok((DEFAULT_FILE.to_string(), FileConfig::default())),
    };
    let name = path.display().to_string();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| err("--config", format!("cannot read {name}: {e}")))?;
    let parsed = toml::from_str(&text).map_err(|e| err(&name, e.message().to_string()))?;
    Ok((name, parsed))
}

fn check_database_url(s: &Setting) -> Result<String, ConfigError> {
    let url = s.value.trim();
    let ok = url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://");
    if !ok {
        return Err(err(
            &s.key,
            format!(
                "'{}' is not a supported database URL (use sqlite://PATH or postgres://USER@HOST/DB)",
                rapport_store::redact_url(url)
            ),
        ));
    }
    if url.starts_with("sqlite:")
        && url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:")
            .is_empty()
    {
        return Err(err(
            &s.key,
            "a SQLite URL needs a file path, like sqlite://rapport-data/rapport.db",
        ));
    }
    Ok(url.to_string())
}

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// A level (`debug`) or comma-separated `target=level` directives (`info,rapport_store=debug`).
/// Stricter than the tracing filter syntax, which would take a typo as a target name.
fn check_log(s: &Setting) -> Result<String, ConfigError> {
    let value = s.value.trim();
    let directive_ok = |d: &str| {
        let level = d.rsplit_once('=').map_or(
            d,
            |(target, level)| if target.is_empty() { "" } else { level },
        );
        LEVELS.contains(&level.to_ascii_lowercase().as_str())
    };
    if value.is_empty() || !value.split(',').map(str::trim).all(directive_ok) {
        return Err(err(
            &s.key,
            format!(
                "'{value}' is not a log level (use one of {}, or target=level pairs like info,rapport_store=debug)",
                LEVELS.join(", ")
            ),
        ));
    }
    Ok(value.to_string())
}

fn check_base_url(s: &Setting) -> Result<String, ConfigError> {
    let url = s.value.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
            Ok(url.to_string())
        }
        _ => Err(err(
            &s.key,
            format!("'{}' is not an http:// or https:// URL", s.value),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)], file: Option<&str>) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let dir = std::env::temp_dir().join(format!(
            "rapport-config-{}-{}",
            std::process::id(),
            vars.len()
        ));
        let path = file.map(|text| {
            std::fs::create_dir_all(&dir).unwrap();
            let p = dir.join(format!("{}.toml", text.len()));
            std::fs::write(&p, text).unwrap();
            p
        });
        Config::load(path.as_deref(), |k| vars.get(k).cloned())
    }

    #[test]
    fn defaults_are_local_and_embedded() {
        let c = load(&[], None).unwrap();
        assert_eq!(c.http.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://rapport-data/rapport.db");
        assert_eq!(c.base_url, "http://127.0.0.1:8080");
        assert_eq!(c.log, "info");
        assert_eq!(c.mail.smtp, Some("127.0.0.1:2525".parse().unwrap()));
        assert_eq!(c.mail.hostname, "rapport.localhost");
        assert_eq!(c.mail.max_message_bytes, 25 * MIB);
        assert!(c.mail.relay.is_none() && c.mail.imap.is_empty() && c.mail.tls.is_none());
    }

    #[test]
    fn mail_settings_from_file_and_environment() {
        let file = "base_url = \"https://help.example.com\"\nsmtp_relay = \"smtp.example.com:465\"\n\
            [[imap]]\ninbox = \"Support\"\nhost = \"imap.example.com\"\nuser = \"u\"\npassword = \"p\"\n";
        let c = load(
            &[
                ("RAPPORT_SMTP", "off"),
                ("RAPPORT_SMTP_MAX_MESSAGE_SIZE", "10MB"),
                ("RAPPORT_SMTP_RELAY_USER", "mailer"),
                ("RAPPORT_SMTP_RELAY_PASSWORD", "hunter2"),
            ],
            Some(file),
        )
        .unwrap();
        assert_eq!(c.mail.smtp, None);
        assert_eq!(c.mail.hostname, "help.example.com");
        assert_eq!(c.mail.max_message_bytes, 10 * MIB);
        let relay = c.mail.relay.unwrap();
        assert_eq!((relay.host.as_str(), relay.port), ("smtp.example.com", 465));
        assert_eq!(
            relay.tls,
            rapport_mail::sender::RelayTls::Tls,
            "port 465 means implicit TLS"
        );
        assert!(
            !format!("{relay:?}").contains("hunter2"),
            "the password is never printed"
        );
        let imap = &c.mail.imap[0];
        assert_eq!((imap.port, imap.folder.as_str()), (993, "INBOX"));
        for (key, value, problem) in [
            ("RAPPORT_SMTP", "2525", "not a socket address"),
            ("RAPPORT_SMTP_MAX_MESSAGE_SIZE", "big", "not a size"),
            ("RAPPORT_SMTP_RELAY", "smtp.example.com", "not host:port"),
            (
                "RAPPORT_SMTP_TLS_CERT",
                "/etc/cert.pem",
                "RAPPORT_SMTP_TLS_KEY",
            ),
        ] {
            let e = load(&[(key, value)], None).unwrap_err();
            assert_eq!(e.key, key);
            assert!(e.problem.contains(problem), "{key}: {}", e.problem);
        }
        let e = load(
            &[
                ("RAPPORT_SMTP_RELAY", "x:25"),
                ("RAPPORT_SMTP_RELAY_TLS", "maybe"),
            ],
            None,
        )
        .unwrap_err();
        assert_eq!(e.key, "RAPPORT_SMTP_RELAY_TLS");
        let e = load(&[], Some("[[imap]]\ninbox = \"S\"\nhost = \"h\"\nuser = \"u\"\npassword = \"p\"\ntls = \"sometimes\"\n")).unwrap_err();
        assert!(e.key.starts_with("imap[0].tls"), "{}", e.key);
    }

    #[test]
    fn environment_overrides_the_file() {
        let file = "http = \"127.0.0.1:9000\"\ndata_dir = \"/srv/rapport\"\n";
        let c = load(&[("RAPPORT_HTTP", "127.0.0.1:9100")], Some(file)).unwrap();
        assert_eq!(c.http.port(), 9100);
        assert_eq!(c.database_url, "sqlite:///srv/rapport/rapport.db");
    }

    #[test]
    fn leases_and_trusted_proxies() {
        assert_eq!(load(&[], None).unwrap().lease.as_secs(), 300);
        let c = load(&[("RAPPORT_LEASE_SECONDS", "5")], None).unwrap();
        assert_eq!(c.lease.as_secs(), 5);
        let c = load(
            &[("RAPPORT_TRUSTED_PROXIES", "10.0.0.5, 10.1.0.0/16")],
            None,
        )
        .unwrap();
        assert_ne!(c.trusted_proxies, rapport_web::TrustedProxies::default());
        let e = load(&[("RAPPORT_TRUSTED_PROXIES", "the-proxy")], None).unwrap_err();
        assert_eq!(e.key, "RAPPORT_TRUSTED_PROXIES");
        assert!(e.problem.contains("the-proxy"), "{}", e.problem);
        for bad in ["1", "0", "ten", "100000"] {
            let e = load(&[("RAPPORT_LEASE_SECONDS", bad)], None).unwrap_err();
            assert_eq!(e.key, "RAPPORT_LEASE_SECONDS");
            assert!(e.problem.contains("seconds from 2"), "{}", e.problem);
        }
    }

    #[test]
    fn errors_name_the_key_and_the_problem() {
        let e = load(&[("RAPPORT_HTTP", "localhost")], None).unwrap_err();
        assert_eq!(e.key, "RAPPORT_HTTP");
        assert!(e.problem.contains("not a socket address"));
        let e = load(&[("RAPPORT_DATABASE_URL", "mysql://root:pw@db/x")], None).unwrap_err();
        assert_eq!(e.key, "RAPPORT_DATABASE_URL");
        assert!(
            !e.problem.contains("pw"),
            "secrets are not echoed: {}",
            e.problem
        );
        let e = load(&[("RAPPORT_LOG", "loud")], None).unwrap_err();
        assert_eq!(e.key, "RAPPORT_LOG");
        assert!(load(&[("RAPPORT_LOG", "info,rapport_store=DEBUG")], None).is_ok());
        assert!(load(&[("RAPPORT_LOG", "info,rapport_store=lots")], None).is_err());
        let e = load(&[("RAPPORT_BASE_URL", "example.com")], None).unwrap_err();
        assert_eq!(e.key, "RAPPORT_BASE_URL");
        let e = load(&[], Some("http = \"nope\"\n")).unwrap_err();
        assert!(e.key.starts_with("http (in "), "{}", e.key);
        let e = load(&[], Some("colour = \"red\"\n")).unwrap_err();
        assert!(e.problem.contains("colour"), "{}", e.problem);
        assert_eq!(e.to_string().split(':').next(), Some("configuration error"));
    }
}
