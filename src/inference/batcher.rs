//! The dynamic batcher: token windows from every caller go into one queue; each worker owns a
//! session and takes up to `max_batch` windows and `max_tokens` padded tokens at a time,
//! waiting at most `max_wait` after the oldest queued window for the batch to fill. A batch is sorted by length, so rows of similar
//! length share a batch and padding stays small (callers also queue their windows sorted).

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::metrics::inference_metrics;
use super::outputs::WindowOutput;
use super::session::ModelSession;
use super::tokenize::Window;
use super::InferenceError;

/// How batches are formed.
#[derive(Debug, Clone, Copy)]
pub struct BatchSettings {
    pub max_batch: usize,
    /// Most padded tokens (rows x width) in one session run; one window always fits.
    pub max_tokens: usize,
    pub max_wait: Duration,
}

type Outcome = Result<WindowOutput, InferenceError>;

/// One caller's windows, completed slot by slot by the workers.
struct Request {
    state: Mutex<RequestState>,
    done: Condvar,
}

struct RequestState {
    results: Vec<Option<Outcome>>,
    remaining: usize,
}

impl Request {
    fn complete(&self, slot: usize, outcome: Outcome) {
        let mut state = self.state.lock().expect("request lock");
        state.results[slot] = Some(outcome);
        state.remaining -= 1;
        if state.remaining == 0 {
            self.done.notify_all();
        }
    }
}

struct Item {
    request: Arc<Request>,
    slot: usize,
    window: Window,
    queued_at: Instant,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Item>,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    settings: BatchSettings,
    model: String,
    stats: Mutex<BatchStats>,
}

/// Most batch durations kept for [`BatchStats::durations`].
const KEPT_DURATIONS: usize = 1 << 20;

/// What the batcher did since the last [`Batcher::take_stats`] (for benchmarks).
#[derive(Debug, Clone, Default)]
pub struct BatchStats {
    pub batches: u64,
    pub windows: u64,
    /// Tokens in windows.
    pub real_tokens: u64,
    /// Rows x batch width: what the model computed.
    pub padded_tokens: u64,
    /// Wall time of each session run (the first million).
    pub durations: Vec<Duration>,
}

/// Worker threads around sessions of one model.
pub struct Batcher {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Batcher {
    /// Starts one worker thread per session.
    pub fn start(sessions: Vec<ModelSession>, settings: BatchSettings, model: &str) -> Batcher {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            settings,
            model: model.to_string(),
            stats: Mutex::default(),
        });
        let workers = sessions
            .into_iter()
            .enumerate()
            .map(|(i, session)| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("infer-{model}-{i}"))
                    .spawn(move || work(&shared, session))
                    .expect("spawn inference worker")
            })
            .collect();
        Batcher { shared, workers }
    }

    /// Runs windows (best given sorted by length) and waits for all of their outputs.
    pub fn run(&self, windows: Vec<Window>) -> Vec<Outcome> {
        let count = windows.len();
        if count == 0 {
            return Vec::new();
        }
        let request = Arc::new(Request {
            state: Mutex::new(RequestState {
                results: (0..count).map(|_| None).collect(),
                remaining: count,
            }),
            done: Condvar::new(),
        });
        {
            let mut queue = self.shared.queue.lock().expect("queue lock");
            if queue.closed {
                return (0..count)
                    .map(|_| Err(InferenceError::Run("model is shut down".into())))
                    .collect();
            }
            let now = Instant::now();
            queue
                .items
                .extend(windows.into_iter().enumerate().map(|(slot, window)| Item {
                    request: request.clone(),
                    slot,
                    window,
                    queued_at: now,
                }));
        }
        self.shared.ready.notify_all();
        let mut state = request.state.lock().expect("request lock");
        while state.remaining > 0 {
            state = request.done.wait(state).expect("request lock");
        }
        state
            .results
            .drain(..)
            .map(|r| r.expect("every slot completed"))
            .collect()
    }
}

impl Batcher {
    /// Returns and resets the counters.
    pub fn take_stats(&self) -> BatchStats {
        std::mem::take(&mut *self.shared.stats.lock().expect("stats lock"))
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        self.shared.queue.lock().expect("queue lock").closed = true;
        self.shared.ready.notify_all();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// Takes the next batch: waits for a first window, then until the batch is full or the oldest
/// window has waited `max_wait`. `None` once closed and drained.
fn next_batch(shared: &Shared) -> Option<Vec<Item>> {
    let settings = shared.settings;
    let mut queue = shared.queue.lock().expect("queue lock");
    while queue.items.is_empty() {
        if queue.closed {
            return None;
        }
        queue = shared.ready.wait(queue).expect("queue lock");
    }
    let deadline = queue.items[0].queued_at + settings.max_wait;
    let queued_tokens = |q: &Queue| q.items.iter().map(|i| i.window.len()).sum::<usize>();
    while queue.items.len() < settings.max_batch
        && queued_tokens(&queue) < settings.max_tokens
        && !queue.closed
    {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        queue = shared
            .ready
            .wait_timeout(queue, deadline - now)
            .expect("queue lock")
            .0;
    }
    let mut take = 0;
    let mut width = 0;
    for item in queue.items.iter().take(settings.max_batch) {
        let wider = width.max(item.window.len());
        if take > 0 && (take + 1) * wider > settings.max_tokens {
            break;
        }
        width = wider;
        take += 1;
    }
    let batch: Vec<Item> = queue.items.drain(..take).collect();
    if !queue.items.is_empty() {
        shared.ready.notify_one();
    }
    Some(batch)
}

fn work(shared: &Shared, mut session: ModelSession) {
    let metrics = inference_metrics();
    let model = [shared.model.as_str()];
    while let Some(mut batch) = next_batch(shared) {
        batch.sort_by_key(|item| item.window.len());
        let windows: Vec<&Window> = batch.iter().map(|item| &item.window).collect();
        let real: usize = windows.iter().map(|w| w.len()).sum();
        let padded = windows.len() * windows.last().map_or(0, |w| w.len());
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| session.run(&windows)))
            .unwrap_or_else(|_| Err(InferenceError::Run("model session panicked".into())));
        let took = started.elapsed();
        {
            let mut stats = shared.stats.lock().expect("stats lock");
            stats.batches += 1;
            stats.windows += batch.len() as u64;
            stats.real_tokens += real as u64;
            stats.padded_tokens += padded as u64;
            if stats.durations.len() < KEPT_DURATIONS {
                stats.durations.push(took);
            }
        }
        metrics
            .batch_seconds
            .with_label_values(&model)
            .observe(took.as_secs_f64());
        metrics.batches.with_label_values(&model).inc();
        metrics
            .windows
            .with_label_values(&model)
            .inc_by(batch.len() as u64);
        metrics
            .tokens
            .with_label_values(&[model[0], "real"])
            .inc_by(real as u64);
        metrics
            .tokens
            .with_label_values(&[model[0], "padded"])
            .inc_by(padded as u64);
        match outcome {
            Ok(outputs) => {
                for (item, output) in batch.into_iter().zip(outputs) {
                    item.request.complete(item.slot, Ok(output));
                }
            }
            Err(error) => {
                metrics.failures.with_label_values(&model).inc();
                tracing::warn!(model = %shared.model, windows = batch.len(), %error, "model batch failed");
                for item in batch {
                    item.request.complete(item.slot, Err(error.clone()));
                }
            }
        }
    }
}
