//! A key rotation announcement or confirmation from a partner, and the
//! certificate a peer presents in the TLS handshake.
#![no_main]
use nfp_node::protocol::card::PeerCard;
use nfp_node::protocol::keys::{DecryptionKey, SigningKey, SpkiPin};
use nfp_node::protocol::rotation::{Announcement, Confirmation};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (Ok(al), Ok(gr)) = ("AL".parse(), "GR".parse()) else { return };
    let Ok(dk) = DecryptionKey::from_bytes(&[3; 32]) else { return };
    let key = SigningKey::from_seed(&[4; 32]).verifying_key();
    let card = PeerCard {
        country: gr,
        name: "NFP Greece".into(),
        endpoint: "127.0.0.1:1".into(),
        signing_key: key,
        encryption_key: dk.public(),
        tls_spki_sha256: SpkiPin([5; 32]),
        log_origin: None,
        rotation: 0,
        previous: Vec::new(),
    };
    if let Ok(Some(a)) = Announcement::verify_from(data, gr, &card, 0) {
        let _ = a.apply(&card, 1_800_000_000, 3600);
    }
    let _ = Confirmation::verify(data, al, &[key], b"announcement");
    let _ = nfp_node::transport::validity::validity(data);
});
