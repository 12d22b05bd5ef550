//! The hosts of a network fault test and what runs on them: PostgreSQL, Redis and two
//! nodes, each in a network namespace of its own (`netns.rs`), and the readiness probe
//! the tests watch while a link is cut.

use std::time::Duration;

use tokio::time::Instant;

use crate::netns::Network;
use crate::own_postgres::OwnPostgres;
use crate::support::*;

/// Store and broker timeouts of the nodes under test: short, so that faults show quickly.
const DB_TIMEOUT: &str = "1s";
const DB_TCP_TIMEOUT: &str = "3s";
const REDIS_TIMEOUT: &str = "1s";
/// Longest a node may take to be ready again once its link is back.
pub const RECOVERY_MAX: Duration = Duration::from_secs(20);

/// The hosts of one test and what runs on them; fields drop in order, so the processes
/// stop before their network goes away.
pub struct Lab {
    nodes: Vec<ChildNode>,
    /// The Redis server, to restart.
    pub redis: RedisServer,
    _pg: OwnPostgres,
    /// The network, to cut and heal.
    pub net: Network,
}

impl Lab {
    /// PostgreSQL, Redis and two nodes on hosts `pg`, `redis`, `node1` and `node2`; `None`
    /// (skip) when namespaces, PostgreSQL or Redis are not available here.
    pub async fn start() -> Option<Lab> {
        Backend::postgres()?;
        let net = Network::create(&["pg", "redis", "node1", "node2"])?;
        let pg = OwnPostgres::start_in(&net.host("pg").netns, net.host("pg").ip);
        let redis = RedisServer::start_in(&net.host("redis").netns, net.host("redis").ip).await?;
        let mut nodes = Vec::new();
        for name in ["node1", "node2"] {
            let host = net.host(name);
            let spec = NodeSpec::new(&Backend::Postgres(pg.url.clone()))
                .in_netns(&host.netns, host.ip)
                .flag("redis-url", &redis.url())
                .flag("node-id", &host.netns)
                .flag("presence-ttl", "2s")
                .flag("send-rate", "0")
                .flag("outbound-queue", "8192")
                .flag("missed-max", "5000")
                .flag("db-timeout", DB_TIMEOUT)
                .flag("db-tcp-timeout", DB_TCP_TIMEOUT)
                .flag("redis-timeout", REDIS_TIMEOUT);
            nodes.push(spec.spawn(0).await);
        }
        let lab = Lab {
            nodes,
            redis,
            _pg: pg,
            net,
        };
        for node in 0..2 {
            lab.wait_ready(node, RECOVERY_MAX).await;
        }
        Some(lab)
    }

    /// HTTP and WebSocket access to `node` (0 or 1), through the bridge.
    pub fn api(&self, node: usize) -> Api {
        self.nodes[node].api()
    }

    /// Access to every node, in order.
    pub fn apis(&self) -> Vec<Api> {
        (0..self.nodes.len()).map(|node| self.api(node)).collect()
    }

    /// Waits until `/api/ready` of `node` says 200; returns how long that took.
    pub async fn wait_ready(&self, node: usize, within: Duration) -> Duration {
        let started = Instant::now();
        while readiness(&self.api(node)).await != Some(200) {
            assert!(
                started.elapsed() < within,
                "node {} not ready {within:?} after its link came back",
                node + 1
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        started.elapsed()
    }

    /// Keeps `host` cut off for `cut`, asking the readiness of `watched` nodes all along.
    pub async fn cut(&self, host: &str, cut: Duration, watched: &[usize]) -> Vec<Readiness> {
        self.net.cut(host);
        let started = Instant::now();
        let mut seen = vec![Readiness::default(); watched.len()];
        while started.elapsed() < cut {
            for (slot, &node) in watched.iter().enumerate() {
                let status = readiness(&self.api(node)).await;
                seen[slot].record(status, started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.net.heal(host);
        seen
    }
}

/// `GET /api/ready`: its status, or `None` when there was no answer within 3 s.
pub async fn readiness(api: &Api) -> Option<u16> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let url = format!("http://{}/api/ready", api.addr);
    http.get(url).send().await.ok().map(|r| r.status().as_u16())
}

/// What a node's readiness said during a cut.
#[derive(Debug, Default, Clone)]
pub struct Readiness {
    /// When it first said 503.
    pub first_503: Option<Duration>,
    /// Answers other than 503 after that (200, or none at all).
    wrong_after_503: usize,
    /// Answers before it said 503.
    before_503: usize,
}

impl Readiness {
    /// Records one answer, `at` into the cut.
    fn record(&mut self, status: Option<u16>, at: Duration) {
        match (status, self.first_503) {
            (Some(503), None) => self.first_503 = Some(at),
            (Some(503), Some(_)) => {}
            (_, Some(_)) => self.wrong_after_503 += 1,
            (_, None) => self.before_503 += 1,
        }
    }

    /// Asserts that the node said 503 within `within` of the cut, and kept saying it.
    pub fn assert_unready(&self, node: &str, within: Duration) {
        let first = self
            .first_503
            .unwrap_or_else(|| panic!("{node}: /api/ready never said 503 during the cut"));
        assert!(first <= within, "{node}: 503 only after {first:?}");
        assert_eq!(
            self.wrong_after_503, 0,
            "{node}: /api/ready said something else than 503 during the cut"
        );
    }
}
