//! The CDDL specification (`proto-spec/envelope.cddl` and
//! `proto-spec/forms.cddl`) checked against the code, in both directions:
//!
//! - everything the code emits matches the CDDL: every example form, extra
//!   valid variants of the forms, the metadata, sealed envelopes with their
//!   signed bodies (decrypted here with the test keys), frames, receipts and
//!   the agreement-hash input; and every enumeration in the CDDL has exactly
//!   the codes the decoder knows;
//! - every vector says the truth: each case of
//!   `proto-spec/vectors/forms-invalid.json` is refused by the node with the
//!   field it names, and the CDDL verdict on its CBOR is the recorded
//!   `cddl_valid`; the CBOR in `vectors/envelope-1.json` matches its rules.
//!
//! The validator is `cddl-cat` 0.7, which differs from RFC 8610 in two ways
//! the test works around (the test `cddl_cat_limits_are_as_assumed` checks
//! that both still hold):
//!
//! 1. It has no CBOR tags. The spec's `#6.16(` and `#6.18(` are replaced by
//!    a plain `(` before parsing, and the tags are removed from the values
//!    before validating: at any depth, and also inside a byte string that
//!    starts with a tag and holds exactly one CBOR item (how a `.cbor`
//!    payload such as the envelope in a deliver frame carries its tag). What
//!    is checked is thus everything but the tag numbers; the code's own
//!    decoders (coset's `from_tagged_slice`) check those.
//! 2. Its `.regexp` is unanchored (`Regex::is_match`), whereas RFC 8610
//!    section 3.8.3 regular expressions must match the whole text. Every
//!    `.regexp "X"` of the spec is rewritten to `.regexp "^(?:X)$"`.
//!
//! Dates are judged as on 2026-11-23, the day the vectors assume.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cddl_cat::context::BasicContext;
use cddl_cat::ivt::{Literal, Node};
use ciborium::value::Value;
use hpke::Deserializable as _;
use nfp_node::protocol::agreement::Agreement;
use nfp_node::protocol::envelope::{self, HPKE_INFO, Meta, Receipt, sha256};
use nfp_node::protocol::forms::{Form, Kind};
use nfp_node::protocol::id::MessageId;
use nfp_node::protocol::keys::{DecryptionKey, SigningKey};
use nfp_node::protocol::wire::{
    RejectCode, Rejection, Request, Response, Witnessing, canonical_cbor,
};
use serde_json::json;

type Kem = hpke::kem::X25519HkdfSha256;

const SENDER_SEED: [u8; 32] = [0x11; 32];
const RECIPIENT_KEY: [u8; 32] = [0x22; 32];
const EPHEMERAL_SEED: [u8; 32] = [0x33; 32];
const AGREEMENT: &str = include_str!("../config/agreements/AL-GR.toml");

fn today() -> jiff::civil::Date {
    jiff::civil::date(2026, 11, 23)
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn spec_dir() -> PathBuf {
    root().join("proto-spec")
}

// ---------------------------------------------------------------------
// Loading the spec and validating against it

/// The spec as cddl-cat can read it: both files, tags replaced, regular
/// expressions anchored.
fn spec_text() -> String {
    let mut text = String::new();
    for file in ["envelope.cddl", "forms.cddl"] {
        let path = spec_dir().join(file);
        text.push_str(&std::fs::read_to_string(&path).expect("spec file"));
        text.push('\n');
    }
    let text = text
        .replace("#6.16(", "(")
        .replace("#6.18(", "(")
        .replace("#6.98(", "(");
    assert!(
        !text.contains("#6."),
        "the spec uses a CBOR tag the test does not know how to strip"
    );
    anchor_regexps(&text)
}

/// Rewrites every `.regexp "X"` to `.regexp "^(?:X)$"`. The spec's
/// expressions contain no escaped quote (no backslash at all).
fn anchor_regexps(text: &str) -> String {
    const OP: &str = ".regexp \"";
    let mut out = String::with_capacity(text.len() + 256);
    let mut rest = text;
    while let Some(at) = rest.find(OP) {
        let start = at + OP.len();
        let len = rest[start..].find('"').expect("closing quote of a regexp");
        let pattern = &rest[start..start + len];
        assert!(!pattern.contains('\\'), "escape in {pattern:?}");
        out.push_str(&rest[..start]);
        out.push_str("^(?:");
        out.push_str(pattern);
        out.push_str(")$");
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    out
}

struct Spec {
    ctx: BasicContext,
}

impl Spec {
    fn load() -> Spec {
        let rules = cddl_cat::flatten::flatten_from_str(&spec_text())
            .unwrap_or_else(|e| panic!("the CDDL does not parse: {e}"));
        Spec {
            ctx: BasicContext::new(rules),
        }
    }

    fn rule(&self, name: &str) -> &cddl_cat::ivt::RuleDef {
        self.ctx
            .rules
            .get(name)
            .unwrap_or_else(|| panic!("the CDDL has no rule {name:?}"))
    }

    /// Validates one CBOR data item (nothing after it) against `rule`.
    fn check(&self, rule: &str, cbor: &[u8]) -> Result<(), String> {
        let mut rest = cbor;
        let value: Value =
            ciborium::from_reader(&mut rest).map_err(|e| format!("not CBOR: {e}"))?;
        if !rest.is_empty() {
            return Err(format!("{} bytes after the data item", rest.len()));
        }
        self.check_value(rule, &untag(value))
    }

    fn check_value(&self, rule: &str, value: &Value) -> Result<(), String> {
        cddl_cat::cbor::validate_cbor(self.rule(rule), value, &self.ctx)
            .map_err(|e| format!("{rule}: {e}"))
    }

    #[track_caller]
    fn assert_valid(&self, rule: &str, cbor: &[u8], what: &str) {
        if let Err(e) = self.check(rule, cbor) {
            panic!("{what} does not match rule {rule}: {e}");
        }
    }

    #[track_caller]
    fn assert_invalid(&self, rule: &str, cbor: &[u8], what: &str) {
        assert!(
            self.check(rule, cbor).is_err(),
            "{what} should not match rule {rule}"
        );
    }

    /// The text literals a rule is a choice of, following rule references.
    fn text_choices(&self, rule: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.collect_text(&self.rule(rule).node, &mut out);
        out
    }

    fn collect_text(&self, node: &Node, out: &mut BTreeSet<String>) {
        match node {
            Node::Literal(Literal::Text(t)) => {
                out.insert(t.clone());
            }
            Node::Choice(c) => c.options.iter().for_each(|o| self.collect_text(o, out)),
            Node::Rule(r) => self.collect_text(&self.rule(&r.name).node, out),
            other => panic!("not a choice of text literals: {other:?}"),
        }
    }

    /// The names of the rules a rule is a choice of.
    fn rule_choices(&self, rule: &str) -> BTreeSet<String> {
        match &self.rule(rule).node {
            Node::Choice(c) => c
                .options
                .iter()
                .map(|o| match o {
                    Node::Rule(r) => r.name.clone(),
                    other => panic!("{rule}: not a rule reference: {other:?}"),
                })
                .collect(),
            other => panic!("{rule} is not a choice: {other:?}"),
        }
    }
}

/// Removes CBOR tags, at every depth and inside byte strings that hold one
/// tagged CBOR item.
fn untag(v: Value) -> Value {
    match v {
        Value::Tag(_, inner) => untag(*inner),
        Value::Array(items) => Value::Array(items.into_iter().map(untag).collect()),
        Value::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (untag(k), untag(v)))
                .collect(),
        ),
        Value::Bytes(b) => Value::Bytes(untag_embedded(b)),
        other => other,
    }
}

