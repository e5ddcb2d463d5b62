//! Hostile input from a peer that holds a pinned certificate: none of it
//! may crash the node or hold it. Oversized frames, garbage, a wrong ALPN,
//! streams that never finish, a flood of connections and envelopes for
//! another recipient are each refused while honest traffic still gets
//! through.

mod common;

use common::*;
use nfp_node::protocol::envelope;
use nfp_node::protocol::id::MessageId;
use nfp_node::protocol::wire::{MAX_FRAME, RejectCode, Request, Response};
use nfp_node::transport;

fn id(n: u8) -> MessageId {
    MessageId::new(
        u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap(),
        [n; 10],
    )
}

fn honest_delivery_works(f: &Forger, n: u8) {
    let env = envelope::seal(&f.meta(id(n)), &f.form(), &f.gr_sign, &f.al_enc, [n; 32]).unwrap();
    match f.deliver(env) {
        Response::Receipt(_) | Response::ReceiptCosigned(..) => {}
        other => panic!("honest delivery refused: {other:?}"),
    }
}

#[test]
fn hostile_input_is_refused_and_honest_traffic_continues() {
    let mut p = pair();
    p.al.serve();
    p.gr.open_case("GR-FORGE-1");
    let o = run(&[
        "case",
        "open",
        "--home",
        p.al.home_str(),
        "--case",
        "GR-FORGE-1",
    ]);
    assert!(o.status.success() || stderr(&o).contains("already"));
    let f = Forger::new(&p);

    // An oversized frame is refused without being buffered whole.
    let big = Request::Deliver(vec![0u8; MAX_FRAME + 1024])
        .encode()
        .unwrap();
    let answer = f.rt.block_on(async {
        let conn = f.transport.connect(&f.al_endpoint, f.al_pin).await.unwrap();
        transport::exchange(&conn, &big).await
    });
    match answer.map(|a| Response::decode(&a)) {
        Ok(Ok(Response::Reject(r))) => assert_eq!(r.code, RejectCode::Malformed),
        other => {
            // Refusing by resetting the stream is as good as a rejection.
            assert!(other.is_err(), "expected a refusal, got {other:?}");
        }
    }
    honest_delivery_works(&f, 1);

    // Garbage on the stream.
    for junk in [&b"\xff\xff\xff"[..], b"", b"\x9f\x01\x02", &[0x5b; 1000]] {
        let r = f.frame(junk);
        assert!(matches!(r, Response::Reject(_)), "{r:?}");
    }
    honest_delivery_works(&f, 2);

    // An envelope addressed to another country.
    let mut meta = f.meta(id(3));
    meta.to = "FR".parse().unwrap();
    let env = envelope::seal(&meta, &f.form(), &f.gr_sign, &f.al_enc, [3; 32]).unwrap();
    match f.deliver(env) {
        Response::Reject(r) => assert_eq!(r.code, RejectCode::WrongRecipient),
        other => panic!("{other:?}"),
    }

    // Another protocol on the same port is refused in the handshake.
    let wrong =
        f.rt.block_on(f.transport.connect_alpn(&f.al_endpoint, f.al_pin, b"h3"));
    assert!(wrong.is_err(), "a wrong ALPN must be refused");
    honest_delivery_works(&f, 4);

    // Streams opened and never finished do not hold the node: on another
    // connection, an honest delivery still gets its receipt.
    f.rt.block_on(async {
        let conn = f.transport.connect(&f.al_endpoint, f.al_pin).await.unwrap();
        let mut held = Vec::new();
        for _ in 0..100 {
            if let Ok((mut send, recv)) = conn.open_bi().await {
                let _ = send.write_all(b"\x82\x01").await;
                held.push((send, recv));
            }
        }
        std::mem::forget(held);
    });
    honest_delivery_works(&f, 5);

    // A flood of connections from one peer: past the per-peer limit they
    // are closed, and the node keeps answering.
    let conns: Vec<_> = f.rt.block_on(async {
        let mut v = Vec::new();
        for _ in 0..20 {
            if let Ok(c) = f.transport.connect(&f.al_endpoint, f.al_pin).await {
                v.push(c);
            }
        }
        v
    });
    let closed = f.rt.block_on(async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        conns.iter().filter(|c| c.close_reason().is_some()).count()
    });
    assert!(
        closed >= 10,
        "connections past the per-peer limit are closed ({closed} of 20)"
    );
    drop(conns);
    std::thread::sleep(std::time::Duration::from_millis(300));
    honest_delivery_works(&f, 6);

    // The node is still up and its log verifies.
    let o = run(&["audit", "verify", "--home", p.al.home_str()]);
    assert!(o.status.success(), "{}", stderr(&o));
}
