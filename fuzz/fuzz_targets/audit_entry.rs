//! An audit entry read back from a store or an export.
#![no_main]
use nfp_node::protocol::audit::Chain;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = Chain::empty().verify_next(data);
});
