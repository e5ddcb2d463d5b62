//! What is due to go where: the delivery queue's decisions.
//!
//! Pure and clockless: the node passes the time in milliseconds and the
//! jitter. The durable list of queued messages is in the store; this queue
//! is rebuilt from it on start, so after a restart everything queued is due
//! at once.

use crate::protocol::country::Country;
use crate::protocol::id::MessageId;
use std::collections::BTreeMap;

/// Exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First delay, ms.
    pub initial_ms: u64,
    /// Largest delay, ms.
    pub max_ms: u64,
}

impl Backoff {
    /// Delay before attempt `attempts + 1` after `attempts` failures.
    /// `jitter` in 0..=1000 picks a point between half the delay and the
    /// whole of it, so peers coming back are not hit all at once.
    pub fn delay_ms(&self, attempts: u32, jitter: u32) -> u64 {
        let exp = attempts.saturating_sub(1).min(30);
        let full = self
            .initial_ms
            .saturating_mul(1u64 << exp)
            .min(self.max_ms)
            .max(1);
        let j = u64::from(jitter.min(1000));
        full / 2 + (full - full / 2) * j / 1000
    }
}

#[derive(Debug, Clone)]
struct Item {
    peer: Country,
    attempts: u32,
    next_at: u64,
    in_flight: bool,
    urgent: bool,
}

/// The in-memory delivery queue.
#[derive(Debug, Default)]
pub struct Queue {
    items: BTreeMap<MessageId, Item>,
}

impl Queue {
    /// An empty queue.
    pub fn new() -> Queue {
        Queue::default()
    }

    /// Adds a message, due at `now`. Urgent messages (missing-child
    /// notices, red flags) go ahead of routine ones.
    pub fn push(&mut self, id: MessageId, peer: Country, urgent: bool, now: u64) {
        self.items.entry(id).or_insert(Item {
            peer,
            attempts: 0,
            next_at: now,
            in_flight: false,
            urgent,
        });
    }

    /// Up to `limit` messages for `peer` that are due at `now`, urgent ones
    /// first, then oldest first; they are marked in flight.
    pub fn take_due(&mut self, peer: Country, now: u64, limit: usize) -> Vec<MessageId> {
        let in_flight = self
            .items
            .values()
            .filter(|i| i.peer == peer && i.in_flight)
            .count();
        let room = limit.saturating_sub(in_flight);
        let mut out = Vec::new();
        for pass_urgent in [true, false] {
            for (id, item) in self.items.iter_mut() {
                if out.len() >= room {
                    return out;
                }
                if item.urgent == pass_urgent
                    && item.peer == peer
                    && !item.in_flight
                    && item.next_at <= now
                {
                    item.in_flight = true;
                    out.push(*id);
                }
            }
        }
        out
    }

    /// A delivery attempt failed; the message is retried after the backoff.
    pub fn failed(&mut self, id: MessageId, now: u64, backoff: Backoff, jitter: u32) {
        if let Some(item) = self.items.get_mut(&id) {
            item.attempts = item.attempts.saturating_add(1);
            item.in_flight = false;
            item.next_at = now + backoff.delay_ms(item.attempts, jitter);
        }
    }

    /// The message is delivered or failed for good.
    pub fn remove(&mut self, id: MessageId) {
        self.items.remove(&id);
    }

    /// The peer was seen again: everything waiting for it is due now.
    pub fn wake(&mut self, peer: Country, now: u64) {
        for item in self.items.values_mut() {
            if item.peer == peer && !item.in_flight {
                item.next_at = item.next_at.min(now);
            }
        }
    }

    /// When the next message for `peer` falls due, if any waits.
    pub fn next_due(&self, peer: Country) -> Option<u64> {
        self.items
            .values()
            .filter(|i| i.peer == peer && !i.in_flight)
            .map(|i| i.next_at)
            .min()
    }

    /// How many messages wait for `peer` (in flight or not).
    pub fn len_for(&self, peer: Country) -> usize {
        self.items.values().filter(|i| i.peer == peer).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn al() -> Country {
        "AL".parse().unwrap()
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff {
            initial_ms: 1000,
            max_ms: 60_000,
        };
        assert_eq!(b.delay_ms(1, 1000), 1000);
        assert_eq!(b.delay_ms(2, 1000), 2000);
        assert_eq!(b.delay_ms(3, 1000), 4000);
        assert_eq!(b.delay_ms(20, 1000), 60_000);
        assert_eq!(b.delay_ms(3, 0), 2000);
    }

    #[test]
    fn queue_respects_in_flight_limit_backoff_and_wake() {
        let b = Backoff {
            initial_ms: 1000,
            max_ms: 8000,
        };
        let mut q = Queue::new();
        let ids: Vec<MessageId> = (0..5).map(|i| MessageId::new(i, [0; 10])).collect();
        for id in &ids {
            q.push(*id, al(), false, 0);
        }
        let first = q.take_due(al(), 0, 2);
        assert_eq!(first, ids[..2].to_vec());
        assert!(q.take_due(al(), 0, 2).is_empty());
        q.failed(first[0], 0, b, 1000);
        q.remove(first[1]);
        assert_eq!(q.take_due(al(), 0, 2), vec![ids[2], ids[3]]);
        assert_eq!(q.next_due(al()), Some(0));
        q.wake(al(), 10);
        assert!(q.take_due(al(), 10, 10).contains(&first[0]));
        assert_eq!(q.len_for(al()), 4);
        assert!(q.take_due("GR".parse().unwrap(), 10, 10).is_empty());
    }

    #[test]
    fn urgent_messages_go_first() {
        let mut q = Queue::new();
        let routine = MessageId::new(1, [0; 10]);
        let urgent = MessageId::new(2, [0; 10]);
        q.push(routine, al(), false, 0);
        q.push(urgent, al(), true, 0);
        assert_eq!(q.take_due(al(), 0, 1), vec![urgent]);
        assert_eq!(q.take_due(al(), 0, 2), vec![routine]);
    }

    proptest! {
        #[test]
        fn delay_is_bounded(attempts in 0u32..100, jitter in 0u32..2000, init in 1u64..10_000, extra in 0u64..1_000_000) {
            let b = Backoff { initial_ms: init, max_ms: init + extra };
            let d = b.delay_ms(attempts, jitter);
            prop_assert!(d >= 1);
            prop_assert!(d <= b.max_ms);
            prop_assert!(d >= b.initial_ms.min(b.max_ms) / 2);
        }
    }
}
