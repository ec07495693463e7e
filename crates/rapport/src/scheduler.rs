//! The scheduler: fires SLA warnings and breaches, commitment reminders and lapses, and
//! recomputes due times after a calendar or policy change. The timers are rows in the
//! database (see `rapport_store`'s `scheduler_pass`), so a restart loses nothing and several
//! nodes may run this loop at once. Every [`ROUTING_EVERY`] it also routes: queued tickets of
//! routing teams get an owner when someone can take one, and owners away too long have their
//! tickets offered to the team again.

use rapport_store::Store;
use std::sync::Arc;
use std::time::Duration;

/// How often an idle scheduler looks for due rows: the upper bound of its lag.
const POLL: Duration = Duration::from_millis(200);
/// Alarms of each kind per pass; a pass is one transaction.
const BATCH: u32 = 200;

/// How often routing looks for queued tickets and absent owners (availability, capacity and
/// shifts change without a write that could trigger it).
const ROUTING_EVERY: Duration = Duration::from_secs(2);

/// Runs until `shutdown` turns true.
pub async fn run(store: Arc<dyn Store>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut routed_at = tokio::time::Instant::now();
    loop {
        if routed_at.elapsed() >= ROUTING_EVERY {
            routed_at = tokio::time::Instant::now();
            match store.routing_pass(rapport_web::now(), BATCH).await {
                Ok(pass) if pass != Default::default() => tracing::debug!(?pass, "routing pass"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "the routing pass failed; retrying"),
            }
        }
        let busy = match pass(store.as_ref()).await {
            Ok(busy) => busy,
            Err(e) => {
                tracing::error!(error = %e, "the scheduler pass failed; retrying");
                false
            }
        };
        if !busy {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.changed() => {}
            }
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// One pass if anything is due (a cheap read decides); whether there may be more to do.
pub async fn pass(store: &dyn Store) -> rapport_store::Result<bool> {
    let at = rapport_web::now();
    if !store.scheduler_has_work(at).await? {
        return Ok(false);
    }
    let pass = store.scheduler_pass(at, BATCH).await?;
    if !pass.is_idle() {
        tracing::debug!(?pass, "scheduler pass");
    }
    Ok(!pass.is_idle())
}
