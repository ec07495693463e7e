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

    /// A stored value the code cannot read back: a bug or a hand-edited database.
    pub fn corrupt(what: impl std::fmt::Display) -> Self {
        Self::Database(format!("unreadable stored value: {what}"))
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
