//! Any bytes at all must parse, and whatever parses must yield threading keys, without a
//! panic: this is the path every received message takes before it reaches the database.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = rapport_mail::parse(data);
    let _ = rapport_mail::thread::ThreadKeys::of(&parsed, &[], b"fuzz-secret");
});