fn untag_embedded(bytes: Vec<u8>) -> Vec<u8> {
    // Major type 6 (a tag) in the first byte.
    if bytes.first().is_none_or(|b| b >> 5 != 6) {
        return bytes;
    }
    let mut rest = bytes.as_slice();
    match ciborium::from_reader::<Value, _>(&mut rest) {
        Ok(inner) if rest.is_empty() => cbor(&untag(inner)),
        _ => bytes,
    }
}

fn cbor<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).unwrap();
    out
}

fn kind(name: &str) -> Kind {
    Kind::parse(name).unwrap_or_else(|| panic!("unknown kind {name:?}"))
}

fn example(kind: Kind) -> serde_json::Value {
    let path = root().join(format!("config/forms/{kind}.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

fn form_from(kind: Kind, v: &serde_json::Value) -> Form {
    Form::from_json(kind, &serde_json::to_vec(v).unwrap(), today())
        .unwrap_or_else(|e| panic!("{kind} form does not validate: {e:?}\n{v:#}"))
}

// ---------------------------------------------------------------------
// The validator itself

#[test]
fn cddl_cat_limits_are_as_assumed() {
    // Tags do not parse: hence the rewriting in spec_text().
    assert!(cddl_cat::flatten::flatten_from_str("t = #6.16(tstr)").is_err());
    // ... nor validate as values: hence untag().
    let ctx = BasicContext::new(cddl_cat::flatten::flatten_from_str("t = any").unwrap());
    let tagged = Value::Tag(16, Box::new(Value::Text("x".into())));
    assert!(cddl_cat::cbor::validate_cbor(&ctx.rules["t"], &tagged, &ctx).is_err());
    // .regexp is unanchored: hence anchor_regexps().
    let raw = "c = tstr .regexp \"[A-Z]{2}\"";
    let three = cbor(&"ABC");
    assert!(cddl_cat::validate_cbor_bytes("c", raw, &three).is_ok());
    assert!(cddl_cat::validate_cbor_bytes("c", &anchor_regexps(raw), &three).is_err());
    assert!(cddl_cat::validate_cbor_bytes("c", &anchor_regexps(raw), &cbor(&"AB")).is_ok());
}

#[test]
fn the_regular_expressions_say_what_the_prose_says() {
    let spec = Spec::load();
    let cases: &[(&str, &str, bool)] = &[
        ("full-date", "2026-11-23", true),
        ("full-date", "20261123", false),
        ("full-date", "2026-11-23T00:00:00Z", false),
        ("date-time", "2026-11-22T18:30:00Z", true),
        ("date-time", "2026-11-23T08:15:00.123456789Z", true),
        ("date-time", "2026-11-23T09:15:00+01:00", true),
        ("date-time", "2026-11-22T18:30:00", false),
        ("date-time", "2026-11-22", false),
        ("country", "AL", true),
        ("country", "ALB", false),
        ("country", "al", false),
        ("language", "sq", true),
        ("language", "sq-AL", false),
        ("case-ref", "GR-2026-0001", true),
        ("case-ref", &"a".repeat(64), true),
        ("case-ref", &"a".repeat(65), false),
        ("case-ref", "", false),
        ("case-ref", "GR 2026", false),
        ("message-id", "01KAB3XG7M2W9Q4R8T5V6Y0ZCD", true),
        ("message-id", "01kab3xg7m2w9q4r8t5v6y0zcd", true),
        ("message-id", "81KAB3XG7M2W9Q4R8T5V6Y0ZCD", false),
        ("message-id", "01KAB3XG7M2W9Q4R8T5V6Y0ZC", false),
        ("message-id", "01KAB3XG7M2W9Q4R8T5V6Y0ZCU", false),
    ];
    for (rule, text, ok) in cases {
        assert_eq!(
            spec.check(rule, &cbor(text)).is_ok(),
            *ok,
            "{rule} on {text:?}"
        );
    }
    // Message ids made by the code match.
    for ms in [0, 1_795_392_000_000, (1 << 48) - 1] {
        let id = MessageId::new(ms, [0xa5; 10]).to_string();
        spec.assert_valid("message-id", &cbor(&id), &id);
    }
}

// ---------------------------------------------------------------------
// Kinds and forms

#[test]
fn every_kind_has_its_rule_and_nothing_else_is_a_kind() {
    let spec = Spec::load();
    let ours: BTreeSet<String> = Kind::ALL.iter().map(|k| k.to_string()).collect();
    assert_eq!(ours.len(), 13);
    assert_eq!(spec.text_choices("kind"), ours, "rule kind");
    assert_eq!(spec.rule_choices("form"), ours, "rule form");
    for k in &ours {
        spec.rule(k);
    }
}

#[test]
fn every_example_form_matches_its_rule() {
    let spec = Spec::load();
    for &k in Kind::ALL {
        let form = form_from(k, &example(k));
        let bytes = form.to_cbor();
        assert!(!bytes.is_empty());
        let what = format!("config/forms/{k}.json as CBOR");
        spec.assert_valid(k.as_str(), &bytes, &what);
        spec.assert_valid("form", &bytes, &what);
        // And it matches no other kind's rule, so the rules are not so loose
        // that one kind's form passes for another's.
        for &other in Kind::ALL.iter().filter(|&&o| o != k) {
            spec.assert_invalid(other.as_str(), &bytes, &what);
        }
    }
}

/// Valid forms beyond the examples: other case-update events, and forms
/// with the optional keys left out or the other alternative taken.
fn valid_variants() -> Vec<(&'static str, Kind, serde_json::Value)> {
    let mut out = Vec::new();
    let mut v = example(Kind::SocialInquiryRequest);
    let child = v["child"].as_object_mut().unwrap();
    child.remove("date_of_birth");
    child.insert("birth_year".into(), json!(2012));
    child.insert("aliases".into(), json!(["Demo"]));
    v.as_object_mut().unwrap().remove("family");
    out.push(("sir-birth-year", Kind::SocialInquiryRequest, v));

    let mut v = example(Kind::SocialInquiryReport);
    let part1 = v["part1"].as_object_mut().unwrap();
    part1.insert("family_refused_visit".into(), json!(true));
    for key in [
        "household",
        "family_risks",
        "protection_concerns",
        "support_organisations",
    ] {
        part1.remove(key);
    }
    part1.insert("willing_to_take_back".into(), json!("unknown"));
    part1.insert("suitability".into(), json!("undetermined"));
    v["part2"]
        .as_object_mut()
        .unwrap()
        .remove("support_organisations");
    out.push(("sirep-refused-visit", Kind::SocialInquiryReport, v));
    let mut v = example(Kind::SocialInquiryReport);
    v["part1"]["household"][0] = json!({
        "relationship": "step-parent", "given_names": "Example",
        "family_name": "Demo-Step", "birth_year": 1980
    });
    out.push(("sirep-birth-year", Kind::SocialInquiryReport, v));

    let mut v = example(Kind::SecurityAssessmentRequest);
    v.as_object_mut().unwrap().remove("persons_of_concern");
    out.push(("sareq-no-persons", Kind::SecurityAssessmentRequest, v));

    let mut v = example(Kind::SecurityAssessmentReport);
    v.as_object_mut().unwrap().remove("protection_needed");
    v["recommendation"] = json!("return-not-advised");
    v["trafficker_threats"]["level"] = json!("high");
    out.push(("sarep-not-advised", Kind::SecurityAssessmentReport, v));

    let mut v = example(Kind::ContinuityOfCare);
    let o = v.as_object_mut().unwrap();
    for key in ["identity_document", "services", "legal_proceedings"] {
        o.remove(key);
    }
    o.insert("health".into(), json!({}));
    o.insert(
        "protection_concerns".into(),
        json!({"other": "MADE-UP DEMO DATA. None known."}),
    );
    o.insert(
        "care_history".into(),
        json!([{"placement_type": "other", "from": "2026-03-10",
                "notes": "MADE-UP DEMO DATA. A supervised flat run by a charity."}]),
    );
    out.push(("coc-minimal", Kind::ContinuityOfCare, v));

    let mut v = example(Kind::MissingChildNotice);
    let o = v.as_object_mut().unwrap();
    o.remove("police_reference");
    o.remove("risk_notes");
    o.insert("missing_from".into(), json!({"placement_type": "family"}));
    o.insert("immediate_risk".into(), json!("low"));
    out.push(("mcn-minimal", Kind::MissingChildNotice, v));

    let v = json!({"status": "sighted", "when": "2026-11-23T09:15:00.25+01:00",
                   "location": "MADE-UP DEMO DATA. Market square."});
    out.push(("mcu-fraction-offset", Kind::MissingChildUpdate, v));
    let v = json!({"status": "missing", "when": "2026-11-22T20:00:00Z"});
    out.push(("mcu-minimal", Kind::MissingChildUpdate, v));

    let mut v = example(Kind::FollowUpRequest);
    v["follow_up"] = json!("ad-hoc");
    out.push(("furq-ad-hoc", Kind::FollowUpRequest, v));
    let mut v = example(Kind::FollowUpRequest);
    v.as_object_mut().unwrap().remove("questions");
    v["follow_up"] = json!("month-18");
    out.push(("furq-no-questions", Kind::FollowUpRequest, v));

    let mut v = example(Kind::FollowUpReport);
    v.as_object_mut().unwrap().remove("proposals");
    v.as_object_mut().unwrap().remove("extra_resources");
    v["score_card"][7]["score"] = json!("red-flag");
    out.push(("furep-red-flag", Kind::FollowUpReport, v));

    out.push((
        "cu-guardian",
        Kind::CaseUpdate,
        json!({"type": "guardian-appointed", "guardian_type": "temporary-guardian",
               "authority": "Demo District Court (fictional)",
               "appointed_on": "2026-03-12", "may_inform_parents": false}),
    ));
    out.push((
        "cu-decision",
        Kind::CaseUpdate,
        json!({"type": "decision", "decision": "return",
               "best_interests_determination_held": true,
               "panel": "Demo Best Interests Panel (fictional)",
               "child_view": "MADE-UP DEMO DATA. She wants to go home after the school year."}),
    ));
    out.push((
        "cu-return-agreement",
        Kind::CaseUpdate,
        json!({"type": "return-agreement", "position": "agree"}),
    ));
    out.push((
        "cu-legal",
        Kind::CaseUpdate,
        json!({"type": "legal-proceedings-update", "stage": "trial",
               "summary": "MADE-UP DEMO DATA. The hearing is set for March."}),
    ));

    let mut v = example(Kind::Acknowledgement);
    v.as_object_mut().unwrap().remove("notes");
    out.push(("ack-minimal", Kind::Acknowledgement, v));

    out.push((
        "closure-minimal",
        Kind::CaseClosure,
        json!({"stage": "confirmation", "reason": "transferred"}),
    ));
    out
}

#[test]
fn valid_variants_match_their_rule() {
    let spec = Spec::load();
    for (name, k, v) in valid_variants() {
        let bytes = form_from(k, &v).to_cbor();
        spec.assert_valid(k.as_str(), &bytes, name);
        spec.assert_valid("form", &bytes, name);
    }
}

/// Where each enumeration of the CDDL is used: kind, base form (an example
/// or a valid variant), JSON pointer, CDDL rule.
const ENUMS: &[(&str, &str, &str, &str)] = &[
    ("social-inquiry-request", "", "/child/sex", "sex"),
    ("social-inquiry-request", "", "/reason", "inquiry-reason"),
    (
        "social-inquiry-request",
        "",
        "/return_is_option",
        "return-option",
    ),
    (
        "social-inquiry-request",
        "",
        "/family/0/relationship",
        "relationship",
    ),
    (
        "social-inquiry-report",
        "",
        "/part1/author/role",
        "officer-role",
    ),
    (
        "social-inquiry-report",
        "",
        "/part1/household/0/relationship",
        "household-relationship",
    ),
    (
        "social-inquiry-report",
        "",
        "/part1/basic_needs/ability",
        "ability",
    ),
    (
        "social-inquiry-report",
        "",
        "/part1/willing_to_take_back",
        "willingness",
    ),
    (
        "social-inquiry-report",
        "",
        "/part1/protection_concerns/0",
        "protection-concern",
    ),
    (
        "social-inquiry-report",
        "",
        "/part1/suitability",
        "suitability",
    ),
    (
        "social-inquiry-report",
        "",
        "/part2/suitability",
        "suitability",
    ),
    (
        "social-inquiry-report",
        "",
        "/part2/education_and_work/availability",
        "availability",
    ),
    (
        "security-assessment-request",
        "",
        "/persons_of_concern/0/relationship",
        "concern-relationship",
    ),
    (
        "security-assessment-report",
        "",
        "/trafficker_threats/level",
        "risk-level",
    ),
    (
        "security-assessment-report",
        "",
        "/recommendation",
        "recommendation",
    ),
    (
        "continuity-of-care",
        "",
        "/identity_document/document_type",
        "document-type",
    ),
    (
        "continuity-of-care",
        "",
        "/care_history/0/placement_type",
        "placement-type",
    ),
    (
        "continuity-of-care",
        "",
        "/services/0/service_type",
        "service-type",
    ),
    (
        "continuity-of-care",
        "",
        "/health/care/0/area",
        "health-area",
    ),
    (
        "continuity-of-care",
        "",
        "/legal_proceedings/0/role",
        "proceeding-role",
    ),
    (
        "continuity-of-care",
        "",
        "/legal_proceedings/0/status",
        "proceeding-status",
    ),
    (
        "missing-child-notice",
        "",
        "/missing_from/placement_type",
        "missing-from-placement",
    ),
    (
        "missing-child-notice",
        "",
        "/immediate_risk",
        "immediate-risk",
    ),
    ("missing-child-update", "", "/status", "missing-status"),
    ("follow-up-request", "", "/follow_up", "follow-up-point"),
    ("follow-up-report", "", "/period", "follow-up-point"),
    ("follow-up-report", "", "/plan_in_place", "yes-no-unknown"),
    ("follow-up-report", "", "/progress", "progress"),
    (
        "follow-up-report",
        "",
        "/score_card/0/domain",
        "score-domain",
    ),
    ("follow-up-report", "", "/score_card/0/score", "score"),
    (
        "case-update",
        "",
        "/accompanying_adult/role",
        "officer-role",
    ),
    (
        "case-update",
        "cu-guardian",
        "/guardian_type",
        "guardian-type",
    ),
    (
        "case-update",
        "cu-decision",
        "/decision",
        "decision-outcome",
    ),
    (
        "case-update",
        "cu-return-agreement",
        "/position",
        "return-position",
    ),
    ("case-update", "cu-legal", "/stage", "legal-stage"),
    (
        "acknowledgement",
        "",
        "/responsible_officer/role",
        "officer-role",
    ),
    ("case-closure", "", "/stage", "closure-stage"),
    ("case-closure", "", "/reason", "closure-reason"),
];

/// The codes the decoder accepts at `pointer`, read from its error message
/// for a code it does not know ("unknown variant `x`, expected one of `a`,
/// `b`" or "expected `a` or `b`").
fn decoder_codes(k: Kind, base: &serde_json::Value, pointer: &str) -> BTreeSet<String> {
    let mut v = base.clone();
    *v.pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{k}: no {pointer}")) = json!("no such code");
    let errors = Form::from_json(k, &serde_json::to_vec(&v).unwrap(), today())
        .expect_err("an unknown code is refused");
    let message = &errors[0].message;
    let expected = message
        .split_once("expected")
        .unwrap_or_else(|| panic!("{k} {pointer}: {message}"))
        .1;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn every_enumeration_has_exactly_the_decoders_codes() {
    let spec = Spec::load();
    let variants = valid_variants();
    let mut rules_seen = BTreeSet::new();
    for &(kind_name, base_name, pointer, rule) in ENUMS {
        let k = kind(kind_name);
        let base = if base_name.is_empty() {
            example(k)
        } else {
            variants
                .iter()
                .find(|(n, _, _)| *n == base_name)
                .map(|(_, _, v)| v.clone())
                .unwrap()
        };
        let ours = decoder_codes(k, &base, pointer);
        assert_eq!(
            spec.text_choices(rule),
            ours,
            "CDDL rule {rule} vs the decoder at {kind_name} {pointer}"
        );
        rules_seen.insert(rule);
    }
    // The case-update event names are the rule names of its choices.
    let events = decoder_codes(Kind::CaseUpdate, &example(Kind::CaseUpdate), "/type");
    assert_eq!(spec.rule_choices("case-update"), events);
    // Every enumeration rule of forms.cddl was compared.
    let forms = std::fs::read_to_string(spec_dir().join("forms.cddl")).unwrap();
    let lines: Vec<&str> = forms.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with([' ', ';']) {
            continue;
        }
        let Some((name, def)) = line.split_once(" =") else {
            continue;
        };
        let def = match def.trim() {
            "" => lines.get(i + 1).map_or("", |l| l.trim()),
            d => d,
        };
        if def.starts_with('"') {
            assert!(
                rules_seen.contains(name),
                "enumeration {name} is not in ENUMS"
            );
        }
    }
}

// ---------------------------------------------------------------------
// Invalid vectors

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InvalidCase {
    kind: String,
    description: String,
    form: serde_json::Value,
    error_field: String,
    cddl_valid: bool,
}

#[test]
fn every_invalid_vector_fails_as_it_says() {
    let spec = Spec::load();
    let text = std::fs::read_to_string(spec_dir().join("vectors/forms-invalid.json")).unwrap();
    let cases: Vec<InvalidCase> = serde_json::from_str(&text).unwrap();
    assert!(cases.len() >= 15, "{} cases", cases.len());
    let kinds: BTreeSet<&str> = cases.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(kinds.len(), Kind::ALL.len(), "every kind has a case");
    assert!(cases.iter().any(|c| c.cddl_valid) && cases.iter().any(|c| !c.cddl_valid));

    for (i, c) in cases.iter().enumerate() {
        let k = kind(&c.kind);
        let what = format!("case {i} ({}: {})", c.kind, c.description);
        // The node refuses the operator's JSON, naming the field.
        let errors =
            Form::from_json(k, &serde_json::to_vec(&c.form).unwrap(), today()).expect_err(&what);
        assert!(
            errors.iter().all(|e| e.field == c.error_field),
            "{what}: expected field {:?}, got {errors:?}",
            c.error_field
        );
        // The CDDL verdict on the CBOR of the same form.
        let bytes = cbor(&c.form);
        let verdict = spec.check(&c.kind, &bytes);
        assert_eq!(
            verdict.is_ok(),
            c.cddl_valid,
            "{what}: CDDL says {verdict:?}"
        );
        // A receiver refuses the CBOR too. Validation errors carry the same
        // field; decoding errors from CBOR carry no path.
        let errors = Form::from_cbor(k, &bytes, today()).expect_err(&what);
        for e in &errors {
            assert!(
                e.field == c.error_field || e.field == "(document)",
                "{what}: from CBOR {errors:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------
// Envelopes, frames, receipts, agreements

fn agreement() -> Agreement {
    Agreement::from_toml(AGREEMENT).unwrap()
}

fn meta_for(k: Kind, minor: u32, reply_to: Option<MessageId>) -> Meta {
    let a = agreement();
    Meta {
        v: envelope::VERSION,
        id: MessageId::new(1_795_392_000_000, [0x44; 10]),
        to: "AL".parse().unwrap(),
        case: "GR-2026-0001".into(),
        from: "GR".parse().unwrap(),
        kind: k,
        lang: "sq".parse().unwrap(),
        minor,
        created: 1_795_392_000,
        reply_to,
        agreement: (
            a.id.clone(),
            a.version,
            serde_bytes::ByteBuf::from(a.hash().to_vec()),
        ),
    }
}

/// Decrypts an envelope sealed to `RECIPIENT_KEY`: the tagged COSE_Sign1.
fn decrypt(env: &[u8]) -> Vec<u8> {
    use coset::TaggedCborSerializable as _;
    let cose = coset::CoseEncrypt0::from_tagged_slice(env).unwrap();
    let enc = cose
        .unprotected
        .rest
        .iter()
        .find_map(|(label, v)| match (label, v) {
            (coset::Label::Int(envelope::LABEL_HPKE_ENC), Value::Bytes(b)) => Some(b.clone()),
            _ => None,
        })
        .unwrap();
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(&RECIPIENT_KEY).unwrap();
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&enc).unwrap();
    cose.decrypt_ciphertext(
        b"",
        || "no ciphertext".to_string(),
        |ct, aad| {
            hpke::single_shot_open::<hpke::aead::ChaCha20Poly1305, hpke::kdf::HkdfSha256, Kem>(
                &hpke::OpModeR::Base,
                &sk,
                &enc,
                HPKE_INFO,
                ct,
                aad,
            )
            .map_err(|e| e.to_string())
        },
    )
    .unwrap()
}

#[test]
fn sealed_envelopes_of_every_kind_match_from_frame_to_form() {
    let spec = Spec::load();
    let sender = SigningKey::from_seed(&SENDER_SEED);
    let recipient = DecryptionKey::from_bytes(&RECIPIENT_KEY).unwrap().public();
    for (i, &k) in Kind::ALL.iter().enumerate() {
        // Alternate the optional keys of meta.
        let minor = u32::try_from(i % 3).unwrap();
        let reply_to = (i % 2 == 1).then(|| MessageId::new(1_795_000_000_000, [9; 10]));
        let meta = meta_for(k, minor, reply_to);
        let meta_cbor = cbor(&meta);
        spec.assert_valid("meta", &meta_cbor, &format!("meta of {k}"));
        let form = form_from(k, &example(k)).to_cbor();
        let env = envelope::seal(&meta, &form, &sender, &recipient, EPHEMERAL_SEED).unwrap();
        // The envelope as it would be read back says the same.
        assert_eq!(envelope::read_outer(&env).unwrap().meta, meta);
        spec.assert_valid("envelope", &env, &format!("envelope of {k}"));
        let frame = Request::Deliver(env.clone()).encode().unwrap();
        spec.assert_valid("request", &frame, &format!("deliver frame of {k}"));
        spec.assert_valid("deliver-request", &frame, &format!("deliver frame of {k}"));
        // The same envelope with witnessing data: a first offer (no proof)
        // and one with a consistency proof.
        for proof in [vec![], vec![[0x77; 32], [0x78; 32]]] {
            let witnessing = Witnessing {
                checkpoint: checkpoint_note(),
                from_size: proof.len() as u64,
                proof,
            };
            let frame = Request::DeliverWitnessed(env.clone(), witnessing)
                .encode()
                .unwrap();
            let what = format!("witnessed deliver frame of {k}");
            spec.assert_valid("request", &frame, &what);
            spec.assert_valid("deliver-request", &frame, &what);
        }
        // Inside: the signed body, whose form bytes match the form rule.
        let sign1 = decrypt(&env);
        spec.assert_valid("body-sign1", &sign1, &format!("signed body of {k}"));
    }
}

/// A checkpoint note as a node signs it (GR's log of 5 entries).
fn checkpoint_note() -> String {
    use nfp_node::protocol::audit::{Checkpoint, sign_checkpoint};
    let origin = "nfp-node/GR/0a1b2c3d";
    let cp = Checkpoint {
        origin: origin.into(),
        size: 5,
        root: [0x66; 32],
    };
    sign_checkpoint(&cp, origin, &SigningKey::from_seed(&SENDER_SEED)).unwrap()
}

#[test]
fn witnessing_data_rides_on_the_frames() {
    let spec = Spec::load();
    // A proof hash that is not 32 bytes, or a checkpoint that is not text,
    // does not match (the node refuses such a frame as malformed).
    let env = Value::Bytes(vec![0xd0, 0x80]);
    let frame = |checkpoint: Value, proof: Vec<Value>| {
        cbor(&Value::Array(vec![
            Value::Integer(1.into()),
            env.clone(),
            checkpoint,
            Value::Array(proof),
        ]))
    };
    let note = Value::Text(checkpoint_note());
    assert!(Request::decode(&frame(note.clone(), vec![Value::Bytes(vec![1; 31])])).is_err());
    spec.assert_invalid(
        "deliver-request",
        &frame(note.clone(), vec![Value::Bytes(vec![1; 31])]),
        "a 31-byte proof hash",
    );
    spec.assert_invalid(
        "deliver-request",
        &frame(Value::Bytes(vec![1]), vec![]),
        "a checkpoint as bytes",
    );
    // A cosignature line comes back with the receipt.
    let signer = SigningKey::from_seed(&[0x55; 32]);
    let receipt = Receipt {
        v: envelope::VERSION,
        id: MessageId::new(1_795_392_000_000, [0x44; 10]),
        to: "GR".parse().unwrap(),
        due: Some(1_797_984_005),
        from: "AL".parse().unwrap(),
        envelope: serde_bytes::ByteBuf::from(sha256(b"an envelope").to_vec()),
        received: 1_795_392_005,
    };
    let signed = envelope::sign_receipt(&receipt, &signer).unwrap();
    let cp = nfp_node::protocol::audit::verify_checkpoint(
        &checkpoint_note(),
        "nfp-node/GR/0a1b2c3d",
        &SigningKey::from_seed(&SENDER_SEED).verifying_key(),
    )
    .unwrap();
    let line =
        nfp_node::protocol::audit::cosign(&cp, "nfp-node/AL/4e5f6a7b", &signer, 1_795_392_006)
            .unwrap();
    let frame = Response::ReceiptCosigned(signed.clone(), line)
        .encode()
        .unwrap();
    spec.assert_valid("receipt-response", &frame, "receipt with a cosignature");
    spec.assert_valid("response", &frame, "receipt with a cosignature");
    let bad = cbor(&Value::Array(vec![
        Value::Integer(1.into()),
        Value::Bytes(signed),
        Value::Bytes(vec![1]),
    ]));
    spec.assert_invalid("receipt-response", &bad, "a cosignature as bytes");
}

/// `meta` (as CBOR) with the key `key` set to `value`, or removed when
/// `value` is `None`.
fn meta_with(meta: &Value, key: &str, value: Option<Value>) -> Vec<u8> {
    let mut meta = meta.clone();
    let entries = meta.as_map_mut().unwrap();
    let at = entries.iter().position(|(k, _)| k.as_text() == Some(key));
    match (at, value) {
        (Some(i), Some(v)) => entries[i].1 = v,
        (None, Some(v)) => entries.push((Value::Text(key.into()), v)),
        (Some(i), None) => {
            entries.remove(i);
        }
        (None, None) => {}
    }
    cbor(&meta)
}

#[test]
fn the_meta_rule_is_closed_and_strict() {
    let spec = Spec::load();
    let bytes = cbor(&meta_for(Kind::CaseClosure, 0, None));
    let meta: Value = ciborium::from_reader(bytes.as_slice()).unwrap();
    // minor 0 is left out by the sender ...
    let keys: Vec<&str> = meta
        .as_map()
        .unwrap()
        .iter()
        .map(|(k, _)| k.as_text().unwrap())
        .collect();
    assert!(!keys.contains(&"minor"), "{keys:?}");
    // ... but an explicit 0 is still valid (readers take it as 0).
    let int = |i: i64| Some(Value::Integer(i.into()));
    let text = |t: &str| Some(Value::Text(t.into()));
    spec.assert_valid("meta", &meta_with(&meta, "minor", int(0)), "minor 0");
    spec.assert_valid("meta", &meta_with(&meta, "minor", int(7)), "minor 7");
    let bad = [
        ("v", int(2), "v 2"),
        ("priority", text("high"), "an unknown key"),
        ("kind", text("referral"), "an unknown kind"),
        ("minor", int(-1), "a negative minor"),
        ("created", None, "no created"),
        ("lang", text("eng"), "a three-letter language"),
    ];
    for (key, value, what) in bad {
        spec.assert_invalid("meta", &meta_with(&meta, key, value), what);
    }
}

#[test]
fn receipts_and_responses_match() {
    let spec = Spec::load();
    let signer = SigningKey::from_seed(&[0x55; 32]);
    let receipt = Receipt {
        v: envelope::VERSION,
        id: MessageId::new(1_795_392_000_000, [0x44; 10]),
        to: "GR".parse().unwrap(),
        due: None,
        from: "AL".parse().unwrap(),
        envelope: serde_bytes::ByteBuf::from(sha256(b"an envelope").to_vec()),
        received: 1_795_392_005,
    };
    spec.assert_valid("receipt", &cbor(&receipt), "receipt payload");
    let with_due = Receipt {
        due: Some(1_797_984_005),
        ..receipt.clone()
    };
    spec.assert_valid(
        "receipt",
        &cbor(&with_due),
        "receipt payload with a due time",
    );
    let signed = envelope::sign_receipt(&receipt, &signer).unwrap();
    spec.assert_valid("receipt-sign1", &signed, "signed receipt");
    let frame = Response::Receipt(signed).encode().unwrap();
    spec.assert_valid("receipt-response", &frame, "receipt response");
    spec.assert_valid("response", &frame, "receipt response");

    let codes: BTreeSet<String> = RejectCode::ALL
        .iter()
        .map(|c| c.as_str().to_string())
        .collect();
    assert_eq!(spec.text_choices("known-reject-code"), codes);
    for &code in RejectCode::ALL {
        let frame = Response::Reject(Rejection {
            code,
            message: format!("refused: {}", code.as_str()),
        })
        .encode()
        .unwrap();
        let what = format!("rejection {}", code.as_str());
        spec.assert_valid("reject-response", &frame, &what);
        spec.assert_valid("response", &frame, &what);
    }
}

#[test]
fn agreement_hash_input_matches() {
    let spec = Spec::load();
    let bytes = canonical_cbor(&agreement()).unwrap();
    spec.assert_valid("agreement-for-hash", &bytes, "AL-GR.toml");
    // An SLA for every kind.
    let mut toml = String::from(
        "id = \"AL-GR\"\nversion = 2\nparties = [\"AL\", \"GR\"]\nlanguages = [\"en\"]\n",
    );
    for k in Kind::ALL {
        toml.push_str(&format!("[sla.{k}]\nrespond_within = \"5 working days\"\n"));
    }
    let a = Agreement::from_toml(&toml).unwrap();
    let bytes = canonical_cbor(&a).unwrap();
    spec.assert_valid("agreement-for-hash", &bytes, "an SLA for every kind");
}

#[test]
fn the_envelope_vector_matches() {
    let spec = Spec::load();
    let text = std::fs::read_to_string(spec_dir().join("vectors/envelope-1.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let hex_of = |key: &str| hex::decode(v[key].as_str().unwrap()).unwrap();
    spec.assert_valid("meta", &hex_of("meta_cbor"), "meta_cbor");
    spec.assert_valid("social-inquiry-request", &hex_of("form_cbor"), "form_cbor");
    spec.assert_valid("form", &hex_of("form_cbor"), "form_cbor");
    let env = hex_of("envelope");
    spec.assert_valid("envelope", &env, "envelope");
    spec.assert_valid("body-sign1", &decrypt(&env), "the envelope's signed body");
}

#[test]
fn key_rotation_frames_match() {
    use nfp_node::protocol::rotation::{Announcement, Confirmation, KeySet};
    use nfp_node::protocol::wire::Request;
    let spec = Spec::load();
    let old = SigningKey::from_seed(&[0x61; 32]);
    let new = SigningKey::from_seed(&[0x62; 32]);
    let set = |k: &SigningKey, b: u8| KeySet {
        signing_key: serde_bytes::ByteArray::new(k.verifying_key().to_bytes()),
        encryption_key: serde_bytes::ByteArray::new([b; 32]),
        tls_spki_sha256: serde_bytes::ByteArray::new([b; 32]),
    };
    let mut a = Announcement {
        v: 1,
        country: "GR".parse().unwrap(),
        serial: 1,
        origin: "nfp-node/GR/0a0b0c0d".into(),
        at: 1_795_392_000,
        old: set(&old, 1),
        new: set(&new, 2),
        compromised_from: None,
    };
    spec.assert_valid("key-rotation", &cbor(&a), "announcement payload");
    a.compromised_from = Some(1_795_391_000);
    spec.assert_valid("key-rotation", &cbor(&a), "revocation payload");
    let bytes = a.sign(&old, &new).unwrap();
    spec.assert_valid("key-rotation-sign", &bytes, "signed announcement");
    let frame = Request::Rotate(bytes.clone()).encode().unwrap();
    spec.assert_valid("rotate-request", &frame, "rotate frame");
    spec.assert_valid("request", &frame, "rotate frame");
    let c = Confirmation::of("AL".parse().unwrap(), &a, &bytes, 1_795_392_010);
    spec.assert_valid("rotation-confirmation", &cbor(&c), "confirmation payload");
    let signed = c.sign(&SigningKey::from_seed(&[0x63; 32])).unwrap();
    spec.assert_valid("confirmation-sign1", &signed, "signed confirmation");
    let frame = Response::RotationConfirmed(signed).encode().unwrap();
    spec.assert_valid("rotation-confirmed-response", &frame, "confirmed frame");
    spec.assert_valid("response", &frame, "confirmed frame");
    spec.assert_invalid("key-rotation", &cbor(&"not a map"), "a text");
}

#[test]
fn attachment_frames_and_extras_match() {
    use nfp_node::protocol::attachment::{Descriptor, Extras, Translation};
    use nfp_node::protocol::wire::{Chunk, Request};
    let spec = Spec::load();
    let extras = Extras {
        attachments: vec![Descriptor {
            name: "report.pdf".into(),
            media_type: "application/pdf".into(),
            size: 300_000,
            sha256: serde_bytes::ByteArray::new([1; 32]),
            chunks: 2,
            upload: serde_bytes::ByteArray::new([2; 16]),
            key: serde_bytes::ByteArray::new([3; 32]),
        }],
        translations: vec![Translation {
            lang: "el".parse().unwrap(),
            by: "Sworn translator".into(),
            date: jiff::civil::date(2026, 11, 30),
            fields: [("child_account".to_string(), "Κείμενο".to_string())].into(),
        }],
    };
    spec.assert_valid("extras", &cbor(&extras), "attachments and translations");
    let frame = Request::Chunk(Chunk {
        id: MessageId::new(1_795_392_000_000, [0x44; 10]),
        attachment: 0,
        index: 1,
        data: vec![9; 103_408],
    })
    .encode()
    .unwrap();
    spec.assert_valid("chunk-request", &frame, "chunk");
    spec.assert_valid("request", &frame, "chunk");
    for (rule, resp) in [
        ("need-chunks-response", Response::NeedChunks(vec![0, 3])),
        ("chunk-stored-response", Response::ChunkStored),
    ] {
        let bytes = resp.encode().unwrap();
        spec.assert_valid(rule, &bytes, rule);
        spec.assert_valid("response", &bytes, rule);
    }
    spec.assert_invalid("extras", &cbor(&json!({"attachments": "x"})), "bad extras");
}
