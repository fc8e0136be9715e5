//! Discord interaction bodies (JSON) through `parse_envelope` and `parse`, which must agree on what they read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signoff_discord::inbound::{parse, parse_envelope};

fuzz_target!(|data: &[u8]| {
    let envelope = parse_envelope(data);
    let plain = parse(data);
    match (envelope, plain) {
        (Ok(envelope), Ok(inbound)) => assert_eq!(envelope.inbound, inbound, "parse and parse_envelope disagree"),
        (Err(e), Err(_)) => {
            let _ = e.to_string();
        }
        (a, b) => panic!("parse_envelope and parse disagree: {a:?} vs {b:?}"),
    }
});
