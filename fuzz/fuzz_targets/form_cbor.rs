//! A decrypted form, decoded and validated for every kind.
#![no_main]
use nfp_node::protocol::forms::{Form, Kind};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let today = jiff::civil::date(2026, 11, 23);
    for kind in Kind::ALL {
        let _ = Form::from_cbor(*kind, data, today);
    }
});
