//! SIGTERM and SIGINT request a graceful stop (drain, commit, exit 0); a second signal
//! exits at once, and so does a stop that has not finished by `exit_deadline` (librdkafka
//! can block closing a consumer whose broker is gone: uncommitted events are simply read
//! again by the next owner). Handled on a small tokio runtime of its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tracing::{info, warn};

/// Starts a thread that sets `stop` on the first SIGTERM or SIGINT.
pub fn stop_on_signals(
    stop: Arc<AtomicBool>,
    exit_deadline: std::time::Duration,
) -> std::io::Result<()> {
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
                        std::thread::spawn(move || {
                            std::thread::sleep(exit_deadline);
                            warn!(
                                deadline_ms = exit_deadline.as_millis() as u64,
                                "stop did not finish by the deadline; exiting without it"
                            );
                            std::process::exit(1);
                        });
                    } else {
                        warn!(signal = name, "second signal: exiting without draining");
                        std::process::exit(130);
                    }
                }
            })
        })?;
    Ok(())
}
