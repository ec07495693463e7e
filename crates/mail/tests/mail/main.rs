//! The mail crate's integration tests, one test binary (modules per area).

mod compose;
mod imap;
mod parsing;
mod smtp;
