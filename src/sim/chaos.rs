//! Chaos: applies a planned fault to the world (crashes, partitions, latency and loss, the
//! fakes' fault knobs, killed DB connections, the dispatcher's knobs, clock jumps).

use std::time::Duration;

use super::faults::{Fault, Service};
use super::shared::WorldShared;
use super::trace::TraceKind;
use crate::http::Method;
use crate::sync::{Arc, Ordering};

/// Applies one planned fault at `at_ms`, scheduling its restart or heal in `pending`.
pub(super) fn apply_fault(
    sim: &mut turmoil::Sim<'_>,
    shared: &Arc<WorldShared>,
    fault: &Fault,
    at_ms: u64,
    pending: &mut Vec<(u64, Pending)>,
) {
    if matches!(fault, Fault::ServiceError { .. } | Fault::DropResponse { .. }) {
        arm_service_fault(shared, fault);
        return;
    }
    record_fault(shared, fault);
    match fault {
        Fault::Latency { max_ms, .. } => sim.set_max_message_latency(Duration::from_millis(*max_ms)),
        Fault::Loss { rate } => sim.set_fail_rate(*rate),
        Fault::Partition { a, b, heal_after_ms } => {
            sim.partition(a.as_str(), b.as_str());
            pending.push((at_ms + heal_after_ms, Pending::Heal(a.clone(), b.clone())));
        }
        Fault::Crash {
            host,
            restart_after_ms,
        } => {
            sim.crash(host.as_str());
            shared.push(host, TraceKind::Crash);
            pending.push((at_ms + restart_after_ms, Pending::Restart(host.clone())));
        }
        Fault::ServiceError { .. } | Fault::DropResponse { .. } => {}
        Fault::DbConnectionDrop { host } => {
            let dropped = shared.db.drop_connections_of(host);
            shared.push(
                "postgres",
                TraceKind::Note {
                    text: format!("killed {dropped} connections of {host}"),
                },
            );
        }
        Fault::WebhookDuplicate { service, count } => {
            *shared.knobs.lock().duplicate.entry(*service).or_default() += count;
        }
        Fault::WebhookDelay {
            service,
            count,
            delay_ms,
        } => {
            shared.knobs.lock().delay.insert(*service, (*count, *delay_ms));
        }
        Fault::WebhookReorder { service, count } | Fault::WebhookBeforeResponse { service, count } => {
            *shared.knobs.lock().reorder.entry(*service).or_default() += count;
        }
        Fault::TimeJump { hours } => {
            shared
                .clock
                .offset_ms
                .fetch_add(hours * 3_600_000, Ordering::SeqCst);
        }
    }
}

/// Counts a fault as applied (the fault mark the dispatcher reads) and traces it.
fn record_fault(shared: &WorldShared, fault: &Fault) {
    shared.fault_events.fetch_add(1, Ordering::SeqCst);
    shared.push(
        "chaos",
        TraceKind::Fault {
            description: format!("{fault:?}"),
        },
    );
}

/// Arms a service error or lost response in the fake it hits (no host of the simulation needs
/// touching, so a request's arrival may arm one for itself: see `WorldShared::arm_call_bound`).
pub(super) fn arm_service_fault(shared: &WorldShared, fault: &Fault) {
    record_fault(shared, fault);
    match fault {
        Fault::ServiceError {
            service,
            status,
            count,
            path_prefix,
        } => match service {
            Service::Stripe => {
                let kind = if *status == 429 {
                    crate::fakes::stripe::StripeFaultKind::RateLimit429
                } else {
                    crate::fakes::stripe::StripeFaultKind::ApiError500
                };
                let _ = shared
                    .stripe
                    .lock()
                    .faults_mut()
                    .next(None, path_prefix, *count, kind);
            }
            Service::Clerk => {
                let kind = if *status == 429 {
                    crate::fakes::clerk::ClerkFaultKind::RateLimited { retry_after_secs: 1 }
                } else {
                    crate::fakes::clerk::ClerkFaultKind::ServerError
                };
                let _ = shared
                    .clerk
                    .lock()
                    .faults_mut()
                    .fail_next(None, path_prefix, *count, kind);
            }
        },
        Fault::DropResponse {
            service,
            count,
            path_prefix,
        } => match service {
            Service::Stripe => {
                let kind = crate::fakes::stripe::StripeFaultKind::CommitThenDropResponse;
                let _ = shared
                    .stripe
                    .lock()
                    .faults_mut()
                    .next(Some(Method::Post), path_prefix, *count, kind);
            }
            Service::Clerk => {
                let kind = crate::fakes::clerk::ClerkFaultKind::CommitThenDropResponse;
                let _ =
                    shared
                        .clerk
                        .lock()
                        .faults_mut()
                        .fail_next(Some(Method::Post), path_prefix, *count, kind);
            }
        },
        _ => {}
    }
}

/// A follow-up action a fault scheduled.
pub(super) enum Pending {
    Restart(String),
    Heal(String, String),
}
