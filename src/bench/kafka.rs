//! `railyard bench --kafka`: the topology's operators end to end through a real broker.
//!
//! The topology is rewritten to read a fresh input topic and write each sink to a fresh
//! topic. Throughput: N events are produced first, then railyard runs (in this process)
//! until a reader has seen all N verdicts; events/s counts from start to the last verdict.
//! The pass-through topology (no operators) runs the same way in the same command as the
//! baseline. Latency: events are produced at a fixed rate (half the measured maximum by
//! default) and each verdict's delay from its input's produce timestamp is recorded.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message};

use crate::bench::pass_through;
use crate::config::{
    Delivery, Format, KafkaConfig, KafkaSinkConfig, KafkaSourceConfig, RecordKind, SinkSpec,
    SourceSpec, Topology,
};
use crate::kafka::records::{header, header_text};
use crate::kafka::KafkaRunError;
use crate::runtime::RunError;
use crate::telemetry::metrics::Metrics;
use crate::topology::RunOptions;

/// Seconds of events at the start of the latency run left out of the figures.
const WARM_UP_SECONDS: f64 = 2.0;

/// What to measure.
#[derive(Debug, Clone)]
pub struct KafkaBenchOptions {
    pub brokers: String,
    /// Events per throughput run.
    pub events: usize,
    pub partitions: i32,
    pub threads: usize,
    /// Events/s for the latency run; `None`: half the measured maximum.
    pub latency_rate: Option<f64>,
    pub latency_seconds: f64,
    /// Interleaved throughput rounds (pass-through, then topology); medians are reported.
    pub rounds: usize,
}

/// One throughput run.
#[derive(Debug, Clone)]
pub struct Throughput {
    pub events: usize,
    pub seconds: f64,
    pub events_per_second: f64,
}

/// Latency from produce timestamp to verdict received, at a fixed rate.
#[derive(Debug, Clone)]
pub struct Latency {
    pub rate: f64,
    pub events: usize,
    pub p50_ms: i64,
    pub p99_ms: i64,
    pub max_ms: i64,
}

#[derive(Debug, Clone)]
pub struct KafkaBenchReport {
    /// Medians over the rounds.
    pub measured: Throughput,
    pub baseline: Throughput,
    /// Events/s of each round: (topology, pass-through).
    pub rounds: Vec<(f64, f64)>,
    pub latency: Latency,
}

fn fail(what: &str) -> impl Fn(rdkafka::error::KafkaError) -> KafkaRunError + '_ {
    move |e| KafkaRunError::Client(format!("{what}: {e}"))
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
        .block_on(future)
}

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("railyard-bench-{prefix}-{nanos:x}")
}

/// `topology` reading `input` and writing each sink to its own new topic.
fn over_kafka(
    topology: &Topology,
    options: &KafkaBenchOptions,
    run: &str,
) -> Result<(Topology, String, String), RunError> {
    let mut t = topology.clone();
    let input = unique(&format!("{run}-in"));
    let group = unique(&format!("{run}-group"));
    let mut topics = vec![(input.clone(), options.partitions)];
    for source in &mut t.sources {
        source.spec = SourceSpec::Kafka(KafkaSourceConfig {
            topics: vec![input.clone()],
            group_id: group.clone(),
            format: Format::Json,
            start: "earliest".to_string(),
        });
    }
    let mut verdicts = None;
    for sink in &mut t.sinks {
        let records = sink.spec.records();
        let topic = unique(&format!("{run}-{}", sink.id));
        if records == RecordKind::Verdicts && verdicts.is_none() {
            verdicts = Some(topic.clone());
        }
        topics.push((topic.clone(), options.partitions));
        sink.spec = SinkSpec::Kafka(KafkaSinkConfig {
            topic,
            records,
            format: Format::Json,
        });
    }
    let verdicts = verdicts.ok_or_else(|| {
        KafkaRunError::Client("the topology has no verdict sink to measure".to_string())
    })?;
    t.telemetry = None;
    // Client properties (security, compression) come from the topology's own [kafka].
    let properties = topology
        .kafka
        .as_ref()
        .map(|k| k.properties.clone())
        .unwrap_or_default();
    t.kafka = Some(KafkaConfig {
        brokers: options.brokers.clone(),
        properties,
        delivery: Delivery::AtLeastOnce,
        max_in_flight: 20_000,
        max_wait_ms: 10,
        commit_interval_ms: 200,
        drain_timeout_ms: 10_000,
        statistics_interval_ms: 0,
        connect_timeout_ms: 30_000,
        transactional_id: None,
        schema_registry: None,
    });
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &options.brokers)
        .create()
        .map_err(fail("admin client"))?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|(name, p)| NewTopic::new(name, *p, TopicReplication::Fixed(1)))
        .collect();
    let results = block_on(admin.create_topics(
        &new,
        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
    ))
    .map_err(fail("create topics"))?;
    for result in results {
        result.map_err(|(topic, code)| {
            KafkaRunError::Client(format!("cannot create topic `{topic}`: {code}"))
        })?;
    }
    Ok((t, input, verdicts))
}

