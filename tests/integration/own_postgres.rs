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
        let mut command = Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/postgres-test-instance.sh"
        ));
        command
            .arg(action)
            .env("PG_TEST_STATE", state.join("pg.state"));
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

    fn launch(netns: Option<(&str, Ipv4Addr)>) -> OwnPostgres {
        let state = tempfile::tempdir().unwrap();
        let out = Self::script(state.path(), "start", netns);
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
