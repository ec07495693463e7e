//! (being written)
use crate::ParsedMail;

pub fn parse(_raw: &[u8]) -> ParsedMail {
    ParsedMail::default()
}
