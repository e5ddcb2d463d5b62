//! Case and account commands: `case open|update|show|consent|return|erase` and
//! `user add|list|revoke`. They go through the running node's API.

use super::operator::urlencode;
use super::{CaseCommand, CaseFlags, Failure, UserCommand};
use crate::api::client::Client;
use crate::home::Home;
use crate::protocol::country::Country;
use serde_json::{Value, json};

fn country(flag: &str, s: &str) -> Result<Country, Failure> {
    Country::parse(s).map_err(|e| Failure::invalid(format!("--{flag}: {e}")))
}

fn countries(flag: &str, list: &[String]) -> Result<Vec<Country>, Failure> {
    list.iter().map(|s| country(flag, s.trim())).collect()
}

/// The flags as the API's case fields; on update only what was given.
fn fields(f: &CaseFlags, update: bool) -> Result<Value, Failure> {
    let mut m = serde_json::Map::new();
    let put = |m: &mut serde_json::Map<String, Value>, k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    if f.asylum || !update {
        put(&mut m, "asylum", json!(f.asylum));
    }
    if let Some(r) = &f.refugee_in {
        put(&mut m, "refugee_in", json!(country("refugee-in", r)?));
    }
    if !f.fears.is_empty() || !update {
        put(&mut m, "fears", json!(countries("fears", &f.fears)?));
    }
    if !f.agrees_contact.is_empty() || !update {
        put(
            &mut m,
            "agrees_contact",
            json!(countries("agrees-contact", &f.agrees_contact)?),
        );
    }
    if let Some(b) = &f.born {
        let d: jiff::civil::Date = b
            .parse()
            .map_err(|_| Failure::invalid(format!("--born: {b:?} is not a date (YYYY-MM-DD)")))?;
        put(&mut m, "born", json!(d));
    }
    if let Some(y) = f.born_year {
        put(&mut m, "born_year", json!(y));
    }
    if let Some(n) = &f.nationality {
        put(&mut m, "nationality", json!(country("nationality", n)?));
    }
    if let Some(r) = &f.resides {
        put(&mut m, "resides", json!(country("resides", r)?));
    }
    for (flag, key, on) in [
        (f.stateless, "stateless", true),
        (f.presumed_child, "presumed_child", true),
        (f.identified, "identified", true),
        (f.complicity_suspected, "complicity_suspected", true),
    ] {
        if flag || !update {
            put(&mut m, key, json!(flag && on));
        }
    }
    if let Some(x) = &f.manager {
        put(&mut m, "manager", json!(x));
    }
    if !f.access.is_empty() {
        put(&mut m, "access", json!(f.access));
    }
    Ok(Value::Object(m))
}

fn print_case(v: &Value) {
    let r = &v["record"];
    println!("case              {}", r["case"].as_str().unwrap_or(""));
    println!(
        "victim status     {}",
        r["victim_status"].as_str().unwrap_or("")
    );
    println!("birth             {}", r["birth"]);
    println!(
        "eighteenth        {}",
        v["eighteenth_birthday"].as_str().unwrap_or("unknown")
    );
    println!("is a child        {}", v["is_child"]);
    if let Some(d) = v["ages_out_soon"].as_str() {
        println!("AGES OUT          {d}: prepare a Pathway Plan");
    }
    println!(
        "nationality       {}",
        r["nationality"].as_str().unwrap_or("-")
    );
    println!(
        "resides           {}",
        r["habitual_residence"].as_str().unwrap_or("-")
    );
    println!("asylum            {}", r["asylum"]);
    if let Some(p) = v["protected_country"].as_str() {
        println!("NEVER CONTACT     {p} (asylum barrier)");
    }
    println!("fears             {}", r["fears"]);
    println!("agrees contact    {}", r["agrees_contact"]);
    println!(
        "consents          {}",
        r["consents"].as_array().map(|c| c.len()).unwrap_or(0)
    );
    for c in r["consents"].as_array().into_iter().flatten() {
        println!(
            "  {} {} for {} ({} by {})",
            c["by"].as_str().unwrap_or(""),
            if c["withdrawn"] == true {
                "withdrew"
            } else {
                "consented"
            },
            c["purpose"].as_str().unwrap_or(""),
            c["recorded_at"].as_str().unwrap_or(""),
            c["recorded_by"].as_str().unwrap_or("")
        );
    }
    println!("access            {}", r["access"]);
}

