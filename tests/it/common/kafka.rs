//! Apache Kafka for the integration tests: KRaft brokers started by `scripts/kafka/broker.sh`
//! (plain JVM processes, logs on disk, free local ports). One broker is shared by every test
//! of a test binary (`Broker::shared`); tests that stop, restart or reconfigure brokers start
//! their own (`Broker::start`, `Broker::cluster`, `Broker::start_with`). Topics and groups get
//! unique names so tests sharing a broker never see each other's records. Brokers are
//! stopped by pid when their handle drops, and by the script's watchdog when the test process
//! ends (a shared broker's handle is never dropped).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message};

use super::scripts::{self, watch_this_process};

/// How to start a dedicated broker or cluster.
#[derive(Default)]
pub struct BrokerOptions {
    pub nodes: usize,
    /// Extra listeners, `NAME:PROTOCOL` (configured through `properties`).
    pub listeners: Vec<String>,
    /// Lines appended to every node's server.properties.
    pub properties: String,
    /// Extra arguments of the storage format (`--add-scram ...`).
    pub format_args: Vec<String>,
}

/// A running broker or cluster.
pub struct Broker {
    dir: PathBuf,
    bootstrap: String,
    listeners: HashMap<String, String>,
    stopped: bool,
}

impl Broker {
    /// The broker every test of this binary shares (started on first use).
    pub fn shared() -> &'static Broker {
        static SHARED: OnceLock<Broker> = OnceLock::new();
        SHARED.get_or_init(Broker::start)
    }

    /// A dedicated single-node broker.
    pub fn start() -> Broker {
        Self::start_with(BrokerOptions::default())
    }

    /// A dedicated cluster of `nodes` combined broker and controller nodes.
    pub fn cluster(nodes: usize) -> Broker {
        Self::start_with(BrokerOptions {
            nodes,
            ..BrokerOptions::default()
        })
    }

    pub fn start_with(options: BrokerOptions) -> Broker {
        let dir = tempfile::Builder::new()
            .prefix("railyard-kafka-")
            .tempdir()
            .expect("broker dir")
            .keep();
        let mut args: Vec<String> = vec!["--nodes".into(), options.nodes.max(1).to_string()];
        args.extend(watch_this_process());
        for listener in &options.listeners {
            args.extend(["--listener".to_string(), listener.clone()]);
        }
        if !options.properties.is_empty() {
            let path = dir.join("extra.properties");
            std::fs::write(&path, &options.properties).unwrap();
            args.extend(["--properties".to_string(), path.display().to_string()]);
        }
        for arg in &options.format_args {
            args.extend(["--format-arg".to_string(), arg.clone()]);
        }
        let started = Instant::now();
        let bootstrap = scripts::run("broker.sh", "start", &dir, &args, true);
        let listeners = std::fs::read_to_string(dir.join("listeners"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        eprintln!(
            "kafka: {} node(s) at {bootstrap} ready in {:.1} s",
            options.nodes.max(1),
            started.elapsed().as_secs_f64()
        );
        Broker {
            dir,
            bootstrap,
            listeners,
            stopped: false,
        }
    }

    /// The PLAINTEXT bootstrap servers of every node.
    pub fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    /// `host:port` of a listener (`PLAINTEXT`, or one named in the options) of node `node`
    /// (1-based).
    pub fn listener(&self, node: usize, name: &str) -> String {
        self.listeners[&format!("node{node}.{name}")].clone()
    }

    fn run_script(&self, args: &[&str]) {
        scripts::run("broker.sh", args[0], &self.dir, &args[1..], true);
    }

    /// Stops one node: SIGKILL when `kill`, else SIGTERM and a controlled shutdown.
    pub fn stop_node(&self, node: usize, kill: bool) {
        let node = node.to_string();
        let mut args = vec!["stop", "--node", &node];
        if kill {
            args.push("--kill");
        }
        self.run_script(&args);
    }

    /// Starts a stopped node again on its ports and its on-disk log; returns once the
    /// cluster lists every broker.
    pub fn start_node(&self, node: usize) {
        self.run_script(&["start-node", &node.to_string()]);
    }

    /// Stops every node (SIGKILL); the handle can no longer be used.
    pub fn stop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            self.run_script(&["stop", "--kill"]);
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            scripts::run("broker.sh", "stop", &self.dir, ["--kill"], false);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{nanos:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Creates topics explicitly (the test brokers do not create topics on produce).
pub fn create_topics(bootstrap: &str, topics: &[(&str, i32)]) {
    create_replicated_topics(bootstrap, topics, 1, &[]);
}

/// Creates topics with a replication factor and topic settings (`min.insync.replicas`).
pub fn create_replicated_topics(
    bootstrap: &str,
    topics: &[(&str, i32)],
    replication: i32,
    settings: &[(&str, &str)],
) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|(name, partitions)| {
            settings.iter().fold(
                NewTopic::new(name, *partitions, TopicReplication::Fixed(replication)),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    let results = block_on(admin.create_topics(
        &new,
        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
    ))
    .expect("create topics");
    for result in results {
        result.expect("topic created");
    }
}

/// Creates a one-partition topic with `cleanup.policy=compact`.
pub fn create_compacted_topic(bootstrap: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(1)).set("cleanup.policy", "compact");
    let results = block_on(admin.create_topics(
        [&new],
        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
    ))
    .expect("create topic");
    for result in results {
        result.expect("compacted topic created");
    }
}

/// An idempotent producer (a retried send is never written twice), batching for speed.
pub fn producer(bootstrap: &str) -> ThreadedProducer<DefaultProducerContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("queue.buffering.max.messages", "500000")
        .create()
        .expect("producer")
}

/// Produces `(key, payload)` records to one partition each (round robin) and waits for them.
pub fn produce(bootstrap: &str, topic: &str, partitions: i32, records: &[(String, Vec<u8>)]) {
    let producer = producer(bootstrap);
    for (i, (key, payload)) in records.iter().enumerate() {
        let mut record = BaseRecord::to(topic)
            .key(key.as_bytes())
            .payload(payload.as_slice())
            .partition(i as i32 % partitions);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("test records delivered");
}

/// A consumed output record.
#[derive(Debug, Clone)]
pub struct Received {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: HashMap<String, String>,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).expect("JSON output")
    }
}

/// Reads `topic` from the start until `count` records arrived or `timeout` passed.
pub fn consume(bootstrap: &str, topic: &str, count: usize, timeout: Duration) -> Vec<Received> {
    consume_at(
        bootstrap,
        topic,
        "read_committed",
        count,
        timeout,
        Duration::ZERO,
    )
}

/// Reads `topic` from the start at `isolation` (`read_committed`, librdkafka's default, or
/// `read_uncommitted`) until `count` records arrived and then `settle` passed with nothing
/// new (so a record beyond the expected count shows), or until `timeout` passed.
pub fn consume_at(
    bootstrap: &str,
    topic: &str,
    isolation: &str,
    count: usize,
    timeout: Duration,
    settle: Duration,
) -> Vec<Received> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut last_new = Instant::now();
    while Instant::now() < deadline && (out.len() < count || last_new.elapsed() < settle) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let mut headers = HashMap::new();
            if let Some(h) = m.headers() {
                for header in h.iter() {
                    if let Some(v) = header.value {
                        headers.insert(
                            header.key.to_string(),
                            String::from_utf8_lossy(v).into_owned(),
                        );
                    }
                }
            }
            out.push(Received {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                headers,
            });
            last_new = Instant::now();
        }
    }
    out
}

/// The node id (1-based, as broker.sh numbers them) leading `topic`'s `partition`.
pub fn partition_leader(bootstrap: &str, topic: &str, partition: i32) -> usize {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("metadata client");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(metadata) = consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) {
            let leader = metadata
                .topics()
                .iter()
                .flat_map(|t| t.partitions())
                .find(|p| p.id() == partition)
                .map(|p| p.leader());
            if let Some(leader) = leader.filter(|l| *l > 0) {
                return leader as usize;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no leader for {topic}/{partition}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
