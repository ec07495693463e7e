//! `rapport backup FILE`: a consistent copy of the SQLite database, taken while Rapport keeps
//! running. PostgreSQL has its own tool for this (`pg_dump`), so there we only say how.

use crate::config::Config;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct BackupArgs {
    /// Where the copy goes (must not exist yet).
    #[arg(value_name = "FILE")]
    to: PathBuf,
}

pub async fn run(config: &Config, args: BackupArgs) -> anyhow::Result<()> {
    let url = config.database_url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        bail!("{}", postgres_instructions(url, &args.to));
    }
    let source = sqlite_path(url)?;
    let target = args.to;
    let copy = tokio::task::spawn_blocking(move || backup_sqlite(&source, &target))
        .await
        .context("the backup task failed")??;
    println!(
        "backup written: {} ({}, {} tickets; integrity check: ok)",
        copy.path.display(),
        human_size(copy.bytes),
        copy.tickets
    );
    Ok(())
}

/// The same reading of a SQLite URL as the store's (`sqlite://path` or `sqlite:path`, query
/// options ignored), so the backup copies exactly the file `serve` uses.
fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        bail!("RAPPORT_DATABASE_URL: a SQLite URL needs a file path to back up");
    }
    Ok(PathBuf::from(path))
}

/// What `pg_dump` needs, with the password left out: this text ends up in terminals and logs.
fn postgres_instructions(url: &str, to: &Path) -> String {
    let file = shell_quote(&to.display().to_string());
    let redacted = rapport_store::redact_url(url);
    let mut text = format!(
        "rapport backup copies SQLite databases only. For PostgreSQL, use pg_dump (it takes a \
         consistent snapshot while Rapport runs):\n\n  pg_dump --format=custom --file={file} {}\n",
        shell_quote(&redacted)
    );
    if redacted != url {
        text.push_str(
            "\n(the password is shown as ***: leave ':***' out and give it in PGPASSWORD or \
             ~/.pgpass)\n",
        );
    }
    text.push_str(&format!(
        "\nRestore into a new, empty database with: pg_restore --dbname=URL --no-owner {file}"
    ));
    text
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

struct Copy {
    path: PathBuf,
    bytes: u64,
    tickets: i64,
}

fn backup_sqlite(source: &Path, target: &Path) -> anyhow::Result<Copy> {
    if target.symlink_metadata().is_ok() {
        bail!(
            "{} already exists; a backup never overwrites a file (choose a new name)",
            target.display()
        );
    }
    // Opening a missing database would create an empty one, and its "backup" would look
    // like a success.
    if !source.is_file() {
        bail!(
            "there is no database at {} (check RAPPORT_DATABASE_URL or RAPPORT_DATA_DIR); \
             nothing was written",
            source.display()
        );
    }
    let temp = TempFile::reserve(target)?;
    copy_into(source, &temp.path)?;
    let tickets = check_copy(&temp.path)?;
    let file = std::fs::File::open(&temp.path)
        .with_context(|| format!("cannot reopen {}", temp.path.display()))?;
    // VACUUM INTO does not promise an fsync of its output; a backup that a power cut can
    // leave half written is not one.
    file.sync_all()
        .with_context(|| format!("cannot flush {} to disk", temp.path.display()))?;
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    drop(file);
    temp.publish(target)?;
    Ok(Copy {
        path: target.to_path_buf(),
        bytes,
        tickets,
    })
}

/// VACUUM INTO reads the database inside one read transaction, so the copy is the database
/// as of one commit, however many writes `serve` makes meanwhile (WAL readers never block
/// the writer, nor it them).
fn copy_into(source: &Path, temp: &Path) -> anyhow::Result<()> {
    use rusqlite::OpenFlags;
    // Read-write without CREATE: a read-only connection cannot open a WAL database whose
    // shared-memory file is missing (Rapport stopped cleanly), and nothing is written anyway.
    let conn = rusqlite::Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open the database {}", source.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let into = temp
        .to_str()
        .context("the backup path is not valid UTF-8, which SQLite needs")?;
    conn.execute("VACUUM INTO ?1", [into])
        .with_context(|| format!("copying {} failed", source.display()))?;
    conn.close()
        .map_err(|(_, e)| e)
        .context("closing the database failed")?;
    Ok(())
}

/// The copy must be whole and a Rapport database before it takes the target's name.
fn check_copy(temp: &Path) -> anyhow::Result<i64> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        temp,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open the copy {}", temp.display()))?;
    let mut stmt = conn.prepare("PRAGMA integrity_check(20)")?;
    let problems: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<_, _>>()?;
    if problems != ["ok"] {
        bail!(
            "the copy failed its integrity check, so it was removed: {}",
            problems.join("; ")
        );
    }
    let tickets = conn
        .query_row("SELECT count(*) FROM tickets", [], |r| r.get::<_, i64>(0))
        .context("the copy has no tickets table: is this a Rapport database?")?;
    drop(stmt);
    drop(conn);
    Ok(tickets)
}

