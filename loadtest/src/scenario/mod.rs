//! The four scenarios. `fanout`, `burst` and `soak` are one message engine
//! ([`traffic`]) driven open-loop, closed-loop or for a long time, each optionally with a
//! mixed workload ([`mixed`]); `connections` only opens and holds sessions.

pub mod burst;
pub mod connections;
pub mod fanout;
pub mod mixed;
pub mod soak;
pub mod traffic;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::target::Targets;

/// What every scenario needs besides its own configuration.
#[derive(Debug, Clone)]
pub struct Env {
    /// The nodes and source addresses.
    pub targets: Targets,
    /// The node's pid (single-node runs) for memory and CPU sampling.
    pub server_pid: Option<u32>,
    /// Draw a progress bar on stderr (off in tests and with `--quiet`).
    pub progress: bool,
}

impl Env {
    /// The URLs as given, for the result file.
    pub fn urls(&self) -> Vec<String> {
        self.targets.nodes.iter().map(|n| n.http.clone()).collect()
    }
}

/// A progress bar on stderr (so stdout stays clean for the summary), or a hidden one.
pub fn progress_bar(enabled: bool, len: u64, unit: &str) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let template = format!("{{prefix:>8}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Seconds since the Unix epoch, for the result file.
pub fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
