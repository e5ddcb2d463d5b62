//! The envelope: outer COSE_Encrypt0 and metadata, then (if the fuzzer
//! reaches it) decryption and signature checks with fixed test keys.
#![no_main]
use nfp_node::protocol::envelope::read_outer;
use nfp_node::protocol::keys::{DecryptionKey, SigningKey};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(outer) = read_outer(data) else { return };
    let Ok(me) = DecryptionKey::from_bytes(&[2; 32]) else { return };
    let sender = SigningKey::from_seed(&[1; 32]).verifying_key();
    let (Ok(al), Ok(gr)) = ("AL".parse(), "GR".parse()) else { return };
    let _ = outer.open(al, &me, gr, &[sender]);
});