/// A file beside the target that becomes the backup only when complete; removed otherwise.
struct TempFile {
    path: PathBuf,
    published: bool,
}

impl TempFile {
    fn reserve(target: &Path) -> anyhow::Result<Self> {
        let name = target
            .file_name()
            .with_context(|| format!("{} is not a file name", target.display()))?;
        let dir = target
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.is_dir() {
            bail!("the directory {} does not exist", dir.display());
        }
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".rapport-backup-{}.tmp", std::process::id()));
        let path = dir.join(temp_name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        // The copy holds everything: customers' mail, password hashes, session hashes.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        // VACUUM INTO accepts an empty file, so creating it first claims the name atomically.
        options
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self {
            path,
            published: false,
        })
    }

    /// Gives the finished copy the target's name, never replacing a file that appeared there
    /// meanwhile: a hard link fails when the name is taken, where a rename would overwrite.
    fn publish(mut self, target: &Path) -> anyhow::Result<()> {
        match std::fs::hard_link(&self.path, target) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                bail!(
                    "{} appeared while the backup ran; it was left alone and the copy removed",
                    target.display()
                );
            }
            // Some file systems have no hard links; the check at the start must do there.
            Err(_) if target.symlink_metadata().is_err() => std::fs::rename(&self.path, target)
                .with_context(|| format!("cannot move the copy to {}", target.display()))?,
            Err(e) => {
                return Err(e).with_context(|| format!("cannot write {}", target.display()));
            }
        }
        self.published = true;
        let _ = std::fs::remove_file(&self.path);
        // The new name is durable only once its directory is.
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(dir) = std::fs::File::open(dir)
        {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn human_size(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes >= 1024 * 1024 {
        format!("{:.1} MiB", bytes as f64 / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pg_dump_instructions_never_show_the_password() {
        let text = postgres_instructions(
            "postgres://u:secret@127.0.0.1:5432/x",
            Path::new("it's.dump"),
        );
        assert!(!text.contains("secret"), "{text}");
        assert!(
            text.contains(
                "pg_dump --format=custom --file='it'\\''s.dump' 'postgres://u:***@127.0.0.1:5432/x'"
            ),
            "{text}"
        );
        assert!(text.contains("pg_restore"), "{text}");
        let without = postgres_instructions("postgres://u@db/x", Path::new("b.dump"));
        assert!(!without.contains("***"), "{without}");
    }

    #[test]
    fn sqlite_urls_name_the_same_file_as_the_store() {
        assert_eq!(
            sqlite_path("sqlite://data/r.db?mode=rwc").unwrap(),
            PathBuf::from("data/r.db")
        );
        assert_eq!(
            sqlite_path("sqlite:/srv/r.db").unwrap(),
            PathBuf::from("/srv/r.db")
        );
        assert!(sqlite_path("sqlite::memory:").is_err());
    }
}
