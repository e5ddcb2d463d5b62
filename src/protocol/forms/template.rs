//! Fill-in templates and field lists derived from a kind's JSON Schema, with
//! labels from a catalogue. Pure: the caller passes the schema and labels.

use crate::protocol::labels::Catalogue;
use serde_json::{Map, Value};

/// One field of a form: its path (no indices), whether it is required, and
/// the codes it accepts when it is an enum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldInfo {
    /// Dotted path, e.g. `child.sex`.
    pub path: String,
    /// Whether the field must be present (in its parent object).
    pub required: bool,
    /// Accepted codes, for enum fields.
    pub codes: Vec<String>,
    /// `text`, `date`, `date-time`, `integer`, `boolean`, `list`, `object` or `code`.
    pub shape: &'static str,
}

fn resolve<'a>(schema: &'a Value, root: &'a Value) -> &'a Value {
    let mut cur = schema;
    for _ in 0..16 {
        match cur.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.rsplit('/').next().unwrap_or("");
                match root.get("$defs").and_then(|d| d.get(name)) {
                    Some(next) => cur = next,
                    None => return cur,
                }
            }
            None => return cur,
        }
    }
    cur
}

/// The codes of an enum schema (`enum`, or `oneOf` of `const`s).
fn codes(schema: &Value, root: &Value) -> Option<Vec<String>> {
    let s = resolve(schema, root);
    if let Some(list) = s.get("enum").and_then(Value::as_array) {
        return Some(
            list.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
        );
    }
    let alts = s.get("oneOf").or_else(|| s.get("anyOf"))?.as_array()?;
    let mut out = Vec::new();
    for a in alts {
        let a = resolve(a, root);
        if let Some(c) = a.get("const").and_then(Value::as_str) {
            out.push(c.to_string());
        } else if let Some(list) = a.get("enum").and_then(Value::as_array) {
            out.extend(list.iter().filter_map(|v| v.as_str().map(String::from)));
        } else {
            return None;
        }
    }
    Some(out)
}

/// The non-null alternative of an optional schema, if it is one.
fn unwrap_optional<'a>(schema: &'a Value, root: &'a Value) -> &'a Value {
    let s = resolve(schema, root);
    if let Some(alts) = s.get("anyOf").and_then(Value::as_array)
        && alts.len() == 2
        && let Some(other) = alts
            .iter()
            .find(|a| a.get("type").and_then(Value::as_str) != Some("null"))
    {
        return resolve(other, root);
    }
    s
}

fn type_of(s: &Value) -> Option<&str> {
    match s.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ => None,
    }
}

/// The variants of an internally tagged enum: (tag value, object schema).
fn tagged_variants<'a>(s: &'a Value, root: &'a Value) -> Option<Vec<(String, &'a Value)>> {
    let alts = s.get("oneOf")?.as_array()?;
    let mut out = Vec::new();
    for a in alts {
        let a = resolve(a, root);
        let tag = a
            .get("properties")?
            .get("type")?
            .get("const")?
            .as_str()?
            .to_string();
        out.push((tag, a));
    }
    Some(out)
}

/// Every field of the form described by `schema`, depth first.
pub fn fields(schema: &Value) -> Vec<FieldInfo> {
    let mut out = Vec::new();
    walk_fields(schema, schema, "", true, &mut out);
    out
}

fn walk_fields(schema: &Value, root: &Value, path: &str, required: bool, out: &mut Vec<FieldInfo>) {
    let s = unwrap_optional(schema, root);
    if let Some(c) = codes(s, root) {
        out.push(FieldInfo {
            path: path.into(),
            required,
            codes: c,
            shape: "code",
        });
        return;
    }
    if let Some(variants) = tagged_variants(s, root) {
        let tags: Vec<String> = variants.iter().map(|(t, _)| t.clone()).collect();
        out.push(FieldInfo {
            path: join(path, "type"),
            required: true,
            codes: tags,
            shape: "code",
        });
        for (_, v) in variants {
            walk_object(v, root, path, out, true);
        }
        return;
    }
    match type_of(s) {
        Some("object") => {
            if !path.is_empty() {
                out.push(FieldInfo {
                    path: path.into(),
                    required,
                    codes: vec![],
                    shape: "object",
                });
            }
            walk_object(s, root, path, out, false);
        }
        Some("array") => {
            out.push(FieldInfo {
                path: path.into(),
                required,
                codes: vec![],
                shape: "list",
            });
            if let Some(items) = s.get("items") {
                let before = out.len();
                walk_fields(items, root, path, true, out);
                // The list itself names the items; drop a duplicate entry.
                if out.len() > before && out[before].path == path {
                    let item = out.remove(before);
                    if !item.codes.is_empty() {
                        out[before - 1].codes = item.codes;
                    }
                }
            }
        }
        Some("integer") | Some("number") => out.push(FieldInfo {
            path: path.into(),
            required,
            codes: vec![],
            shape: "integer",
        }),
        Some("boolean") => out.push(FieldInfo {
            path: path.into(),
            required,
            codes: vec![],
            shape: "boolean",
        }),
        _ => {
            let shape = match s.get("format").and_then(Value::as_str) {
                Some("date") => "date",
                Some("date-time") => "date-time",
                _ => "text",
            };
            out.push(FieldInfo {
                path: path.into(),
                required,
                codes: vec![],
                shape,
            });
        }
    }
}

