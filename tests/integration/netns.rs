//! A small network made of Linux network namespaces, for tests of network faults.
//!
//! One bridge in the root namespace, with an address the test process uses to reach every
//! host, and one namespace per host, joined to the bridge by a veth pair. Cutting a host's
//! link takes the bridge end of its veth down: its packets are dropped without a FIN or an
//! RST, so the TCP connections through it just stop answering (a silent partition, the
//! hardest kind). Each network takes the first free `10.213.N.0/24` (N = 1..=254), claimed
//! by creating the bridge `cnbN`, so that test binaries running at the same time do not
//! collide; everything is removed on drop, even when the test panics.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// One host of the network: a namespace with one address.
pub struct Host {
    /// The namespace, for `ip netns exec`.
    pub netns: String,
    /// Its address on the bridge.
    pub ip: Ipv4Addr,
    /// The bridge end of its veth pair (in the root namespace): down is a cut.
    link: String,
}

/// The bridge and its hosts.
pub struct Network {
    bridge: String,
    hosts: Vec<(String, Host)>,
}

/// Runs `ip ARGS`; whether it succeeded.
fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `ip ARGS` and panics with its error output if it fails.
fn ip_or_panic(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether this process may make namespaces (root, or CAP_NET_ADMIN, and `ip` installed);
/// tried once per test binary.
fn namespaces_usable() -> bool {
    static USABLE: OnceLock<bool> = OnceLock::new();
    *USABLE.get_or_init(|| {
        let probe = format!("cnprobe-{}", std::process::id());
        let made = ip(&["netns", "add", &probe]);
        if made {
            ip(&["netns", "del", &probe]);
        }
        made
    })
}

impl Network {
    /// Builds a network with one host per name, or `None` (skip, with a note) when network
    /// namespaces cannot be made here; fails instead when `CHAT_REQUIRE_NETNS=1`, so that
    /// CI cannot pass without running the network fault tests.
    pub fn create(names: &[&str]) -> Option<Network> {
        if !namespaces_usable() {
            assert!(
                std::env::var("CHAT_REQUIRE_NETNS").as_deref() != Ok("1"),
                "CHAT_REQUIRE_NETNS=1 but network namespaces cannot be made here \
                 (`ip netns add` needs root or CAP_NET_ADMIN)"
            );
            eprintln!(
                "SKIPPED: network namespaces cannot be made here (`ip netns add` needs root \
                 or CAP_NET_ADMIN): skipping a network fault test"
            );
            return None;
        }
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let offset = std::process::id() + 37 * NEXT.fetch_add(1, Ordering::Relaxed);
        let index = (0..254)
            .map(|i| (offset + i) % 254 + 1)
            .find(|n| ip(&["link", "add", &format!("cnb{n}"), "type", "bridge"]))
            .expect("a free 10.213.N.0/24 for the test network");
        let mut network = Network {
            bridge: format!("cnb{index}"),
            hosts: Vec::new(),
        };
        let subnet = |host: u8| Ipv4Addr::new(10, 213, index as u8, host);
        let gateway = format!("{}/24", subnet(1));
        ip_or_panic(&["addr", "add", &gateway, "dev", &network.bridge]);
        ip_or_panic(&["link", "set", &network.bridge, "up"]);
        for (i, name) in names.iter().enumerate() {
            let host = Host {
                netns: format!("cn{index}-{name}"),
                ip: subnet(2 + i as u8),
                link: format!("cn{index}{name}"),
            };
            // Left over by a run that was killed before it could clean up: the bridge
            // was free, so nothing uses them.
            ip(&["netns", "del", &host.netns]);
            ip(&["link", "del", &host.link]);
            network.hosts.push((name.to_string(), host));
            network.plug(&network.hosts[i].1, true);
        }
        Some(network)
    }

    /// Makes `host`'s namespace and joins it to the bridge (its link up, or cut).
    fn plug(&self, host: &Host, up: bool) {
        ip_or_panic(&["netns", "add", &host.netns]);
        // A fixed MAC address, so that the other hosts' ARP caches stay right after a
        // reboot (nothing here sends the gratuitous ARP that would correct them).
        let [_, _, subnet, last] = host.ip.octets();
        let mac = format!("02:13:00:00:{subnet:02x}:{last:02x}");
        let veth = [
            "link", "add", &host.link, "type", "veth", "peer", "name", "eth0",
        ];
        ip_or_panic(&[&veth[..], &["address", &mac, "netns", &host.netns]].concat());
        ip_or_panic(&["link", "set", &host.link, "master", &self.bridge]);
        if up {
            ip_or_panic(&["link", "set", &host.link, "up"]);
        }
        let address = format!("{}/24", host.ip);
        ip_or_panic(&["-n", &host.netns, "addr", "add", &address, "dev", "eth0"]);
        ip_or_panic(&["-n", &host.netns, "link", "set", "eth0", "up"]);
        ip_or_panic(&["-n", &host.netns, "link", "set", "lo", "up"]);
    }

    /// Reboots cut-off host `name`: its namespace, with every TCP connection it held, is
    /// made anew (same address, link still cut). Its processes must be stopped first.
    /// Peers are not told, exactly as when a machine restarts behind a partition: a
    /// connection to it is dead, but only a peer that sends on it finds out.
    pub fn reboot(&self, name: &str) {
        let host = self.host(name);
        ip_or_panic(&["netns", "del", &host.netns]);
        ip(&["link", "del", &host.link]);
        self.plug(host, false);
    }

    /// The host called `name`.
    pub fn host(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, host)| host)
            .unwrap_or_else(|| panic!("no host {name}"))
    }

    /// Cuts `name` off the network, silently.
    pub fn cut(&self, name: &str) {
        ip_or_panic(&["link", "set", &self.host(name).link, "down"]);
    }

    /// Joins `name` to the network again.
    pub fn heal(&self, name: &str) {
        ip_or_panic(&["link", "set", &self.host(name).link, "up"]);
    }

    /// Delays every packet to `name` by `delay` (`tc netem`), if the kernel has netem;
    /// whether it does.
    pub fn delay(&self, name: &str, delay: &str) -> bool {
        Command::new("tc")
            .args([
                "qdisc",
                "add",
                "dev",
                &self.host(name).link,
                "root",
                "netem",
            ])
            .args(["delay", delay])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Removes the delay of `name`.
    pub fn undelay(&self, name: &str) {
        let _ = Command::new("tc")
            .args(["qdisc", "del", "dev", &self.host(name).link, "root"])
            .status();
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        // Deleting a namespace deletes its veth pair; processes still inside would keep it
        // alive, which is why the hosts' processes are stopped before the network.
        for (_, host) in &self.hosts {
            ip(&["netns", "del", &host.netns]);
            ip(&["link", "del", &host.link]);
        }
        ip(&["link", "del", &self.bridge]);
    }
}
