//! The request frame a node reads from every inbound QUIC stream.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = nfp_node::protocol::wire::Request::decode(data);
});
