//! The scenario parser must refuse any input with an error, never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sim::scenario::Scenario::parse(text, "fuzz.toml", "fuzz");
    }
});