pub(super) async fn run(cmd: CaseCommand) -> Result<(), Failure> {
    match cmd {
        CaseCommand::Open { home, case, flags } => {
            let client = Client::for_home(&Home::new(home))?;
            let body = json!({"case": case, "fields": fields(&flags, false)?});
            let v = client.post("/v1/cases", &body).await?;
            eprintln!("opened case {case}");
            print_case(&v);
            Ok(())
        }
        CaseCommand::Update { home, case, flags } => {
            let client = Client::for_home(&Home::new(home))?;
            let v = client
                .post(
                    &format!("/v1/cases/{}", urlencode(&case)),
                    &fields(&flags, true)?,
                )
                .await?;
            print_case(&v);
            Ok(())
        }
        CaseCommand::Show { home, case, json } => {
            let client = Client::for_home(&Home::new(home))?;
            let v = client
                .get(&format!("/v1/cases/{}", urlencode(&case)))
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                print_case(&v);
            }
            Ok(())
        }
        CaseCommand::Consent {
            home,
            case,
            purpose,
            by,
            withdraw,
        } => {
            if !["continuity-of-care", "family-tracing", "information"].contains(&purpose.as_str())
            {
                return Err(Failure::invalid(format!(
                    "--purpose: {purpose:?} is not continuity-of-care, family-tracing or information"
                )));
            }
            if !["child", "guardian"].contains(&by.as_str()) {
                return Err(Failure::invalid(format!(
                    "--by: {by:?} is not child or guardian"
                )));
            }
            let client = Client::for_home(&Home::new(home))?;
            client
                .post(
                    &format!("/v1/cases/{}/consents", urlencode(&case)),
                    &json!({"purpose": purpose, "by": by, "withdraw": withdraw}),
                )
                .await?;
            eprintln!(
                "recorded: {by} {} for {purpose} on case {case}",
                if withdraw {
                    "withdrew consent"
                } else {
                    "consented"
                }
            );
            Ok(())
        }
        CaseCommand::Return {
            home,
            case,
            date,
            to,
            from,
        } => {
            let day: jiff::civil::Date = date.parse().map_err(|_| {
                Failure::invalid(format!("--date: {date:?} is not a date (YYYY-MM-DD)"))
            })?;
            let home = Home::new(home);
            let me = home.config()?.country;
            let (from, to) = match (to, from) {
                (Some(t), None) => (me, country("to", &t)?),
                (None, Some(f)) => (country("from", &f)?, me),
                _ => return Err(Failure::invalid("give --to CC or --from CC")),
            };
            let v = Client::for_home(&home)?
                .post(
                    &format!("/v1/cases/{}/return", urlencode(&case)),
                    &json!({"date": day, "from": from, "to": to}),
                )
                .await?;
            let list = v["follow_ups"].as_array().cloned().unwrap_or_default();
            eprintln!(
                "recorded: return {from} -> {to} on {day} for case {case}; {} follow-up(s) scheduled",
                list.len()
            );
            for f in list {
                println!(
                    "{:<24}  {:<7}  {:<20}  due {}",
                    f["schedule"].as_str().unwrap_or(""),
                    f["direction"].as_str().unwrap_or(""),
                    f["kind"].as_str().unwrap_or(""),
                    f["due"].as_str().unwrap_or("")
                );
            }
            Ok(())
        }
        CaseCommand::Erase { home, case } => {
            let client = Client::for_home(&Home::new(home))?;
            let v = client
                .post(&format!("/v1/cases/{}/erase", urlencode(&case)), &json!({}))
                .await?;
            eprintln!(
                "erased case {case}: its record and the content of {} message(s) are gone; the audit log keeps their hashes",
                v["erased_forms"]
            );
            Ok(())
        }
    }
}

pub(super) async fn user(cmd: UserCommand) -> Result<(), Failure> {
    match cmd {
        UserCommand::Add { home, name, role } => {
            if crate::users::Role::parse(&role).is_none() {
                return Err(Failure::invalid(format!(
                    "--role: {role:?} is not operator, case-manager, admin or auditor"
                )));
            }
            let client = Client::for_home(&Home::new(home))?;
            let v = client
                .post("/v1/users", &json!({"name": name, "role": role}))
                .await?;
            eprintln!("added {name} ({role}); give them this token, which is shown only once:");
            println!("{}", v["token"].as_str().unwrap_or_default());
            Ok(())
        }
        UserCommand::List { home } => {
            let client = Client::for_home(&Home::new(home))?;
            let v = client.get("/v1/users").await?;
            for u in v["users"].as_array().into_iter().flatten() {
                println!(
                    "{:<24} {:<13} {}",
                    u["name"].as_str().unwrap_or(""),
                    u["role"].as_str().unwrap_or(""),
                    if u["revoked"] == true {
                        "revoked"
                    } else {
                        "active"
                    }
                );
            }
            Ok(())
        }
        UserCommand::Revoke { home, name } => {
            let client = Client::for_home(&Home::new(home))?;
            client
                .post(&format!("/v1/users/{name}/revoke"), &json!({}))
                .await?;
            eprintln!("revoked {name}");
            Ok(())
        }
    }
}
