//! Persistence benchmark: how many messages per second each store commits through
//! `Store::commit_batch`, at several batch sizes, from a few concurrent writers.
//!
//! Batch size 1 is the naive design (one transaction, so one fsync, per message); larger
//! sizes are what the persistence actors' group commit achieves under load. Every commit
//! is durable (SQLite `synchronous=FULL`, PostgreSQL `fsync=on`), which is the point:
//! the numbers say what an acknowledged message costs.
//!
//! ```text
//! cargo run --release --bin persist-bench                                  # SQLite only
//! cargo run --release --bin persist-bench -- --database-url postgres://…   # and PostgreSQL
//! ```
//!
//! It prints a markdown table. It runs on a current-thread runtime, like an actix node.

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_actors::ids::{ClientId, RoomCode};
use chat_actors::model::RoomRecord;
use chat_node::store::{self, NewMessage, Store, StoreError, Write};
use clap::Parser;
use tokio::task::JoinSet;

/// Measures durable commit throughput of the SQLite and PostgreSQL stores.
#[derive(Debug, Parser)]
#[command(name = "persist-bench")]
struct Options {
    /// PostgreSQL URL; PostgreSQL is measured too when set.
    #[arg(long, env = "BENCH_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,

    /// Skip SQLite.
    #[arg(long)]
    no_sqlite: bool,

    /// Batch sizes to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64,256")]
    batch_sizes: Vec<usize>,

    /// Messages committed per run with batches larger than one.
    #[arg(long, default_value_t = 20_000)]
    messages: usize,

    /// Messages committed per run with batch size 1 (one fsync each, so slow).
    #[arg(long, default_value_t = 2_000)]
    single_messages: usize,

    /// Rooms the messages are spread over.
    #[arg(long, default_value_t = 100)]
    rooms: usize,

    /// Concurrent writers (like persistence shards), each with its own batches.
    #[arg(long, default_value_t = 4)]
    writers: usize,

    /// Let every writer write to every room. By default each writer owns a shard of the
    /// rooms, as the node's persistence actors do, so batches of different writers never
    /// wait for each other's room locks.
    #[arg(long)]
    shared_rooms: bool,

    /// Connections per store (PostgreSQL pool, SQLite readers).
    #[arg(long, default_value_t = 8)]
    pool_size: u32,

    /// Message content length in bytes.
    #[arg(long, default_value_t = 80)]
    content_bytes: usize,
}

/// A store to measure.
#[derive(Debug, Clone)]
enum Target {
    /// SQLite in a fresh temporary directory per run.
    Sqlite,
    /// PostgreSQL at this URL (fresh rooms per run).
    Postgres(String),
}

impl Target {
    fn name(&self) -> &'static str {
        match self {
            Target::Sqlite => "SQLite",
            Target::Postgres(_) => "PostgreSQL",
        }
    }
}

/// One measured run.
struct Outcome {
    messages: usize,
    commits: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// The commit latency at quantile `q` (0..=1), in milliseconds; `latencies` is
    /// sorted.
    fn latency_ms(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let last = self.latencies.len() - 1;
        let index = ((last as f64) * q).round() as usize;
        self.latencies[index.min(last)].as_secs_f64() * 1000.0
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let options = Options::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(options))
}

async fn run(options: Options) -> Result<(), Box<dyn Error>> {
    let mut targets = Vec::new();
    if !options.no_sqlite {
        targets.push(Target::Sqlite);
    }
    if let Some(url) = options
        .database_url
        .clone()
        .filter(|u| !u.trim().is_empty())
    {
        targets.push(Target::Postgres(url));
    }

    let rooms_label = if options.shared_rooms {
        format!("{} shared", options.rooms)
    } else {
        format!("{} sharded", options.rooms)
    };
    println!(
        "| store | batch size | writers | rooms | messages | commits | seconds | messages/s | commit p50 ms | commit p99 ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for target in &targets {
        for &batch_size in &options.batch_sizes {
            let batch_size = batch_size.max(1);
            let messages = if batch_size == 1 {
                options.single_messages
            } else {
                options.messages
            };
            let outcome = measure(target, &options, batch_size, messages).await?;
            println!(
                "| {} | {} | {} | {} | {} | {} | {:.2} | {:.0} | {:.2} | {:.2} |",
                target.name(),
                batch_size,
                options.writers,
                rooms_label,
                outcome.messages,
                outcome.commits,
                outcome.elapsed.as_secs_f64(),
                outcome.rate(),
                outcome.latency_ms(0.5),
                outcome.latency_ms(0.99),
            );
        }
    }
    Ok(())
}

