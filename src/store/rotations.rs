//! Key rotations in the store: this node's own (each announcement, with
//! the partners' confirmations as they arrive) and those partners
//! announced to it. Kept for as long as the store, so that exports carry
//! the whole key history.

use super::{Store, StoreError, io};
use crate::protocol::country::Country;
use std::collections::BTreeMap;

/// One key rotation, own or a partner's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RotationRecord {
    /// Whose keys rotated.
    pub country: Country,
    /// The rotation's serial.
    pub serial: u32,
    /// The signed announcement (COSE_Sign bytes).
    pub announcement: serde_bytes::ByteBuf,
    /// When it was made (own) or applied (a partner's), Unix seconds.
    pub at: i64,
    /// For a revocation: from when the old keys are compromised.
    pub compromised_from: Option<i64>,
    /// Own rotations: when the old keys stop being used and accepted
    /// (Unix seconds): the longest overlap of the agreements.
    pub overlap_until: i64,
    /// Own rotations: each partner's signed confirmation, by country.
    pub confirmations: BTreeMap<String, serde_bytes::ByteBuf>,
}

fn key(country: Country, serial: u32) -> Vec<u8> {
    let mut k = country.as_str().as_bytes().to_vec();
    k.extend_from_slice(&serial.to_be_bytes());
    k
}

impl Store {
    /// Records (or updates) a rotation.
    pub fn put_rotation(&self, r: &RotationRecord) -> Result<(), StoreError> {
        let _w = self.writing();
        let mut bytes = Vec::new();
        ciborium::into_writer(r, &mut bytes).map_err(io)?;
        self.rotations
            .insert(key(r.country, r.serial), bytes)
            .map_err(io)?;
        Ok(())
    }

    /// Every rotation recorded, by country then serial.
    pub fn rotations(&self) -> Result<Vec<RotationRecord>, StoreError> {
        let mut out = Vec::new();
        for v in self.rotations.iter().values() {
            let v = v.map_err(io)?;
            out.push(
                ciborium::from_reader(v.as_ref()).map_err(|e| StoreError::Corrupt {
                    what: "key rotation",
                    key: "(scan)".into(),
                    reason: e.to_string(),
                })?,
            );
        }
        Ok(out)
    }

    /// The latest rotation of `country`'s keys.
    pub fn latest_rotation(&self, country: Country) -> Result<Option<RotationRecord>, StoreError> {
        Ok(self
            .rotations()?
            .into_iter()
            .filter(|r| r.country == country)
            .max_by_key(|r| r.serial))
    }
}
