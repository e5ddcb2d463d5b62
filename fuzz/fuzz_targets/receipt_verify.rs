//! A receipt returned by a peer.
#![no_main]
use nfp_node::protocol::envelope::verify_receipt;
use nfp_node::protocol::id::MessageId;
use nfp_node::protocol::keys::SigningKey;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let key = SigningKey::from_seed(&[4; 32]).verifying_key();
    let (Ok(al), Ok(gr)) = ("AL".parse(), "GR".parse()) else { return };
    let _ = verify_receipt(data, al, &[key], gr, MessageId::new(1, [0; 10]), b"envelope");
});