fn producer(
    brokers: &str,
    properties: &BTreeMap<String, crate::config::kafka::PropertyValue>,
) -> Result<ThreadedProducer<DefaultProducerContext>, RunError> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "500000");
    for (key, value) in properties {
        config.set(key, value.to_text());
    }
    Ok(config.create().map_err(fail("bench producer"))?)
}

/// Sends `count` events cycling over `lines`, at most `rate` per second (unbounded: None).
fn produce(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    lines: &[Vec<u8>],
    count: usize,
    rate: Option<f64>,
) {
    let started = Instant::now();
    for i in 0..count {
        if let Some(rate) = rate {
            let due = started + Duration::from_secs_f64(i as f64 / rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let payload = &lines[i % lines.len()];
        let key = i.to_string();
        let mut record = BaseRecord::to(topic)
            .key(key.as_bytes())
            .payload(payload.as_slice());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, returned)) => {
                    record = returned;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
    let _ = producer.flush(Duration::from_secs(120));
}

/// Reads `topic` until `count` records or `timeout`; returns each record's delay (ms) from
/// its input's produce timestamp, and when the last one arrived.
fn read_verdicts(
    brokers: &str,
    topic: &str,
    partitions: i32,
    count: usize,
    timeout: Duration,
) -> Result<(Vec<i64>, Instant), RunError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .set("fetch.error.backoff.ms", "10")
        .create()
        .map_err(fail("verdict reader"))?;
    // Assigned, not subscribed: no group join delays the reading.
    let mut list = rdkafka::TopicPartitionList::new();
    for partition in 0..partitions {
        list.add_partition_offset(topic, partition, rdkafka::Offset::Beginning)
            .map_err(fail("assign"))?;
    }
    consumer.assign(&list).map_err(fail("assign"))?;
    let deadline = Instant::now() + timeout;
    let mut delays = Vec::with_capacity(count);
    let mut last = Instant::now();
    while delays.len() < count {
        if Instant::now() > deadline {
            return Err(KafkaRunError::Client(format!(
                "only {} of {count} verdicts arrived within {timeout:?}",
                delays.len()
            ))
            .into());
        }
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            let produced = message
                .headers()
                .and_then(|h| header_text(h, header::SOURCE_TIMESTAMP))
                .and_then(|t| t.parse::<i64>().ok())
                .unwrap_or(now_ms);
            delays.push(now_ms - produced);
            last = Instant::now();
        }
    }
    Ok((delays, last))
}

