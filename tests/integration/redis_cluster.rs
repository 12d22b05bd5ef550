//! A throwaway Redis Cluster of three masters and three replicas on loopback ports, made
//! with Debian's `redis-server` and `redis-cli --cluster create`, for the sharded tests.

use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use crate::support::free_ports;

/// How long a master may be unreachable before its replica takes over; short, so that a
/// failover test does not wait long (production clusters use 15 s by default).
pub const NODE_TIMEOUT_MS: u64 = 1000;

/// One `redis-server` of the cluster.
struct Server {
    port: u16,
    /// `None` once killed.
    child: Mutex<Option<Child>>,
}

impl Server {
    fn is_up(&self) -> bool {
        self.child.lock().is_ok_and(|child| child.is_some())
    }

    fn kill(&self) {
        let child = self.child.lock().ok().and_then(|mut child| child.take());
        if let Some(mut child) = child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A master as `CLUSTER NODES` describes it.
#[derive(Debug, Clone)]
pub struct Master {
    /// Its node id.
    pub id: String,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The slot ranges it owns, inclusive.
    pub slots: Vec<(u16, u16)>,
}

impl Master {
    /// Whether it owns `slot`.
    pub fn owns(&self, slot: u16) -> bool {
        self.slots
            .iter()
            .any(|(from, to)| (*from..=*to).contains(&slot))
    }
}

/// Six servers forming one cluster; stopped on drop.
pub struct RedisCluster {
    servers: Vec<Server>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    /// Starts the servers and joins them into a cluster with one replica per master;
    /// `None` (skip) when Redis is not installed, a failure when `CHAT_REQUIRE_REDIS=1`.
    pub async fn start() -> Option<RedisCluster> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            assert!(
                std::env::var("CHAT_REQUIRE_REDIS").as_deref() != Ok("1"),
                "CHAT_REQUIRE_REDIS=1 but redis-server is not installed"
            );
            eprintln!("redis-server not installed: skipping a Redis Cluster test");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cluster = RedisCluster {
            servers: Vec::new(),
            _dir: dir,
        };
        let ports = free_ports(12);
        for pair in ports.chunks(2) {
            let (port, bus_port) = (pair[0], pair[1]);
            let home = cluster._dir.path().join(port.to_string());
            std::fs::create_dir_all(&home).expect("server dir");
            let child = Command::new("redis-server")
                .current_dir(&home)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                ])
                .args(["--cluster-port", &bus_port.to_string()])
                .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
                .args(["--save", "", "--appendonly", "no"])
                // A replica that never synced cannot take over: sync at once, not after
                // the default 5 s wait for more replicas.
                .args(["--repl-diskless-sync-delay", "0"])
                .stdout(Stdio::null())
                .spawn()
                .expect("start redis-server");
            cluster.servers.push(Server {
                port,
                child: Mutex::new(Some(child)),
            });
        }
        for server in &cluster.servers {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while tokio::net::TcpStream::connect(("127.0.0.1", server.port))
                .await
                .is_err()
            {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "redis did not start"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let addresses: Vec<String> = cluster
            .servers
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        let created = tokio::process::Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .status()
            .await
            .is_ok_and(|s| s.success());
        assert!(created, "redis-cli --cluster create failed");
        cluster.wait_until_healthy().await;
        Some(cluster)
    }

    /// Waits until every live server says the cluster is ok and sees three masters that
    /// cover all slots, and every live replica is in sync with its master (only such a
    /// replica can take over when its master fails).
    pub async fn wait_until_healthy(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let mut healthy = true;
            for port in self.live_ports() {
                let info = cli(port, &["cluster", "info"]).await;
                healthy &= info.contains("cluster_state:ok");
                healthy &= self.masters_seen_by(port).await.len() == 3;
                let replication = cli(port, &["info", "replication"]).await;
                healthy &= replication.contains("role:master")
                    || replication.contains("master_link_status:up");
            }
            if healthy {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                let port = self.live_ports()[0];
                panic!(
                    "the Redis Cluster did not become healthy; {port} sees:\n{}{}",
                    cli(port, &["cluster", "info"]).await,
                    cli(port, &["cluster", "nodes"]).await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn live_ports(&self) -> Vec<u16> {
        self.servers
            .iter()
            .filter(|s| s.is_up())
            .map(|s| s.port)
            .collect()
    }

    /// The seed list a node is given: every server (any one that answers is enough).
    pub fn url(&self) -> String {
        self.servers
            .iter()
            .map(|s| format!("redis://127.0.0.1:{}", s.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The masters that own slots, as a live server sees them.
    async fn masters_seen_by(&self, port: u16) -> Vec<Master> {
        cli(port, &["cluster", "nodes"])
            .await
            .lines()
            .filter_map(parse_master)
            .filter(|m| !m.slots.is_empty())
            .collect()
    }

    /// The masters that own slots now.
    pub async fn masters(&self) -> Vec<Master> {
        let port = self.live_ports()[0];
        self.masters_seen_by(port).await
    }

    /// The slot of `key`.
    pub async fn slot(&self, key: &str) -> u16 {
        let port = self.live_ports()[0];
        cli(port, &["cluster", "keyslot", key])
            .await
            .trim()
            .parse()
            .expect("a slot number")
    }

    /// The master that owns `key`'s slot now.
    pub async fn owner(&self, key: &str) -> Master {
        self.owner_if_any(key)
            .await
            .expect("a master owns every slot")
    }

    /// The live master that owns `key`'s slot now; `None` while its master failed and no
    /// replica has taken over yet.
    pub async fn owner_if_any(&self, key: &str) -> Option<Master> {
        let slot = self.slot(key).await;
        self.masters().await.into_iter().find(|m| m.owns(slot))
    }

    /// `redis-cli -p PORT ARGS` on one of the servers.
    pub async fn cli(&self, port: u16, args: &[&str]) -> String {
        cli(port, args).await
    }

    /// Kills the server on `port` (SIGKILL).
    pub fn kill(&self, port: u16) {
        if let Some(server) = self.servers.iter().find(|s| s.port == port) {
            server.kill();
        }
    }

    /// Moves slots from master `from` to master `to` with `redis-cli --cluster reshard`:
    /// the first `count` slots `from` owns, keys included.
    pub async fn reshard(&self, from: &Master, to: &Master, count: usize) {
        let done = tokio::process::Command::new("redis-cli")
            .args(["--cluster", "reshard", &format!("127.0.0.1:{}", from.port)])
            .args(["--cluster-from", &from.id, "--cluster-to", &to.id])
            .args(["--cluster-slots", &count.to_string(), "--cluster-yes"])
            .stdout(Stdio::null())
            .status()
            .await
            .is_ok_and(|s| s.success());
        assert!(done, "redis-cli --cluster reshard failed");
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for server in &self.servers {
            server.kill();
        }
    }
}

/// `redis-cli -p PORT ARGS`'s output ("" when it fails).
async fn cli(port: u16, args: &[&str]) -> String {
    let output = tokio::process::Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .await;
    output.map_or_else(
        |_| String::new(),
        |o| String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// A master of a `CLUSTER NODES` line (`id addr flags master ping pong epoch link slots...`).
fn parse_master(line: &str) -> Option<Master> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let flags = fields.get(2)?;
    if !flags.split(',').any(|f| f == "master") || flags.contains("fail") {
        return None;
    }
    let port = fields
        .get(1)?
        .split('@')
        .next()?
        .rsplit(':')
        .next()?
        .parse()
        .ok()?;
    let slots = fields
        .iter()
        .skip(8)
        .filter(|s| !s.starts_with('['))
        .filter_map(|range| match range.split_once('-') {
            Some((from, to)) => Some((from.parse().ok()?, to.parse().ok()?)),
            None => range.parse().ok().map(|slot| (slot, slot)),
        })
        .collect();
    Some(Master {
        id: fields[0].to_owned(),
        port,
        slots,
    })
}
