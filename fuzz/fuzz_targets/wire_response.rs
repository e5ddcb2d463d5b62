//! The response frame a sender reads back from the peer.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = nfp_node::protocol::wire::Response::decode(data);
});
