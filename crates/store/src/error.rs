use rapport_core::Invalid;
use rapport_core::fields::FieldError;

/// What can go wrong in the store, in terms the API can turn into a precise answer.
/// Cloneable because one failed group commit is reported to every request in it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("{what} {id} does not exist")]
    NotFound { what: &'static str, id: String },
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("{0}")]
    Conflict(String),
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyMismatch,
    #[error("configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Database(String),
}

impl StoreError {
    pub fn not_found(what: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            what,
            id: id.to_string(),
        }
    }

    /// Maps a database error, turning a unique-constraint violation into a conflict that says
    /// what already exists.
    pub fn from_db(err: sqlx::Error, on_unique: impl FnOnce() -> String) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict(on_unique()),
            _ => Self::Database(err.to_string()),
        }
    }

    /// A stored value the code cannot read back: a bug or a hand-edited database.
    pub fn corrupt(what: impl std::fmt::Display) -> Self {
        Self::Database(format!("unreadable stored value: {what}"))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::RowNotFound => Self::NotFound {
                what: "record",
                id: "?".into(),
            },
            other => Self::Database(other.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        Self::Database(format!("migration failed: {err}"))
    }
}

impl From<FieldError> for StoreError {
    fn from(err: FieldError) -> Self {
        match err {
            FieldError::Unknown(key) => Self::Invalid(Invalid::new(
                format!("custom_fields.{key}"),
                "no such custom field",
            )),
            FieldError::Invalid(inv) => Self::Invalid(inv),
        }
    }
}
