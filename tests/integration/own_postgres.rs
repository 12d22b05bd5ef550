//! A PostgreSQL server of a test's own (`scripts/postgres-test-instance.sh`), which the
//! test can crash and restart, or run inside a network namespace of its own.

use std::net::Ipv4Addr;
use std::process::Command;

use crate::support::Backend;

/// A throwaway PostgreSQL server, stopped and deleted on drop.
pub struct OwnPostgres {
    state: tempfile::TempDir,
    /// Its `postgres://` URL.
    pub url: String,
}

impl OwnPostgres {
    fn script(
        state: &std::path::Path,
        action: &str,
        netns: Option<(&str, Ipv4Addr)>,
    ) -> std::process::Output {
        Self::script_with(state, action, netns, None)
    }

    fn script_with(
        state: &std::path::Path,
        action: &str,
        netns: Option<(&str, Ipv4Addr)>,
        tls: Option<&std::path::Path>,
    ) -> std::process::Output {
        let mut command = Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/postgres-test-instance.sh"
        ));
        command
            .arg(action)
            .env("PG_TEST_STATE", state.join("pg.state"));
        if let Some(dir) = tls {
            command.env("PG_TEST_TLS", dir);
        }
        if let Some((name, address)) = netns {
            command
                .env("PG_TEST_NETNS", name)
                .env("PG_TEST_LISTEN", address.to_string());
        }
        command.output().expect("run postgres-test-instance.sh")
    }

    /// Starts one on loopback, when PostgreSQL tests are enabled at all.
    pub fn start() -> Option<OwnPostgres> {
        Backend::postgres()?;
        Some(Self::launch(None))
    }

    /// Starts one inside network namespace `netns`, listening on `address` there.
    pub fn start_in(netns: &str, address: Ipv4Addr) -> OwnPostgres {
        Self::launch(Some((netns, address)))
    }

    /// Starts one on loopback that takes TLS connections only, with the certificate and
    /// key in `dir` (`server.crt`, `server.key`), when PostgreSQL tests are enabled at all.
    pub fn start_tls(dir: &std::path::Path) -> Option<OwnPostgres> {
        Backend::postgres()?;
        Some(Self::launch_with(None, Some(dir)))
    }

    fn launch(netns: Option<(&str, Ipv4Addr)>) -> OwnPostgres {
        Self::launch_with(netns, None)
    }

    fn launch_with(netns: Option<(&str, Ipv4Addr)>, tls: Option<&std::path::Path>) -> OwnPostgres {
        let state = tempfile::tempdir().unwrap();
        let out = Self::script_with(state.path(), "start", netns, tls);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let exports = String::from_utf8_lossy(&out.stdout);
        let url = exports
            .lines()
            .find_map(|l| l.strip_prefix("export TEST_DATABASE_URL="))
            .expect("url")
            .to_owned();
        OwnPostgres { state, url }
    }

    /// Crashes it (`pg_ctl stop -m immediate`); its data stays.
    pub fn pause(&self) {
        assert!(Self::script(self.state.path(), "pause", None)
            .status
            .success());
    }

    /// Freezes every process of the server (SIGSTOP): connections stay open and nothing
    /// answers, as with a database host that hangs.
    pub fn freeze(&self) {
        self.signal_all("STOP");
    }

    /// Lets a frozen server run again (SIGCONT).
    pub fn thaw(&self) {
        self.signal_all("CONT");
    }

    /// Sends `signal` to the postmaster and all of its children.
    fn signal_all(&self, signal: &str) {
        let state = std::fs::read_to_string(self.state.path().join("pg.state")).unwrap();
        let pid = state
            .lines()
            .find_map(|l| l.strip_prefix("PID="))
            .expect("PID in the state file")
            .trim()
            .to_owned();
        let children = Command::new("pkill")
            .args([&format!("-{signal}"), "-P", &pid])
            .status()
            .unwrap();
        assert!(children.success(), "pkill -{signal} -P {pid}");
        let postmaster = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(postmaster.success(), "kill -{signal} {pid}");
    }

    /// Starts it again on the same data and port.
    pub fn resume(&self) {
        let out = Self::script(self.state.path(), "resume", None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = Self::script(self.state.path(), "stop", None);
    }
}
