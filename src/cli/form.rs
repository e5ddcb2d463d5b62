//! Form commands, all offline: `form kinds`, `form template`, `form schema`
//! and `form validate`.

use super::Failure;
use crate::home::Home;
use crate::protocol::forms::template::template;
use crate::protocol::forms::{Form, Kind};
use crate::protocol::labels::Catalogue;
use std::path::PathBuf;

fn kind(name: &str) -> Result<Kind, Failure> {
    Kind::parse(name).ok_or_else(|| {
        Failure::invalid(format!(
            "unknown kind {name:?}; known kinds: {}",
            Kind::ALL
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// The catalogue for `lang`: English built in; others from `HOME/labels/`.
fn catalogue(lang: Option<&str>, home: Option<PathBuf>) -> Result<Catalogue, Failure> {
    let lang = lang.unwrap_or("en");
    crate::protocol::language::Language::parse(lang)
        .map_err(|e| Failure::invalid(format!("--lang: {e}")))?;
    if lang == "en" {
        return Ok(Catalogue::english());
    }
    let Some(home) = home else {
        return Err(Failure::invalid(format!(
            "no built-in catalogue for {lang:?}: put it at HOME/labels/{lang}.toml and pass --home HOME"
        )));
    };
    let path = Home::new(home)
        .dir
        .join("labels")
        .join(format!("{lang}.toml"));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Failure::invalid(format!("{}: {e}", path.display())))?;
    let c = Catalogue::from_toml(&text)
        .map_err(|e| Failure::invalid(format!("{}: {e}", path.display())))?;
    if c.language != lang {
        return Err(Failure::invalid(format!(
            "{}: language is {:?}, expected {lang:?}",
            path.display(),
            c.language
        )));
    }
    Ok(c.over_english())
}

pub(super) fn kinds(lang: Option<&str>, home: Option<PathBuf>) -> Result<(), Failure> {
    let labels = catalogue(lang, home)?;
    for k in Kind::ALL {
        println!("{:<28} {}", k.as_str(), labels.kind(k.as_str()));
    }
    Ok(())
}

pub(super) fn template_cmd(
    name: &str,
    lang: Option<&str>,
    home: Option<PathBuf>,
) -> Result<(), Failure> {
    let k = kind(name)?;
    let labels = catalogue(lang, home)?;
    let t = template(k.as_str(), &k.schema(), &labels);
    println!(
        "{}",
        serde_json::to_string_pretty(&t).map_err(|e| Failure::failed(e.to_string()))?
    );
    Ok(())
}

pub(super) fn schema(name: &str) -> Result<(), Failure> {
    let k = kind(name)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&k.schema()).map_err(|e| Failure::failed(e.to_string()))?
    );
    Ok(())
}

pub(super) fn validate(name: &str, file: PathBuf) -> Result<(), Failure> {
    let k = kind(name)?;
    let bytes =
        std::fs::read(&file).map_err(|e| Failure::invalid(format!("{}: {e}", file.display())))?;
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    match Form::from_json(k, &bytes, today) {
        Ok(_) => {
            println!("ok: {} is a valid {k}", file.display());
            Ok(())
        }
        Err(errors) => {
            for e in &errors {
                println!("{}: {}: {}", file.display(), e.field, e.message);
            }
            Err(Failure::invalid(format!(
                "{} problem(s) in {}",
                errors.len(),
                file.display()
            )))
        }
    }
}