/// Opens the target, creates the rooms, and times `messages` messages committed in
/// batches of `batch_size` by the configured number of concurrent writers.
async fn measure(
    target: &Target,
    options: &Options,
    batch_size: usize,
    messages: usize,
) -> Result<Outcome, Box<dyn Error>> {
    let scratch = match target {
        Target::Sqlite => Some(ScratchDir::new()?),
        Target::Postgres(_) => None,
    };
    let store = match (target, &scratch) {
        (Target::Postgres(url), _) => {
            store::connect(
                Some(url),
                ".".as_ref(),
                options.pool_size,
                store::PostgresTimeouts::default(),
            )
            .await?
        }
        (Target::Sqlite, Some(dir)) => {
            store::connect(
                None,
                &dir.0,
                options.pool_size,
                store::PostgresTimeouts::default(),
            )
            .await?
        }
        (Target::Sqlite, None) => return Err("no scratch directory".into()),
    };

    let mut rooms = Vec::with_capacity(options.rooms);
    for _ in 0..options.rooms.max(1) {
        rooms.push(create_room(&*store).await?);
    }
    let content: Arc<str> = "x".repeat(options.content_bytes.max(1)).into();

    let writers = options.writers.max(1);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for writer in 0..writers {
        // Spread the count evenly; the first writers take the remainder.
        let share = messages / writers + usize::from(writer < messages % writers);
        let store = Arc::clone(&store);
        let rooms: Vec<RoomRecord> = if options.shared_rooms || rooms.len() < writers {
            rooms.to_vec()
        } else {
            rooms
                .iter()
                .skip(writer)
                .step_by(writers)
                .cloned()
                .collect()
        };
        let content = Arc::clone(&content);
        tasks.spawn(async move {
            write_share(&*store, &rooms, &content, writer, share, batch_size).await
        });
    }
    let mut outcome = Outcome {
        messages: 0,
        commits: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    while let Some(result) = tasks.join_next().await {
        let (committed, latencies) = result??;
        outcome.messages += committed;
        outcome.commits += latencies.len();
        outcome.latencies.extend(latencies);
    }
    outcome.elapsed = started.elapsed();
    outcome.latencies.sort_unstable();
    drop(store);
    drop(scratch);
    Ok(outcome)
}

/// One writer's work: commits `share` messages in batches; returns how many were
/// created and each commit's latency.
async fn write_share(
    store: &dyn Store,
    rooms: &[RoomRecord],
    content: &str,
    writer: usize,
    share: usize,
    batch_size: usize,
) -> Result<(usize, Vec<Duration>), StoreError> {
    let mut latencies = Vec::with_capacity(share / batch_size + 1);
    let mut created = 0;
    let mut sent = 0;
    // Rooms are picked by a small LCG: varied, cheap and reproducible.
    let mut seed = (writer as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    while sent < share {
        let size = batch_size.min(share - sent);
        let mut batch = Vec::with_capacity(size);
        for _ in 0..size {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let room = &rooms[(seed >> 33) as usize % rooms.len()];
            let client_id = ClientId::parse(&format!("w{writer}-{sent}"))
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            batch.push(Write::Send(NewMessage {
                room_id: room.room.id,
                room_code: room.room.code,
                sender: format!("writer-{writer}"),
                content: content.to_owned(),
                client_id: Some(client_id),
                bot: false,
                author_id: None,
                reply_to: None,
            }));
            sent += 1;
        }
        let started = Instant::now();
        let outcomes = store.commit_batch(&batch).await?;
        latencies.push(started.elapsed());
        created += outcomes.len();
    }
    Ok((created, latencies))
}

/// A room with a fresh random code.
async fn create_room(store: &dyn Store) -> Result<RoomRecord, StoreError> {
    loop {
        match store
            .create_room(RoomCode::random(), "unused-owner-key-hash")
            .await
        {
            Err(StoreError::CodeTaken) => continue,
            result => return result,
        }
    }
}

/// A temporary directory removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> std::io::Result<ScratchDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let path =
            std::env::temp_dir().join(format!("persist-bench-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(ScratchDir(path))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // Best effort: a leftover directory in /tmp is harmless.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
