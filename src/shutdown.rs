//! Stopping cleanly on SIGTERM and SIGINT.
//!
//! Kubernetes (`activeDeadlineSeconds`) and systemd (`TimeoutStartSec`) stop a
//! run that takes too long with SIGTERM. A run that is stopped that way
//! still releases its lock and revokes a Vault token from a login, so the
//! next run is not blocked and no token outlives the run.

use tokio::sync::watch;
use tracing::info;

/// A signal that a stop was requested, shared by the phases of a run.
#[derive(Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    /// Starts listening for SIGTERM and SIGINT; needs a Tokio runtime.
    pub fn listen() -> Stop {
        let (sender, receiver) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            info!("stop requested by a signal; cleaning up");
            let _ = sender.send(true);
        });
        Stop(receiver)
    }

    /// Returns a stop that is never requested, for callers without signals.
    pub fn never() -> Stop {
        let (sender, receiver) = watch::channel(false);
        // The sender is leaked on purpose: a closed channel would count as
        // "no more changes" and `requested` would wait forever anyway.
        std::mem::forget(sender);
        Stop(receiver)
    }

    /// Completes once a stop is requested.
    pub async fn requested(&self) {
        let mut receiver = self.0.clone();
        if receiver.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
