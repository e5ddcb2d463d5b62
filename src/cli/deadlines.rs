//! `deadlines` and `report sla`: what this NFP owes and awaits, shown in
//! the operator's time zone, and compliance with the agreed SLA.

use super::Failure;
use crate::api::client::Client;
use crate::home::Home;
use std::path::PathBuf;

/// The operator's time zone: `--tz`, else this NFP's zone in its agreements,
/// else UTC.
fn zone(home: &Home, tz: Option<&str>) -> Result<jiff::tz::TimeZone, Failure> {
    if let Some(name) = tz {
        return jiff::tz::TimeZone::get(name)
            .map_err(|_| Failure::invalid(format!("--tz: {name:?} is not an IANA time zone")));
    }
    let config = home.config()?;
    let (peers, _) = home.peers(config.country);
    for p in peers.values() {
        if let Some(party) = p.agreement.party(config.country)
            && let Ok(z) = jiff::tz::TimeZone::get(&party.time_zone)
        {
            return Ok(z);
        }
    }
    Ok(jiff::tz::TimeZone::UTC)
}

fn local(ts: &str, tz: &jiff::tz::TimeZone) -> String {
    ts.parse::<jiff::Timestamp>()
        .map(|t| {
            t.to_zoned_datetime(tz.clone())
                .strftime("%Y-%m-%d %H:%M %Z")
                .to_string()
        })
        .unwrap_or_else(|_| ts.to_string())
}

pub(super) async fn list(
    home: PathBuf,
    overdue: bool,
    peer: Option<String>,
    tz: Option<String>,
    json: bool,
) -> Result<(), Failure> {
    let home = Home::new(home);
    let zone = zone(&home, tz.as_deref())?;
    let mut path = format!("/v1/deadlines?overdue={overdue}");
    if let Some(p) = &peer {
        crate::protocol::country::Country::parse(p)
            .map_err(|e| Failure::invalid(format!("--peer: {e}")))?;
        path.push_str(&format!("&peer={p}"));
    }
    let v = Client::for_home(&home)?.get(&path).await?;
    let list = v["deadlines"].as_array().cloned().unwrap_or_default();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
        return Ok(());
    }
    for a in v["ageing_out"].as_array().into_iter().flatten() {
        println!(
            "AGES OUT  case {} turns 18 on {}: prepare a Pathway Plan",
            a["case"].as_str().unwrap_or(""),
            a["eighteenth_birthday"].as_str().unwrap_or("")
        );
    }
    if list.is_empty() {
        eprintln!("no deadlines");
        return Ok(());
    }
    println!(
        "STATE      WHO      PEER  KIND                      CASE              DUE                       MESSAGE"
    );
    for d in list {
        println!(
            "{:<9}  {:<7}  {:<4}  {:<24}  {:<16}  {:<24}  {}",
            d["state"].as_str().unwrap_or(""),
            d["direction"].as_str().unwrap_or(""),
            d["peer"].as_str().unwrap_or(""),
            d["kind"].as_str().unwrap_or(""),
            d["case"].as_str().unwrap_or(""),
            local(d["due"].as_str().unwrap_or(""), &zone),
            match d["schedule"].as_str() {
                Some(s) => format!("follow-up {s}"),
                None => d["message"].as_str().unwrap_or("").to_string(),
            }
        );
    }
    Ok(())
}

pub(super) async fn sla(
    home: PathBuf,
    peer: Option<String>,
    from: Option<String>,
    to: Option<String>,
    json: bool,
) -> Result<(), Failure> {
    let mut q = Vec::new();
    if let Some(p) = &peer {
        crate::protocol::country::Country::parse(p)
            .map_err(|e| Failure::invalid(format!("--peer: {e}")))?;
        q.push(format!("peer={p}"));
    }
    for (flag, v) in [("from", &from), ("to", &to)] {
        if let Some(d) = v {
            d.parse::<jiff::civil::Date>().map_err(|_| {
                Failure::invalid(format!("--{flag}: {d:?} is not a date (YYYY-MM-DD)"))
            })?;
            q.push(format!("{flag}={d}"));
        }
    }
    let path = format!("/v1/reports/sla?{}", q.join("&"));
    let v = Client::for_home(&Home::new(home))?.get(&path).await?;
    let lines = v["lines"].as_array().cloned().unwrap_or_default();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&lines).unwrap_or_default()
        );
        return Ok(());
    }
    println!(
        "{:<4}  {:<24}  {:<7}  {:>5}  {:>4}  {:>8}  {:>7}  {:>8}  {:>10}  {:>10}",
        "PEER", "KIND", "WHO", "COUNT", "MET", "MET-LATE", "OVERDUE", "ON TIME", "MEDIAN", "P90"
    );
    let dur = |v: &serde_json::Value| {
        v.as_i64()
            .map(|s| {
                if s >= 86_400 {
                    format!("{:.1} d", s as f64 / 86_400.0)
                } else if s >= 3600 {
                    format!("{:.1} h", s as f64 / 3600.0)
                } else {
                    format!("{s} s")
                }
            })
            .unwrap_or_else(|| "-".into())
    };
    for l in lines {
        println!(
            "{:<4}  {:<24}  {:<7}  {:>5}  {:>4}  {:>8}  {:>7}  {:>8}  {:>10}  {:>10}",
            l["peer"].as_str().unwrap_or(""),
            l["kind"].as_str().unwrap_or(""),
            l["direction"].as_str().unwrap_or(""),
            l["count"],
            l["met"],
            l["met_late"],
            l["open_overdue"],
            l["on_time_share"]
                .as_f64()
                .map(|f| format!("{:.0}%", f * 100.0))
                .unwrap_or_else(|| "-".into()),
            dur(&l["median_response_s"]),
            dur(&l["p90_response_s"]),
        );
    }
    Ok(())
}

pub(super) async fn stats(home: PathBuf, json: bool) -> Result<(), Failure> {
    let v = Client::for_home(&Home::new(home))?
        .get("/v1/reports/stats")
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(());
    }
    println!(
        "anonymised statistics ({}; counts below {} suppressed)",
        v["generated"].as_str().unwrap_or(""),
        v["threshold"]
    );
    println!("cases: {}", v["cases"]);
    for (title, key) in [
        ("messages by partner", "messages_by_partner"),
        ("messages by kind", "messages_by_kind"),
        ("cases by sex and age band", "cases_by_sex_and_age"),
    ] {
        println!("\n{title}:");
        for (k, n) in v[key]["counts"].as_object().into_iter().flatten() {
            println!("  {k:<40} {n}");
        }
    }
    Ok(())
}
