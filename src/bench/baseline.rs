//! The bare-turmoil baseline: the same race shape with none of racehound's machinery.
//!
//! Two clients race check-then-create against a `db` and a `stripe` host over turmoil TCP:
//! each does `exchanges_per_client` request/response exchanges, alternating between the two
//! hosts, each on a fresh connection, with one-line messages. This is the "how fast can
//! turmoil itself go" figure the harness's throughput is compared against in the same run.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// How a baseline simulation is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaselineConfig {
    /// turmoil seed.
    pub seed: u64,
    /// Minimum message latency.
    pub latency_ms_min: u64,
    /// Maximum message latency.
    pub latency_ms_max: u64,
    /// turmoil tick.
    pub tick_ms: u64,
    /// Request/response exchanges each of the two clients makes.
    pub exchanges_per_client: u32,
}

const PORT: u16 = 9000;

async fn serve_lines(counter: Rc<RefCell<u64>>) -> turmoil::Result {
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let counter = counter.clone();
        tokio::task::spawn_local(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let answer = {
                    let mut n = counter.borrow_mut();
                    *n += 1;
                    format!("{line}:{n}\n")
                };
                if write.write_all(answer.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
    }
}

async fn exchange(host: &str, message: &str) -> turmoil::Result<String> {
    let stream = turmoil::net::TcpStream::connect((host, PORT)).await?;
    let (read, mut write) = stream.into_split();
    write.write_all(format!("{message}\n").as_bytes()).await?;
    let mut lines = BufReader::new(read).lines();
    Ok(lines.next_line().await?.unwrap_or_default())
}

/// What one baseline simulation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaselineOutcome {
    /// Exchanges answered.
    pub answered: u64,
    /// turmoil steps taken (one per tick).
    pub steps: u64,
    /// Times a host's software ran (every running host, every step).
    pub host_runs: u64,
}

/// Runs one baseline simulation.
pub fn run_baseline(config: BaselineConfig) -> Result<BaselineOutcome, String> {
    let mut sim = turmoil::Builder::new()
        .rng_seed(config.seed)
        .min_message_latency(Duration::from_millis(config.latency_ms_min))
        .max_message_latency(Duration::from_millis(config.latency_ms_max))
        .tick_duration(Duration::from_millis(config.tick_ms))
        .simulation_duration(Duration::from_secs(60))
        .build();
    for host in ["db", "stripe"] {
        sim.host(host, || async {
            let counter = Rc::new(RefCell::new(0u64));
            tokio::task::LocalSet::new().run_until(serve_lines(counter)).await
        });
    }
    let answered = Rc::new(RefCell::new(0u64));
    for client in ["browser-1", "browser-2"] {
        let answered = answered.clone();
        let exchanges = config.exchanges_per_client;
        sim.client(client, async move {
            for i in 0..exchanges {
                let host = if i % 2 == 0 { "db" } else { "stripe" };
                let reply = exchange(host, "ping").await?;
                if !reply.is_empty() {
                    *answered.borrow_mut() += 1;
                }
            }
            Ok(())
        });
    }
    sim.run().map_err(|e| e.to_string())?;
    let tick_ns = u128::from(config.tick_ms.max(1)) * 1_000_000;
    let steps = u64::try_from(sim.elapsed().as_nanos() / tick_ns).unwrap_or(u64::MAX);
    let total = *answered.borrow();
    Ok(BaselineOutcome {
        answered: total,
        steps,
        host_runs: sim.host_runs(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_answers_every_exchange() {
        let config = BaselineConfig {
            seed: 1,
            latency_ms_min: 1,
            latency_ms_max: 50,
            tick_ms: 1,
            exchanges_per_client: 3,
        };
        let outcome = run_baseline(config).expect("runs");
        assert_eq!(outcome.answered, 6);
        assert!(outcome.steps > 6, "{outcome:?}");
    }
}
