//! Any bytes into `domain::parse_event`: it never panics, and an event it accepts
//! re-serializes to JSON that parses back to the same event (the serialized form is the
//! contract's shape, so a stored event can be read again unchanged).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = domain::parse_event(data) else {
        return;
    };
    let json = serde_json::to_vec(&event).expect("a parsed event serializes");
    let again = domain::parse_event(&json).unwrap_or_else(|e| {
        panic!(
            "a parsed event must re-parse: {e}\n{}",
            String::from_utf8_lossy(&json)
        )
    });
    assert_eq!(event, again, "re-parsed event differs");
});