/// Runs `topology` over Kafka until `events` verdicts were read; returns the delays and
/// the seconds from start to the last verdict.
fn timed_run(
    topology: &Topology,
    options: &KafkaBenchOptions,
    name: &str,
    lines: &[Vec<u8>],
    events: usize,
    rate: Option<f64>,
) -> Result<(Vec<i64>, f64), RunError> {
    let (t, input, verdicts) = over_kafka(topology, options, name)?;
    let properties = t
        .kafka
        .as_ref()
        .map(|k| k.properties.clone())
        .unwrap_or_default();
    let producer = producer(&options.brokers, &properties)?;
    if rate.is_none() {
        produce(&producer, &input, lines, events, None);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let metrics = Arc::new(Metrics::new());
    let run_options = RunOptions {
        record_latencies: false,
        threads: options.threads,
    };
    let result = std::thread::scope(|scope| {
        let runner = scope.spawn(|| {
            crate::runtime::run_with_metrics(&t, &run_options, stop.clone(), metrics.clone())
        });
        // Time from the first partition assignment: joining the group is not throughput.
        let joined = Instant::now() + Duration::from_secs(60);
        while metrics.rebalances.with_label_values(&["assign"]).get() == 0
            && Instant::now() < joined
            && !runner.is_finished()
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let started = Instant::now();
        let feeder = rate.map(|r| {
            let (producer, input) = (&producer, &input);
            scope.spawn(move || produce(producer, input, lines, events, Some(r)))
        });
        let read = read_verdicts(
            &options.brokers,
            &verdicts,
            options.partitions,
            events,
            Duration::from_secs(600),
        );
        stop.store(true, Ordering::Release);
        if let Some(feeder) = feeder {
            let _ = feeder.join();
        }
        let run = runner.join().expect("the bench run does not panic");
        read.and_then(|(delays, last)| run.map(|_| (delays, (last - started).as_secs_f64())))
    })?;
    Ok(result)
}

/// Throughput of the topology and of its pass-through baseline, then latency at a fixed
/// rate, all against the same broker.
pub fn run(
    topology: &Topology,
    lines: &[Vec<u8>],
    options: &KafkaBenchOptions,
) -> Result<KafkaBenchReport, RunError> {
    let throughput = |t: &Topology, name: &str| -> Result<Throughput, RunError> {
        let (_, seconds) = timed_run(t, options, name, lines, options.events, None)?;
        Ok(Throughput {
            events: options.events,
            seconds,
            events_per_second: options.events as f64 / seconds.max(1e-9),
        })
    };
    // Interleaved rounds, median of each: the broker shares the machine, and its speed
    // drifts between runs.
    let mut baselines = Vec::new();
    let mut measures = Vec::new();
    for round in 0..options.rounds.max(1) {
        baselines.push(throughput(
            &pass_through(topology),
            &format!("baseline{round}"),
        )?);
        measures.push(throughput(topology, &format!("measured{round}"))?);
    }
    let median = |mut runs: Vec<Throughput>| {
        runs.sort_by(|a, b| a.events_per_second.total_cmp(&b.events_per_second));
        runs[runs.len() / 2].clone()
    };
    let rounds: Vec<(f64, f64)> = baselines
        .iter()
        .zip(&measures)
        .map(|(b, m)| (m.events_per_second, b.events_per_second))
        .collect();
    let baseline = median(baselines);
    let measured = median(measures);
    let rate = options
        .latency_rate
        .unwrap_or(measured.events_per_second / 2.0)
        .max(1.0);
    let count = ((rate * options.latency_seconds) as usize).max(100);
    // The first seconds measure start-up (first fetches, metadata), not steady state.
    let warm_up = (rate * WARM_UP_SECONDS) as usize;
    let (delays, _) = timed_run(
        topology,
        options,
        "latency",
        lines,
        warm_up + count,
        Some(rate),
    )?;
    let mut delays = delays[warm_up.min(delays.len())..].to_vec();
    delays.sort_unstable();
    let pick = |q: f64| delays[((delays.len() - 1) as f64 * q).round() as usize];
    Ok(KafkaBenchReport {
        measured,
        baseline,
        rounds,
        latency: Latency {
            rate,
            events: delays.len(),
            p50_ms: pick(0.5),
            p99_ms: pick(0.99),
            max_ms: *delays.last().unwrap_or(&0),
        },
    })
}
