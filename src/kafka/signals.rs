//! SIGTERM and SIGINT request a graceful stop (drain, commit, exit 0); a second signal
//! exits at once. Handled on a small tokio runtime of its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tracing::{info, warn};

/// Starts a thread that sets `stop` on the first SIGTERM or SIGINT.
pub fn stop_on_signals(stop: Arc<AtomicBool>) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    std::thread::Builder::new()
        .name("railyard-signals".into())
        .spawn(move || {
            runtime.block_on(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let (Ok(mut term), Ok(mut int)) = (
                    signal(SignalKind::terminate()),
                    signal(SignalKind::interrupt()),
                ) else {
                    warn!("cannot install signal handlers");
                    return;
                };
                let mut first = true;
                loop {
                    let name = tokio::select! {
                        _ = term.recv() => "SIGTERM",
                        _ = int.recv() => "SIGINT",
                    };
                    if first {
                        info!(signal = name, "stopping: draining in-flight events");
                        stop.store(true, Ordering::Release);
                        first = false;
                    } else {
                        warn!(signal = name, "second signal: exiting without draining");
                        std::process::exit(130);
                    }
                }
            })
        })?;
    Ok(())
}
