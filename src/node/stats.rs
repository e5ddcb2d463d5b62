//! Anonymised statistics for the national coordinator: counts only, no
//! identifiers, and every count below the threshold suppressed.

use super::Node;
use crate::store::StoreError;
use std::collections::BTreeMap;

/// Counts below this are shown as suppressed.
pub const SUPPRESS_BELOW: usize = 5;

fn band(age: Option<i16>) -> &'static str {
    match age {
        None => "unknown",
        Some(a) if a < 12 => "0-11",
        Some(a) if a < 15 => "12-14",
        Some(a) if a < 18 => "15-17",
        Some(_) => "18+",
    }
}

fn publish(counts: BTreeMap<String, usize>) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    let mut suppressed = 0usize;
    for (k, n) in counts {
        if n < SUPPRESS_BELOW {
            suppressed += 1;
            out.insert(k, serde_json::json!(format!("<{SUPPRESS_BELOW}")));
        } else {
            out.insert(k, serde_json::json!(n));
        }
    }
    serde_json::json!({ "counts": out, "suppressed_cells": suppressed })
}

impl Node {
    /// Counts by partner country, message kind and direction; cases by sex
    /// and age band. No case reference, name or id appears.
    pub fn stats(&self) -> Result<serde_json::Value, StoreError> {
        let today = self.now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
        let mut by_partner: BTreeMap<String, usize> = BTreeMap::new();
        let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
        let mut sex_of: BTreeMap<String, String> = BTreeMap::new();
        for m in self.store.messages(None)? {
            let dir = serde_json::to_value(m.direction)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            *by_partner.entry(format!("{} {dir}", m.peer)).or_default() += 1;
            *by_kind.entry(format!("{} {dir}", m.kind)).or_default() += 1;
            if let Ok(Some(cbor)) = self.store.form(m.id)
                && let Ok(v) = ciborium::from_reader::<ciborium::value::Value, _>(cbor.as_slice())
                && let Ok(j) = serde_json::to_value(&v)
                && let Some(s) = j["child"]["sex"].as_str()
            {
                sex_of.insert(m.case.clone(), s.to_string());
            }
        }
        let mut by_sex_age: BTreeMap<String, usize> = BTreeMap::new();
        let mut cases = 0usize;
        for case in self.store.case_refs()? {
            if let Ok(Some(r)) = self.case_record(&case) {
                cases += 1;
                let sex = sex_of.get(&case).map(String::as_str).unwrap_or("unknown");
                *by_sex_age
                    .entry(format!("{sex} {}", band(r.age(today))))
                    .or_default() += 1;
            }
        }
        Ok(serde_json::json!({
            "generated": self.now().to_string(),
            "threshold": SUPPRESS_BELOW,
            "cases": if cases < SUPPRESS_BELOW { serde_json::json!(format!("<{SUPPRESS_BELOW}")) } else { serde_json::json!(cases) },
            "messages_by_partner": publish(by_partner),
            "messages_by_kind": publish(by_kind),
            "cases_by_sex_and_age": publish(by_sex_age),
        }))
    }
}
