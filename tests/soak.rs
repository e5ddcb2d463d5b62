//! A soak run with a watchdog: traffic both ways, many in flight, with
//! sled under steady write load. sled 0.34 is known to stall in batch and
//! multi-tree transactions (upstream issue 1412); the node uses neither,
//! and this test fails loudly if deliveries ever stop making progress.

mod common;

use common::*;
use nfp_node::api::client::Client;
use nfp_node::home::Home;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const PER_DIRECTION: usize = 400;
const STALL: Duration = Duration::from_secs(20);

#[test]
fn sustained_traffic_never_stalls() {
    let mut p = pair();
    p.al.serve();
    p.gr.serve();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let al = Arc::new(Client::for_home(&Home::new(&p.al.home)).unwrap());
    let gr = Arc::new(Client::for_home(&Home::new(&p.gr.home)).unwrap());
    let form: serde_json::Value = serde_json::from_str(FORM).unwrap();
    for c in [&al, &gr] {
        rt.block_on(c.post("/v1/cases", &serde_json::json!({"case": "SOAK"})))
            .unwrap();
    }
    let progress = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    // The watchdog: progress must move at least once per STALL.
    let watchdog = {
        let progress = progress.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            let mut last = (0usize, Instant::now());
            while !done.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(200));
                let now = progress.load(Ordering::Acquire);
                if now != last.0 {
                    last = (now, Instant::now());
                } else if last.1.elapsed() > STALL {
                    return Err(format!("stall: no progress for {STALL:?} at {now} steps"));
                }
            }
            Ok(())
        })
    };
    let send_all = |client: Arc<Client>, to: &'static str| {
        let form = form.clone();
        let progress = progress.clone();
        async move {
            let mut ids = Vec::new();
            for _ in 0..PER_DIRECTION {
                let v = client
                    .post("/v1/messages", &serde_json::json!({"to": to, "kind": "social-inquiry-request", "case": "SOAK", "form": form}))
                    .await
                    .unwrap();
                ids.push(v["id"].as_str().unwrap().to_string());
                progress.fetch_add(1, Ordering::AcqRel);
            }
            ids
        }
    };
    let (from_gr, from_al) = rt.block_on(async {
        let a = tokio::spawn(send_all(gr.clone(), "AL"));
        let b = tokio::spawn(send_all(al.clone(), "GR"));
        (a.await.unwrap(), b.await.unwrap())
    });
    // Wait until everything is delivered, counting progress as it comes.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let delivered: usize = [&p.gr, &p.al]
            .iter()
            .map(|n| {
                n.messages()
                    .iter()
                    .filter(|m| m["direction"] == "out" && m["state"] == "delivered")
                    .count()
            })
            .sum();
        progress.store(2 * PER_DIRECTION + delivered, Ordering::Release);
        if delivered == from_gr.len() + from_al.len() {
            break;
        }
        assert!(Instant::now() < deadline, "only {delivered} delivered");
        std::thread::sleep(Duration::from_millis(300));
    }
    done.store(true, Ordering::Release);
    watchdog.join().unwrap().unwrap();
    for n in [&p.al, &p.gr] {
        let o = run(&["audit", "verify", "--home", n.home_str()]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
}
