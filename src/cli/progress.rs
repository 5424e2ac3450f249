//! Progress on standard error for long commands (replay, eval, feedback): a bar with the
//! rate and the time left, drawn only when stderr is a terminal (hidden in pipes, CI, logs).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `total` units (bytes of input, or rows); `what` names the rate's unit.
pub fn bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let template = match what {
        "bytes" => "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg} (eta {eta})".to_string(),
        _ => format!("{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {what} {{per_sec}} {{msg}} (eta {{eta}})"),
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// Sets the bar's position and its events-per-second message.
pub fn update(bar: &ProgressBar, position: u64, events: usize) {
    bar.set_position(position);
    let secs = bar.elapsed().as_secs_f64();
    if secs > 0.0 {
        bar.set_message(format!(
            "{events} events, {:.0} events/s",
            events as f64 / secs
        ));
    }
}
