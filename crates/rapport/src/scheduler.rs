//! The scheduler: fires SLA warnings and breaches, commitment reminders and lapses, and
//! recomputes due times after a calendar or policy change. The timers are rows in the
//! database (see `rapport_store`'s `scheduler_pass`), so a restart loses nothing and several
//! nodes may run this loop at once.

use rapport_store::Store;
use std::sync::Arc;
use std::time::Duration;

/// How often an idle scheduler looks for due rows: the upper bound of its lag.
const POLL: Duration = Duration::from_millis(200);
/// Alarms of each kind per pass; a pass is one transaction.
const BATCH: u32 = 200;

/// Runs until `shutdown` turns true.
pub async fn run(store: Arc<dyn Store>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
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
