use nfp_node::protocol::forms::{Form, Kind};
use serde_json::json;

fn ex(kind: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(format!("config/forms/{kind}.json")).unwrap())
        .unwrap()
}

fn try_(kind: &str, v: &serde_json::Value) {
    let k = Kind::parse(kind).unwrap();
    let today = jiff::civil::date(2026, 11, 23);
    let r = Form::from_json(k, &serde_json::to_vec(v).unwrap(), today);
    let mut cbor = Vec::new();
    ciborium::into_writer(v, &mut cbor).unwrap();
    let rc = Form::from_cbor(k, &cbor, today);
    println!("{kind}: json={:?}\n   cbor={:?}", r.err(), rc.err());
}

#[test]
fn probe() {
    let mut v = ex("social-inquiry-request");
    v["favourite_colour"] = "blue".into();
    try_("social-inquiry-request", &v);
    let mut v = ex("social-inquiry-request");
    v["child"]["eye"] = "blue".into();
    try_("social-inquiry-request", &v);
    let mut v = ex("social-inquiry-request");
    v["family"][0]["phone"] = "1".into();
    try_("social-inquiry-request", &v);
    let mut v = ex("social-inquiry-request");
    v["child"]["nationality"] = "XK".into();
    try_("social-inquiry-request", &v);
    let mut v = ex("social-inquiry-request");
    v["family"] = json!(null);
    try_("social-inquiry-request", &v);
    let mut v = ex("social-inquiry-request");
    v["child"]["date_of_birth"] = json!(null);
    try_("social-inquiry-request", &v);
    let mut v = ex("social-inquiry-report");
    v["part2"]
        .as_object_mut()
        .unwrap()
        .remove("community_risks");
    try_("social-inquiry-report", &v);
    let mut v = ex("security-assessment-request");
    v["persons_of_concern"][1]["phone"] = "1".into();
    try_("security-assessment-request", &v);
    let mut v = ex("missing-child-notice");
    v["last_seen_at"] = "2026-11-22 18:30".into();
    try_("missing-child-notice", &v);
    let mut v = ex("missing-child-notice");
    v["last_seen_at"] = "2026-11-22T18:30:00".into();
    try_("missing-child-notice", &v);
    let mut v = ex("follow-up-request");
    v["follow_up"] = "month3".into();
    try_("follow-up-request", &v);
    let mut v = ex("case-update");
    v["type"] = "guardian".into();
    try_("case-update", &v);
    let mut v = ex("case-update");
    v["accompanying_adult"]["role"] = "pilot".into();
    try_("case-update", &v);
    let mut v = ex("case-update");
    v["extra"] = "x".into();
    try_("case-update", &v);
    let mut v = ex("case-update");
    v.as_object_mut().unwrap().remove("type");
    try_("case-update", &v);
    let mut v = ex("case-update");
    v.as_object_mut().unwrap().remove("border_point");
    try_("case-update", &v);
    let v = json!({"type":"decision","decision":"maybe","best_interests_determination_held":true,"panel":"p","child_view":"c"});
    try_("case-update", &v);
    let mut v = ex("acknowledgement");
    v.as_object_mut().unwrap().remove("responsible_officer");
    try_("acknowledgement", &v);
    let mut v = ex("case-closure");
    v["reason"] = "other".into();
    v["notes"] = json!(null);
    try_("case-closure", &v);
    let mut v = ex("continuity-of-care");
    v["languages"][1] = "sq".into();
    try_("continuity-of-care", &v);
    let mut v = ex("social-inquiry-report");
    v["part1"]["household"][0]["age"] = 300.into();
    try_("social-inquiry-report", &v);
    for (k, s) in [
        (
            "missing-child-update",
            "2026-11-23T09:15:00.123456789+01:00",
        ),
        ("missing-child-update", "2026-11-23t09:15:00z"),
        ("missing-child-update", "2026-11-23T09:15Z"),
        ("missing-child-update", "2026-11-23T09:15:00+0100"),
        (
            "missing-child-update",
            "2026-11-23T09:15:00+01:00[Europe/Paris]",
        ),
        ("missing-child-update", "2026-11-23 09:15:00Z"),
    ] {
        let mut v = ex(k);
        v["when"] = s.into();
        try_(k, &v);
        let f = Form::from_json(
            Kind::parse(k).unwrap(),
            &serde_json::to_vec(&v).unwrap(),
            jiff::civil::date(2026, 11, 23),
        );
        if let Ok(f) = f {
            println!("  -> {}", f.to_json()["when"]);
        }
    }
    for s in ["20110402", "+002011-04-02", "2011-4-2"] {
        let mut v = ex("acknowledgement");
        v["taken_on"] = s.into();
        try_("acknowledgement", &v);
    }
}
