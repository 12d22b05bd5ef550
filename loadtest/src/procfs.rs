//! Reads the node's (and the load generator's own) memory and CPU from /proc, so a run can
//! report server memory per session and who used the shared cores. Linux only; elsewhere
//! the figures are simply absent.

/// Clock ticks per second of /proc/PID/stat times (USER_HZ, 100 on every Linux target).
const TICKS_PER_SEC: f64 = 100.0;

/// Resident set size of `pid` in KiB, from the `VmRSS:` line of /proc/PID/status.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vmrss(&status)
}

/// Extracts `VmRSS:   1234 kB` from a status file's text.
pub fn parse_vmrss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// CPU seconds (user + system) used so far by `pid`, or by this process for `None`.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    parse_cpu_seconds(&stat)
}

/// Sums utime and stime (fields 14 and 15) of a stat line; the command name in parentheses
/// may contain spaces, so fields are counted after the last `)`.
pub fn parse_cpu_seconds(stat: &str) -> Option<f64> {
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // after ")" the first field is field 3 (state); utime is field 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SEC)
}

/// CPU seconds all cores of the machine spent busy so far (everything but idle and
/// iowait), from the first line of /proc/stat: with the load generator's and the node's
/// own shares it tells what the rest (the database, Redis, anything else) took.
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_machine_busy(&stat)
}

/// Busy seconds from the `cpu  user nice system idle iowait irq softirq steal ...` line.
pub fn parse_machine_busy(stat: &str) -> Option<f64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal; guest times are already in user.
    let busy: u64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    Some(busy as f64 / TICKS_PER_SEC)
}

/// Whose CPU a [`CpuMeter`] measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuOf {
    /// This process.
    Me,
    /// Another process.
    Process(u32),
    /// Every core of the machine together.
    Machine,
}

impl CpuOf {
    fn seconds(self) -> Option<f64> {
        match self {
            CpuOf::Me => cpu_seconds(None),
            CpuOf::Process(pid) => cpu_seconds(Some(pid)),
            CpuOf::Machine => machine_busy_seconds(),
        }
    }
}

/// Measures CPU use between two points of a run, as a percentage of one core.
#[derive(Debug, Clone, Copy)]
pub struct CpuMeter {
    of: CpuOf,
    start_cpu: Option<f64>,
    start: std::time::Instant,
}

impl CpuMeter {
    /// Starts measuring `pid` (or this process for `None`).
    pub fn start(pid: Option<u32>) -> CpuMeter {
        CpuMeter::of(pid.map_or(CpuOf::Me, CpuOf::Process))
    }

    /// Starts measuring `of`.
    pub fn of(of: CpuOf) -> CpuMeter {
        CpuMeter {
            of,
            start_cpu: of.seconds(),
            start: std::time::Instant::now(),
        }
    }

    /// Percent of one core used since `start` (200 = both cores of this machine).
    pub fn percent(&self) -> Option<f64> {
        let used = self.of.seconds()? - self.start_cpu?;
        let wall = self.start.elapsed().as_secs_f64();
        (wall > 0.0).then(|| 100.0 * used / wall)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_stat() {
        let status = "Name:\tchat-node\nVmPeak:\t 999 kB\nVmRSS:\t   12345 kB\nThreads: 4\n";
        assert_eq!(parse_vmrss(status), Some(12345));
        assert_eq!(parse_vmrss("Name: x\n"), None);
        let stat = "42 (chat node) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0";
        assert_eq!(parse_cpu_seconds(stat), Some(3.0));
    }

    #[test]
    fn machine_busy_leaves_out_idle_and_iowait() {
        let stat = "cpu  100 20 30 5000 70 1 2 3 9 9\ncpu0 50 10 15 2500 35 0 1 1 0 0\n";
        // user + nice + system + irq + softirq + steal = 156 ticks.
        assert_eq!(parse_machine_busy(stat), Some(1.56));
        assert_eq!(parse_machine_busy("intr 1 2 3\n"), None);
        assert!(machine_busy_seconds().is_some());
    }

    #[test]
    fn reads_own_process() {
        assert!(rss_kib(std::process::id()).is_some());
        assert!(cpu_seconds(None).is_some());
    }
}
