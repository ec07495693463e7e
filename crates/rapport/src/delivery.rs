//! What the outbox worker ([`crate::email::Mailer`]) and the webhook dispatcher
//! ([`crate::webhooks::Dispatcher`]) share: polling for due work, the retry schedule, and
//! recording each attempt.

use rapport_core::Millis;
use rapport_store::OutboxResult;
use std::future::Future;
use std::time::Duration;

/// Attempts before temporarily failing work is given up (about two days of retries).
pub const MAX_ATTEMPTS: i64 = 16;

/// How long an idle worker waits before it looks for due work again.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// The wait after the `attempt`-th failed attempt: one minute, doubling, at most four hours.
pub fn retry_delay_ms(attempt: i64) -> i64 {
    let doublings = attempt.clamp(1, 20) - 1;
    (60_000i64 << doublings).min(4 * 3_600_000)
}

/// What a failed attempt leads to, after `attempts` earlier ones: another try later, or
/// failure for good once the attempts run out.
pub fn after_failure(attempts: i64, error: String, now: Millis) -> OutboxResult {
    let attempt = attempts + 1;
    if attempt >= MAX_ATTEMPTS {
        return OutboxResult::Failed {
            error: format!("gave up after {attempt} attempts: {error}"),
        };
    }
    OutboxResult::Retry {
        error,
        at: Millis(now.0 + retry_delay_ms(attempt)),
    }
}

/// Runs `pass` until `shutdown` turns true, waiting [`IDLE_POLL`] after a pass that found
/// nothing to do (`pass` returns whether it did work).
pub async fn poll_until_stopped<F, Fut>(
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    mut pass: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    loop {
        if !pass().await {
            tokio::select! {
                _ = tokio::time::sleep(IDLE_POLL) => {}
                _ = shutdown.changed() => {}
            }
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// Records an attempt, retrying for about half a minute: work that left but is not recorded
/// as done goes out again when its lease runs out (with the same Message-ID or webhook-id,
/// which receivers dedupe on). `what` and `id` name it in the log.
pub async fn record<F, Fut>(what: &str, id: i64, record: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = rapport_store::Result<()>>,
{
    for wait in [0u64, 200, 1_000, 5_000, 20_000] {
        tokio::time::sleep(Duration::from_millis(wait)).await;
        match record().await {
            Ok(()) => return,
            Err(e) => tracing::error!(what, id, error = %e, "cannot record a delivery attempt"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_a_ceiling() {
        assert_eq!(retry_delay_ms(1), 60_000);
        assert_eq!(retry_delay_ms(2), 120_000);
        assert_eq!(retry_delay_ms(5), 16 * 60_000);
        assert_eq!(retry_delay_ms(12), 4 * 3_600_000);
        assert_eq!(retry_delay_ms(i64::MAX), 4 * 3_600_000);
        assert_eq!(retry_delay_ms(0), 60_000);
    }

    #[test]
    fn the_sixteenth_failure_gives_up() {
        let now = Millis(1_000);
        assert_eq!(
            after_failure(0, "busy".into(), now),
            OutboxResult::Retry {
                error: "busy".into(),
                at: Millis(61_000)
            }
        );
        assert_eq!(
            after_failure(MAX_ATTEMPTS - 1, "busy".into(), now),
            OutboxResult::Failed {
                error: "gave up after 16 attempts: busy".into()
            }
        );
    }
}
