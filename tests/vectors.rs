//! The wire-format test vectors in `proto-spec/vectors/`: sealing the
//! recorded inputs must give exactly the recorded envelope, and opening the
//! recorded envelope must give back the recorded metadata and form.
//!
//! To regenerate after a deliberate format change:
//! `NFP_WRITE_VECTORS=1 cargo test --test vectors`.

use nfp_node::protocol::agreement::Agreement;
use nfp_node::protocol::envelope::{self, Meta, sha256};
use nfp_node::protocol::forms::{Form, Kind};
use nfp_node::protocol::id::MessageId;
use nfp_node::protocol::keys::{DecryptionKey, SigningKey};

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/proto-spec/vectors/envelope-1.json"
);
const FORM: &str = include_str!("../config/forms/social-inquiry-request.json");
/// The agreement the vector was sealed under, kept beside it so that edits
/// to the example configuration do not move the vector.
const AGREEMENT: &str = include_str!("../proto-spec/vectors/envelope-1-agreement.toml");

fn build() -> serde_json::Value {
    let sender_seed = [0x11u8; 32];
    let recipient_key = [0x22u8; 32];
    let ephemeral_seed = [0x33u8; 32];
    let sender = SigningKey::from_seed(&sender_seed);
    let recipient = DecryptionKey::from_bytes(&recipient_key).unwrap();
    let agreement = Agreement::from_toml(AGREEMENT).unwrap();
    let today = jiff::civil::date(2026, 11, 23);
    let form = Form::from_json(Kind::SocialInquiryRequest, FORM.as_bytes(), today).unwrap();
    let form_cbor = form.to_cbor();
    let meta = Meta {
        v: 1,
        id: MessageId::new(1_795_392_000_000, [0x44; 10]),
        to: "AL".parse().unwrap(),
        case: "GR-2026-0001".into(),
        from: "GR".parse().unwrap(),
        kind: Kind::SocialInquiryRequest,
        lang: "en".parse().unwrap(),
        created: 1_795_392_000,
        minor: 0,
        reply_to: None,
        agreement: (
            agreement.id.clone(),
            agreement.version,
            serde_bytes::ByteBuf::from(agreement.hash().to_vec()),
        ),
    };
    let mut meta_cbor = Vec::new();
    ciborium::into_writer(&meta, &mut meta_cbor).unwrap();
    let env = envelope::seal(
        &meta,
        &form_cbor,
        &sender,
        &recipient.public(),
        ephemeral_seed,
    )
    .unwrap();
    serde_json::json!({
        "description": "GR seals a social-inquiry-request to AL under agreement AL-GR v1 (config/agreements/AL-GR.toml) with the example form (config/forms/social-inquiry-request.json). All keys are test keys.",
        "sender_ed25519_seed": hex::encode(sender_seed),
        "sender_ed25519_public": sender.verifying_key().to_string(),
        "recipient_x25519_private": hex::encode(recipient_key),
        "recipient_x25519_public": recipient.public().to_string(),
        "hpke_ephemeral_seed": hex::encode(ephemeral_seed),
        "hpke_ephemeral_note": "the HPKE ephemeral key is DeriveKeyPair(first 32 bytes of SHA-256(seed || be64(0)))",
        "agreement_hash": hex::encode(agreement.hash()),
        "meta": serde_json::to_value(&meta).unwrap(),
        "meta_cbor": hex::encode(&meta_cbor),
        "form_cbor": hex::encode(&form_cbor),
        "envelope": hex::encode(&env),
        "envelope_sha256": hex::encode(sha256(&env)),
    })
}

#[test]
fn envelope_vector_reproduces_and_opens() {
    let built = build();
    if std::env::var("NFP_WRITE_VECTORS").is_ok() {
        std::fs::write(PATH, serde_json::to_string_pretty(&built).unwrap() + "\n").unwrap();
    }
    let text = std::fs::read_to_string(PATH).expect("proto-spec/vectors/envelope-1.json");
    let recorded: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        built, recorded,
        "sealing the recorded inputs no longer gives the recorded envelope"
    );

    // Open the recorded bytes as a receiver would.
    let env = hex::decode(recorded["envelope"].as_str().unwrap()).unwrap();
    let key: [u8; 32] = hex::decode(recorded["recipient_x25519_private"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let recipient = DecryptionKey::from_bytes(&key).unwrap();
    let sender = nfp_node::protocol::keys::VerifyingKey::parse(
        recorded["sender_ed25519_public"].as_str().unwrap(),
    )
    .unwrap();
    let outer = envelope::read_outer(&env).unwrap();
    outer
        .meta
        .check_agreement(&Agreement::from_toml(AGREEMENT).unwrap())
        .unwrap();
    let opened = outer
        .open(
            "AL".parse().unwrap(),
            &recipient,
            "GR".parse().unwrap(),
            &[sender],
        )
        .unwrap();
    assert_eq!(
        hex::encode(&opened.form_cbor),
        recorded["form_cbor"].as_str().unwrap()
    );
    assert_eq!(
        serde_json::to_value(&opened.meta).unwrap(),
        recorded["meta"]
    );
}