fn walk_object(s: &Value, root: &Value, path: &str, out: &mut Vec<FieldInfo>, skip_type: bool) {
    let required: Vec<&str> = s
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        for (name, p) in props {
            if skip_type && name == "type" {
                continue;
            }
            let child = join(path, name);
            if out.iter().any(|f| f.path == child) {
                continue;
            }
            walk_fields(p, root, &child, required.contains(&name.as_str()), out);
        }
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// A fill-in JSON template for the form described by `schema`: every field
/// present, with a placeholder that names it (in the catalogue's language),
/// says whether it is optional, and lists the accepted codes.
pub fn template(kind: &str, schema: &Value, labels: &Catalogue) -> Value {
    fill(schema, schema, kind, "", true, labels)
}

fn fill(
    schema: &Value,
    root: &Value,
    kind: &str,
    path: &str,
    required: bool,
    labels: &Catalogue,
) -> Value {
    let s = unwrap_optional(schema, root);
    let label = labels.field(kind, path);
    let opt = if required {
        String::new()
    } else {
        labels.word("optional").unwrap_or_else(|| "optional".into())
    };
    let opt = if opt.is_empty() {
        String::new()
    } else {
        format!(" ({opt})")
    };
    if let Some(c) = codes(s, root) {
        let listed: Vec<String> = c
            .iter()
            .map(|code| match labels.code(code) {
                Some(l) if l != *code => format!("{code} ({l})"),
                _ => code.clone(),
            })
            .collect();
        return Value::String(format!("<{label}{opt}: {}>", listed.join(" | ")));
    }
    if let Some(variants) = tagged_variants(s, root) {
        let tags: Vec<String> = variants.iter().map(|(t, _)| t.clone()).collect();
        let mut obj = Map::new();
        obj.insert(
            "type".into(),
            Value::String(format!(
                "<{}: {}>",
                labels.field(kind, &join(path, "type")),
                tags.join(" | ")
            )),
        );
        if let Some((_, first)) = variants.first()
            && let Value::Object(m) = fill_object(first, root, kind, path, labels)
        {
            for (k, v) in m {
                if k != "type" {
                    obj.insert(k, v);
                }
            }
        }
        return Value::Object(obj);
    }
    match type_of(s) {
        Some("object") => fill_object(s, root, kind, path, labels),
        Some("array") => match s.get("items") {
            Some(items) => Value::Array(vec![fill(items, root, kind, path, true, labels)]),
            None => Value::Array(vec![]),
        },
        Some("integer") | Some("number") => Value::String(format!("<{label}{opt}: number>")),
        Some("boolean") => Value::String(format!("<{label}{opt}: true | false>")),
        _ => {
            let hint = match s.get("format").and_then(Value::as_str) {
                Some("date") => ": YYYY-MM-DD",
                Some("date-time") => ": YYYY-MM-DDTHH:MM:SSZ",
                _ => "",
            };
            Value::String(format!("<{label}{opt}{hint}>"))
        }
    }
}

fn fill_object(s: &Value, root: &Value, kind: &str, path: &str, labels: &Catalogue) -> Value {
    let required: Vec<&str> = s
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut obj = Map::new();
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        for (name, p) in props {
            let child = join(path, name);
            obj.insert(
                name.clone(),
                fill(
                    p,
                    root,
                    kind,
                    &child,
                    required.contains(&name.as_str()),
                    labels,
                ),
            );
        }
    }
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::forms::Kind;

    #[test]
    fn every_kind_has_a_template_naming_its_fields_and_codes() {
        let labels = Catalogue::english();
        for kind in Kind::ALL {
            let schema = kind.schema();
            let t = template(kind.as_str(), &schema, &labels);
            assert!(t.is_object(), "{kind}");
            let f = fields(&schema);
            assert!(f.len() > 2, "{kind}: {f:?}");
        }
        let schema = Kind::SocialInquiryRequest.schema();
        let t = template("social-inquiry-request", &schema, &labels);
        let sex = t["child"]["sex"].as_str().unwrap();
        for code in ["female", "male", "other", "unknown"] {
            assert!(sex.contains(code), "{sex}");
        }
        assert!(
            t["child"]["date_of_birth"]
                .as_str()
                .unwrap()
                .contains("YYYY-MM-DD")
        );
        let f = fields(&schema);
        let sex = f.iter().find(|x| x.path == "child.sex").unwrap();
        assert_eq!(sex.codes.len(), 4);
        assert!(f.iter().any(|x| x.path == "family.relationship"));
        assert!(
            f.iter()
                .find(|x| x.path == "family")
                .map(|x| !x.required)
                .unwrap()
        );
    }

    #[test]
    fn tagged_variants_list_their_types() {
        let schema = Kind::CaseUpdate.schema();
        let f = fields(&schema);
        let ty = f.iter().find(|x| x.path == "type").expect("type field");
        assert!(
            ty.codes.contains(&"guardian-appointed".to_string()),
            "{ty:?}"
        );
        assert!(
            ty.codes.contains(&"transfer-arrangements".to_string()),
            "{ty:?}"
        );
    }
}
