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

/// What a worker runs a batch with: a model session, or a stand-in in tests.
pub trait BatchRunner: Send + 'static {
    /// Runs windows as one batch; one output per window, in order.
    fn run(&mut self, windows: &[&Window]) -> Result<Vec<WindowOutput>, InferenceError>;
}

impl BatchRunner for ModelSession {
    fn run(&mut self, windows: &[&Window]) -> Result<Vec<WindowOutput>, InferenceError> {
        ModelSession::run(self, windows)
    }
}

/// Worker threads around sessions of one model.
pub struct Batcher {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Batcher {
    /// Starts one worker thread per session.
    pub fn start<R: BatchRunner>(
        sessions: Vec<R>,
        settings: BatchSettings,
        model: &str,
    ) -> Batcher {
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

fn work<R: BatchRunner>(shared: &Shared, mut session: R) {
    let metrics = inference_metrics();
    let model = [shared.model.as_str()];
    while let Some(mut batch) = next_batch(shared) {
        batch.sort_by_key(|item| item.window.len());
        let windows: Vec<&Window> = batch.iter().map(|item| &item.window).collect();
        let real: usize = windows.iter().map(|w| w.len()).sum();
        let padded = windows.len() * windows.last().map_or(0, |w| w.len());
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| session.run(&windows)))
            .map(|result| {
                result.and_then(|outputs| {
                    if outputs.len() == windows.len() {
                        Ok(outputs)
                    } else {
                        Err(InferenceError::Run(format!(
                            "{} outputs for {} windows",
                            outputs.len(),
                            windows.len()
                        )))
                    }
                })
            })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// (rows, width) of every batch run.
    type Shapes = Arc<Mutex<Vec<(usize, usize)>>>;

    /// Echoes each window's first id and length; records batch shapes; fails on id 666.
    struct Echo {
        shapes: Shapes,
        delay: Duration,
    }

    impl BatchRunner for Echo {
        fn run(&mut self, windows: &[&Window]) -> Result<Vec<WindowOutput>, InferenceError> {
            std::thread::sleep(self.delay);
            let width = windows.iter().map(|w| w.len()).max().unwrap_or(0);
            self.shapes.lock().unwrap().push((windows.len(), width));
            if windows.iter().any(|w| w.ids[0] == 666) {
                return Err(InferenceError::Run("poisoned batch".into()));
            }
            Ok(windows
                .iter()
                .map(|w| vec![vec![w.ids[0] as f32, w.len() as f32]])
                .collect())
        }
    }

    fn window(id: i64, len: usize) -> Window {
        let mut ids = vec![id];
        ids.resize(len, 1);
        Window {
            type_ids: vec![0; len],
            shapes: vec![0; len],
            offsets: vec![None; len],
            ids,
        }
    }

    fn batcher(max_batch: usize, max_tokens: usize, wait_ms: u64) -> (Batcher, Shapes) {
        let shapes = Arc::new(Mutex::new(Vec::new()));
        let runner = Echo {
            shapes: shapes.clone(),
            delay: Duration::from_millis(1),
        };
        let settings = BatchSettings {
            max_batch,
            max_tokens,
            max_wait: Duration::from_millis(wait_ms),
        };
        (Batcher::start(vec![runner], settings, "test"), shapes)
    }

    #[test]
    fn outputs_map_back_to_their_windows() {
        let (batcher, _) = batcher(4, 1000, 1);
        let windows: Vec<Window> = (0..23)
            .map(|i| window(i, 1 + (i as usize * 7) % 11))
            .collect();
        let outputs = batcher.run(windows.clone());
        for (window, output) in windows.iter().zip(outputs) {
            let output = output.unwrap();
            assert_eq!(output[0], vec![window.ids[0] as f32, window.len() as f32]);
        }
    }

    #[test]
    fn batches_respect_the_window_and_token_limits() {
        let (batcher, shapes) = batcher(8, 100, 1);
        let mut windows: Vec<Window> = (0..40).map(|i| window(i, 5 + (i as usize % 30))).collect();
        windows.sort_by_key(Window::len);
        batcher.run(windows);
        let shapes = shapes.lock().unwrap();
        assert_eq!(shapes.iter().map(|(n, _)| n).sum::<usize>(), 40);
        for &(rows, width) in shapes.iter() {
            assert!(rows <= 8, "{rows} rows");
            assert!(rows == 1 || rows * width <= 100, "{rows} x {width}");
        }
        // Short windows fill a batch of 8; the longest ones go three at a time.
        assert!(shapes.iter().any(|&(rows, _)| rows == 8));
        assert!(shapes.iter().any(|&(rows, _)| rows <= 3));
    }

    #[test]
    fn windows_from_concurrent_callers_share_batches() {
        // A long wait: callers arriving within it are batched together.
        let (batcher, shapes) = batcher(64, 100_000, 200);
        let batcher = Arc::new(batcher);
        let done = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..8)
            .map(|c| {
                let batcher = batcher.clone();
                let done = done.clone();
                std::thread::spawn(move || {
                    let outputs = batcher.run(vec![window(c, 10), window(100 + c, 12)]);
                    assert_eq!(outputs[0].as_ref().unwrap()[0][0], c as f32);
                    assert_eq!(outputs[1].as_ref().unwrap()[0][0], (100 + c) as f32);
                    done.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        for caller in callers {
            caller.join().unwrap();
        }
        assert_eq!(done.load(Ordering::SeqCst), 8);
        let shapes = shapes.lock().unwrap();
        assert!(
            shapes.len() < 8 && shapes.iter().any(|&(rows, _)| rows > 2),
            "8 callers x 2 windows ran as {shapes:?}"
        );
    }

    #[test]
    fn a_failed_batch_fails_only_its_windows() {
        let (batcher, _) = batcher(2, 1000, 0);
        let outputs = batcher.run(vec![
            window(1, 3),
            window(2, 3),
            window(666, 9),
            window(3, 9),
        ]);
        assert!(outputs[0].is_ok() && outputs[1].is_ok());
        assert!(outputs[2].is_err() && outputs[3].is_err());
    }
}
