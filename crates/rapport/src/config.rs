//! Configuration: defaults, then `rapport.toml` (or `--config FILE`), then `RAPPORT_*`
//! environment variables. Every value is checked at start; a bad one stops Rapport with a
//! message naming the key and what is wrong with it.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub database_url: String,
    pub http: SocketAddr,
    pub data_dir: PathBuf,
    pub log: String,
    pub base_url: String,
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
        let (file_name, from_file) = read_file(file)?;
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

        let data_dir = match pick("data_dir", from_file.data_dir) {
            Some(s) if s.value.trim().is_empty() => return Err(err(&s.key, "must not be empty")),
            Some(s) => PathBuf::from(s.value),
            None => PathBuf::from("rapport-data"),
        };
        let http = match pick("http", from_file.http) {
            Some(s) => s.value.trim().parse::<SocketAddr>().map_err(|_| {
                err(
                    &s.key,
                    format!(
                        "'{}' is not a socket address (expected host:port, like 127.0.0.1:8080)",
                        s.value
                    ),
                )
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let database_url = match pick("database_url", from_file.database_url) {
            Some(s) => check_database_url(&s)?,
            None => format!("sqlite://{}", data_dir.join("rapport.db").display()),
        };
        let log = match pick("log", from_file.log) {
            Some(s) => check_log(&s)?,
            None => "info".to_string(),
        };
        let base_url = match pick("base_url", from_file.base_url) {
            Some(s) => check_base_url(&s)?,
            None => format!("http://{http}"),
        };
        Ok(Self {
            database_url,
            http,
            data_dir,
            log,
            base_url,
        })
    }
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
    }

    #[test]
    fn environment_overrides_the_file() {
        let file = "http = \"127.0.0.1:9000\"\ndata_dir = \"/srv/rapport\"\n";
        let c = load(&[("RAPPORT_HTTP", "127.0.0.1:9100")], Some(file)).unwrap();
        assert_eq!(c.http.port(), 9100);
        assert_eq!(c.database_url, "sqlite:///srv/rapport/rapport.db");
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
