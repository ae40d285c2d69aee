//! Every timer the world's hosts set, so the run loop can jump over idle time.
//!
//! turmoil steps every host every 1 ms tick. When no message is in flight and no timer is
//! due, a tick changes nothing but the clocks, so the run loop ([`super::world`]) takes one
//! long step to the tick before the next due thing instead. It learns when messages are due
//! from turmoil (`Sim::next_delivery_in`, a racehound patch) and when timers are due from
//! this book: every sleep and timeout a world host sets goes through [`TimerBook::sleep`] or
//! [`TimerBook::timeout`], which note the deadline while the timer is alive.
//!
//! A timer set behind the book's back would not be jumped to: the host would still wake at
//! the right simulated instant (its runtime fires timers in order inside the long step), but
//! what it sends would leave at the end of the long step. `tests/world.rs` checks that runs
//! with and without jumping give the same trace.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use crate::sync::{Arc, Mutex};

/// The deadlines of every live timer, in simulated time since the start of the run.
#[derive(Debug, Default)]
pub struct TimerBook {
    inner: Mutex<Book>,
}

#[derive(Debug, Default)]
struct Book {
    next_id: u64,
    /// (deadline, id) → the host that set the timer.
    deadlines: BTreeMap<(Duration, u64), Option<IpAddr>>,
}

/// Removes its deadline from the book when the timer completes or is dropped (a crash).
struct Registration {
    book: Arc<TimerBook>,
    key: (Duration, u64),
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.book.inner.lock().deadlines.remove(&self.key);
    }
}

/// The error of a [`TimerBook::timeout`] whose time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl TimerBook {
    /// A new, empty book.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn register(self: &Arc<Self>, duration: Duration) -> Registration {
        let now = turmoil::sim_elapsed().unwrap_or_default();
        let mut inner = self.inner.lock();
        inner.next_id += 1;
        let key = (now.saturating_add(duration), inner.next_id);
        inner.deadlines.insert(key, turmoil::current_host_addr());
        Registration {
            book: self.clone(),
            key,
        }
    }

    /// The earliest deadline of a live timer.
    pub fn earliest(&self) -> Option<Duration> {
        self.inner.lock().deadlines.keys().next().map(|(at, _)| *at)
    }

    /// The hosts with a live timer due before `until`, sorted, once each; `None` if such a
    /// timer was set outside any host (then no host may be taken for idle).
    pub fn hosts_due_before(&self, until: Duration) -> Option<Vec<IpAddr>> {
        let inner = self.inner.lock();
        let mut hosts = Vec::new();
        for host in inner.deadlines.range(..(until, 0)).map(|(_, host)| *host) {
            hosts.push(host?);
        }
        hosts.sort();
        hosts.dedup();
        Some(hosts)
    }

    /// How many timers are live.
    pub fn live_count(&self) -> usize {
        self.inner.lock().deadlines.len()
    }

    /// Sleeps for `duration` of simulated time, noted in the book.
    pub async fn sleep(self: &Arc<Self>, duration: Duration) {
        let _registration = self.register(duration);
        tokio::time::sleep(duration).await;
    }

    /// Runs `future` for at most `duration` of simulated time, the deadline noted in the book.
    pub async fn timeout<F: Future>(
        self: &Arc<Self>,
        duration: Duration,
        future: F,
    ) -> Result<F::Output, Elapsed> {
        let _registration = self.register(duration);
        tokio::time::timeout(duration, future).await.map_err(|_| Elapsed)
    }
}
