//! Agreement signatures: each party's node signs the agreement's canonical
//! hash with its Ed25519 key. An agreement is active only when both
//! parties have signed the very same hash and it is in force.

use crate::protocol::FieldError;
use crate::protocol::agreement::Agreement;
use crate::protocol::card::toml_error;
use crate::protocol::country::Country;
use crate::protocol::keys::{SigningKey, VerifyingKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// The signature file a party writes and sends to the other.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementSignature {
    /// Agreement id.
    pub agreement: String,
    /// Version.
    pub version: u32,
    /// Canonical hash, hex.
    pub hash: String,
    /// The signing party.
    pub party: Country,
    /// Its signing key.
    pub signing_key: VerifyingKey,
    /// Ed25519 signature, base64.
    pub signature: String,
}

fn message(id: &str, version: u32, hash: &[u8; 32]) -> Vec<u8> {
    format!(
        "nfp-node agreement signature v1\n{id}\n{version}\n{}\n",
        hex::encode(hash)
    )
    .into_bytes()
}

impl AgreementSignature {
    /// `party` signs `agreement`.
    pub fn sign(agreement: &Agreement, party: Country, key: &SigningKey) -> AgreementSignature {
        let hash = agreement.hash();
        let sig = key.sign(&message(&agreement.id, agreement.version, &hash));
        AgreementSignature {
            agreement: agreement.id.clone(),
            version: agreement.version,
            hash: hex::encode(hash),
            party,
            signing_key: key.verifying_key(),
            signature: B64.encode(sig),
        }
    }

    /// Parses a signature file.
    pub fn from_toml(text: &str) -> Result<AgreementSignature, FieldError> {
        toml::from_str(text).map_err(|e| toml_error(text, &e))
    }

    /// The file's text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Checks the signature against `agreement` and the party's `key`.
    pub fn verify(&self, agreement: &Agreement, key: &VerifyingKey) -> Result<(), String> {
        let hash = agreement.hash();
        if self.agreement != agreement.id || self.version != agreement.version {
            return Err(format!(
                "signs {} v{}, not {} v{}",
                self.agreement, self.version, agreement.id, agreement.version
            ));
        }
        if self.hash != hex::encode(hash) {
            return Err(format!(
                "signs hash {}, but the agreement's hash is {}",
                self.hash,
                hex::encode(hash)
            ));
        }
        if self.signing_key != *key {
            return Err(format!(
                "is by key {}, not {}'s key {key}",
                self.signing_key, self.party
            ));
        }
        let sig = B64
            .decode(&self.signature)
            .map_err(|_| "signature is not base64".to_string())?;
        key.verify(&message(&self.agreement, self.version, &hash), &sig)
            .map_err(|_| "signature does not verify".to_string())
    }
}

/// Where an agreement stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgreementState {
    /// Both parties signed and it is in force.
    Active,
    /// Not yet signed by these parties.
    AwaitingSignature(Vec<Country>),
    /// Signed, but not in force today (dates or denunciation).
    NotInForce(String),
}

/// The state of `agreement` given which parties' signatures verify.
pub fn state(
    agreement: &Agreement,
    signed_by: &[Country],
    today: jiff::civil::Date,
) -> AgreementState {
    let missing: Vec<Country> = agreement
        .parties
        .iter()
        .copied()
        .filter(|p| !signed_by.contains(p))
        .collect();
    if !missing.is_empty() {
        return AgreementState::AwaitingSignature(missing);
    }
    match agreement.in_force(today) {
        Ok(()) => AgreementState::Active,
        Err(why) => AgreementState::NotInForce(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agreement() -> Agreement {
        Agreement::from_toml(
            "id = \"AL-GR\"\nversion = 1\nparties = [\"AL\", \"GR\"]\nlanguages = [\"en\"]\n",
        )
        .unwrap()
    }

    #[test]
    fn both_parties_must_sign_the_same_hash() {
        let a = agreement();
        let al = SigningKey::from_seed(&[1; 32]);
        let gr = SigningKey::from_seed(&[2; 32]);
        let s_al = AgreementSignature::sign(&a, "AL".parse().unwrap(), &al);
        let s_gr = AgreementSignature::sign(&a, "GR".parse().unwrap(), &gr);
        s_al.verify(&a, &al.verifying_key()).unwrap();
        s_gr.verify(&a, &gr.verifying_key()).unwrap();
        assert!(s_al.verify(&a, &gr.verifying_key()).is_err());
        let again = AgreementSignature::from_toml(&s_al.to_toml()).unwrap();
        assert_eq!(again, s_al);
        // Another version or text does not verify.
        let v2 = Agreement {
            version: 2,
            ..a.clone()
        };
        assert!(s_al.verify(&v2, &al.verifying_key()).is_err());
        let today = jiff::civil::date(2026, 11, 23);
        assert_eq!(
            state(&a, &["AL".parse().unwrap()], today),
            AgreementState::AwaitingSignature(vec!["GR".parse().unwrap()])
        );
        assert_eq!(
            state(&a, &["AL".parse().unwrap(), "GR".parse().unwrap()], today),
            AgreementState::Active
        );
    }
}
