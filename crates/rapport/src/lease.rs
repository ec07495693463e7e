//! Work that one node of a cluster does at a time (polling an IMAP mailbox) runs under a
//! lease in the database: the node that holds it works and renews it; the others wait and
//! take over when a holder dies and its lease expires (`RAPPORT_LEASE_SECONDS`).

use rapport_store::Store;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// This process among the nodes: host, process id and a random part (a restarted process is
/// a new holder, so it waits for its own dead predecessor's lease like anyone else).
pub fn holder_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    format!(
        "{}:{}:{:08x}",
        if host.is_empty() { "node" } else { &host },
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Runs `work` while this node holds the lease `name`, until `stopped` turns true. `work` gets
/// its own stop signal, turned on when the lease is lost or cannot be renewed in time, so it
/// stops before another node may take over.
pub async fn run_while_held<F, Fut>(
    store: Arc<dyn Store>,
    name: String,
    holder: String,
    lease: Duration,
    mut stopped: watch::Receiver<bool>,
    work: F,
) where
    F: Fn(watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let lease_ms = lease.as_millis() as i64;
    let renew_every = lease / 3;
    loop {
        if *stopped.borrow() {
            return;
        }
        let start = rapport_web::now();
        match store
            .acquire_lease(
                &name,
                &holder,
                start,
                rapport_core::Millis(start.0 + lease_ms),
            )
            .await
        {
            Ok(true) => {
                tracing::info!(lease = %name, "this node does the work now");
                let mut held_until = start.0 + lease_ms;
                let (stop_work, work_stopped) = watch::channel(false);
                let mut task = tokio::spawn(work(work_stopped));
                let finished = loop {
                    tokio::select! {
                        _ = tokio::time::sleep(renew_every) => {}
                        _ = stopped.changed() => {}
                        _ = &mut task => break true,
                    }
                    if *stopped.borrow() {
                        break false;
                    }
                    let at = rapport_web::now();
                    match store
                        .acquire_lease(&name, &holder, at, rapport_core::Millis(at.0 + lease_ms))
                        .await
                    {
                        Ok(true) => held_until = at.0 + lease_ms,
                        Ok(false) => {
                            tracing::warn!(lease = %name, "another node took the work over");
                            break false;
                        }
                        // Keep working while the lease surely holds; stop a renewal early.
                        Err(e)
                            if held_until - rapport_web::now().0
                                > renew_every.as_millis() as i64 =>
                        {
                            tracing::warn!(lease = %name, error = %e, "cannot renew the lease yet");
                        }
                        Err(e) => {
                            tracing::error!(lease = %name, error = %e, "cannot renew the lease; stopping the work");
                            break false;
                        }
                    }
                };
                let _ = stop_work.send(true);
                if !finished {
                    let _ = task.await;
                }
                if *stopped.borrow() {
                    // A clean stop hands the work over at once instead of after the lease.
                    if let Err(e) = store.release_lease(&name, &holder).await {
                        tracing::warn!(lease = %name, error = %e, "cannot release the lease");
                    }
                    return;
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(lease = %name, error = %e, "cannot read the lease"),
        }
        tokio::select! {
            _ = tokio::time::sleep(renew_every) => {}
            _ = stopped.changed() => {}
        }
    }
}
