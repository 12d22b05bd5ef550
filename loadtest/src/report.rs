//! Output: the human summary printed at the end, the JSON result file, and a
//! self-contained HTML report (inline SVG, no scripts, no external URLs) with latency
//! percentiles over time, throughput and server memory.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::LoadError;
use crate::hops::HopFigure;
use crate::outcome::{MixSummary, Outcome};
use crate::stats::{LatencySummary, TimePoint};

/// The summary printed to stdout.
pub fn summary(o: &Outcome) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "scenario {} against {}", o.scenario, o.urls.join(", "));
    if let Some(t) = &o.traffic {
        let _ = writeln!(
            s,
            "  rooms {} × members {} ({} joined, {} failed), senders/room {}",
            t.rooms, t.members_per_room, t.members_joined, t.members_failed, t.senders_per_room
        );
        let _ =
            writeln!(
            s,
            "  {:.1} s: sends {} ({:.0}/s), acks {} ({:.0}/s), pushes {} ({:.0}/s), throttled {}",
            t.measured_s, t.sends, t.sends_per_s, t.acks, t.acks_per_s, t.pushes, t.pushes_per_s,
            t.throttled
        );
        let _ = writeln!(s, "  send→receive {}", latency_line(&t.latency));
        let _ = writeln!(s, "  send→ack     {}", latency_line(&t.ack_latency));
        let _ = writeln!(
            s,
            "  LOST {} of {} owed deliveries ({} acked messages); duplicates {}, out of order {}; drained in {:.2} s",
            t.loss.lost, t.loss.expected_deliveries, t.loss.acked, t.loss.duplicates,
            t.loss.out_of_order, t.drain_s
        );
        if let Some(m) = &t.mix {
            s.push_str(&mix_table(m));
        }
        if !t.hops.is_empty() {
            s.push_str(&hop_table(&t.hops));
        }
    }
    if let Some(c) = &o.connections {
        let _ = writeln!(
            s,
            "  {} of {} sessions joined in {:.2} s ({:.0}/s), {} failed, {} dropped while held {:.0} s",
            c.connected, c.requested, c.connect_s, c.connects_per_s, c.failed, c.dropped, c.held_s
        );
        let _ = writeln!(s, "  connect+join {}", latency_line(&c.connect_latency));
        if let Some(kib) = c.server_kib_per_session {
            let _ = writeln!(s, "  server memory per session: {kib:.2} KiB");
        }
        if let Some(cpu) = c.server_idle_cpu_percent {
            let _ = writeln!(
                s,
                "  server CPU while held (idle sessions): {cpu:.2}% of a core"
            );
        }
    }
    if let (Some(b), Some(e)) = (o.server_rss_kib_before, o.server_rss_kib_end) {
        let _ = writeln!(s, "  server RSS {b} KiB before, {e} KiB at the end");
    }
    let cpu = |v: Option<f64>| v.map_or("n/a".to_string(), |p| format!("{p:.0}%"));
    let _ = writeln!(
        s,
        "  CPU (100% = one core): load generator {}, server {}, whole machine {} of {}%",
        cpu(o.loadgen_cpu_percent),
        cpu(o.server_cpu_percent),
        cpu(o.machine_cpu_percent),
        100 * std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let _ = writeln!(s, "  errors {}: {:?}", o.error_total, o.errors);
    if o.passed() {
        let _ = writeln!(s, "PASS");
    } else {
        let _ = writeln!(s, "FAIL: {}", o.failures.join("; "));
    }
    s
}

/// The node's latency budget: one row per hop, then their sum (of means and of medians).
pub fn hop_table(hops: &[HopFigure]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "  node latency budget (its /metrics):  {:<22} {:>9} {:>9} {:>9} {:>9}",
        "hop", "count", "mean ms", "p50 ms", "p99 ms"
    );
    for h in hops {
        let _ = writeln!(
            s,
            "  {:>36} {:<22} {:>9} {:>9.3} {:>9.3} {:>9.3}",
            "", h.hop, h.count, h.mean_ms, h.p50_ms, h.p99_ms
        );
    }
    let mean: f64 = hops.iter().map(|h| h.mean_ms).sum();
    let p50: f64 = hops.iter().map(|h| h.p50_ms).sum();
    let _ = writeln!(
        s,
        "  {:>36} {:<22} {:>9} {:>9.3} {:>9.3}",
        "", "sum", "", mean, p50
    );
    s
}

/// The mixed workload's part of the summary: one row per kind, then the change audit.
pub fn mix_table(m: &MixSummary) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "  mix {} (seed {})", m.mix, m.seed);
    let _ = writeln!(
        s,
        "    {:<8} {:>9} {:>9} {:>8} {:>9}  {:<28}  delivery to others p50 / p99 / max ms (samples)",
        "kind",
        "sent",
        "acked",
        "refused",
        "acked/s",
        "ack p50 / p99 / max ms"
    );
    for r in &m.kinds {
        let _ = writeln!(
            s,
            "    {:<8} {:>9} {:>9} {:>8} {:>9.1}  {:<28}  {} ({})",
            r.kind,
            r.sent,
            r.acked,
            r.refused,
            r.acked_per_s,
            three(&r.ack_latency),
            three(&r.delivery_latency),
            r.delivery_latency.count
        );
    }
    let c = &m.changes;
    let _ = writeln!(
        s,
        "  changes: {} acked, {} updates owed, {} lost ({} members), {} superseded by a later state; seq out of order {}, duplicates {}; update before message {}, wrong pushes {}, ack mismatches {}",
        c.acked_changes, c.expected_update_deliveries, c.updates_lost, c.members_with_lost_updates,
        c.updates_superseded, c.seq_out_of_order, c.duplicate_seqs, c.update_before_message,
        c.wrong_pushes, c.ack_mismatches
    );
    let _ = writeln!(
        s,
        "  history: {} messages checked, {} mismatches, {} unverified",
        c.history.checked, c.history.mismatches, c.history.unverified
    );
    for e in c.examples.iter().chain(&c.history.examples) {
        let _ = writeln!(s, "    violation: {e}");
    }
    let _ = writeln!(s, "  CHANGE VIOLATIONS {}", c.violations());
    s
}

fn three(l: &LatencySummary) -> String {
    format!("{:.2} / {:.2} / {:.2}", l.p50_ms, l.p99_ms, l.max_ms)
}

fn latency_line(l: &LatencySummary) -> String {
    format!(
        "p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
        l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms, l.count
    )
}

/// Writes the result as pretty JSON.
pub fn write_json(path: &Path, o: &Outcome) -> Result<(), LoadError> {
    let text = serde_json::to_string_pretty(o).map_err(|e| LoadError::Config(e.to_string()))?;
    create_parent(path)?;
    std::fs::write(path, text)?;
    Ok(())
}

/// Writes the HTML report.
pub fn write_html(path: &Path, o: &Outcome) -> Result<(), LoadError> {
    create_parent(path)?;
    std::fs::write(path, html(o))?;
    Ok(())
}

fn create_parent(path: &Path) -> Result<(), LoadError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    Ok(())
}

/// A series of one chart: label, colour and one value per time point.
struct Series<'a> {
    label: &'a str,
    color: &'a str,
    values: Vec<f64>,
}

/// Renders the whole report page.
pub fn html(o: &Outcome) -> String {
    let tl: &[TimePoint] = &o.timeline;
    let xs: Vec<f64> = tl.iter().map(|p| p.t).collect();
    let mut body = String::new();
    let verdict = if o.passed() {
        "<p class=pass>PASS</p>".to_string()
    } else {
        format!("<p class=fail>FAIL: {}</p>", escape(&o.failures.join("; ")))
    };
    let _ = write!(
        body,
        "<h1>chat-loadtest: {}</h1>{verdict}<pre>{}</pre>",
        escape(&o.scenario),
        escape(&summary(o))
    );
    if o.traffic.is_some() {
        body.push_str(&chart(
            "send→receive latency per interval",
            "ms",
            &xs,
            &[
                Series {
                    label: "p50",
                    color: "#2b8a3e",
                    values: tl.iter().map(|p| p.latency.p50_ms).collect(),
                },
                Series {
                    label: "p95",
                    color: "#e67700",
                    values: tl.iter().map(|p| p.latency.p95_ms).collect(),
                },
                Series {
                    label: "p99",
                    color: "#c92a2a",
                    values: tl.iter().map(|p| p.latency.p99_ms).collect(),
                },
                Series {
                    label: "max",
                    color: "#868e96",
                    values: tl.iter().map(|p| p.latency.max_ms).collect(),
                },
            ],
        ));
        body.push_str(&chart(
            "throughput",
            "per s",
            &xs,
            &[
                Series {
                    label: "sends/s",
                    color: "#1971c2",
                    values: tl.iter().map(|p| p.sends_per_s).collect(),
                },
                Series {
                    label: "acks/s",
                    color: "#2b8a3e",
                    values: tl.iter().map(|p| p.acks_per_s).collect(),
                },
                Series {
                    label: "pushes/s",
                    color: "#9c36b5",
                    values: tl.iter().map(|p| p.pushes_per_s).collect(),
                },
            ],
        ));
    }
    if tl.iter().any(|p| p.sessions.is_some()) {
        body.push_str(&chart(
            "live sessions",
            "sessions",
            &xs,
            &[Series {
                label: "sessions",
                color: "#1971c2",
                values: tl.iter().map(|p| p.sessions.unwrap_or(0) as f64).collect(),
            }],
        ));
    }
    if tl.iter().any(|p| p.server_rss_kib.is_some()) {
        body.push_str(&chart(
            "server RSS",
            "MiB",
            &xs,
            &[Series {
                label: "RSS",
                color: "#e67700",
                values: tl
                    .iter()
                    .map(|p| p.server_rss_kib.unwrap_or(0) as f64 / 1024.0)
                    .collect(),
            }],
        ));
    }
    let config = serde_json::to_string_pretty(&o.config).unwrap_or_default();
    let _ = write!(body, "<h2>configuration</h2><pre>{}</pre>", escape(&config));
    format!(
        "<!doctype html><html><head><meta charset=utf-8><title>chat-loadtest {}</title><style>\
         body{{font-family:system-ui,sans-serif;margin:2em;color:#212529}}\
         pre{{background:#f1f3f5;padding:1em;overflow:auto}}\
         .pass{{color:#2b8a3e;font-weight:bold}}.fail{{color:#c92a2a;font-weight:bold}}\
         svg{{display:block;margin:1em 0}}</style></head><body>{body}</body></html>\n",
        escape(&o.scenario)
    )
}

/// One line chart as inline SVG; y from 0 to the largest value.
fn chart(title: &str, unit: &str, xs: &[f64], series: &[Series<'_>]) -> String {
    const W: f64 = 760.0;
    const H: f64 = 260.0;
    const L: f64 = 70.0;
    const R: f64 = 110.0;
    const T: f64 = 30.0;
    const B: f64 = 35.0;
    let x_max = xs.iter().copied().fold(0.0_f64, f64::max).max(1e-9);
    let y_max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0_f64, f64::max);
    let y_max = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
    let px = |x: f64| L + (W - L - R) * x / x_max;
    let py = |y: f64| T + (H - T - B) * (1.0 - y / y_max);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-size=\"11\">\
         <text x=\"{L}\" y=\"18\" font-size=\"14\" font-weight=\"bold\">{} ({})</text>",
        escape(title),
        escape(unit)
    );
    for i in 0..=4 {
        let y = y_max * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            "<line x1=\"{L}\" x2=\"{}\" y1=\"{py:.1}\" y2=\"{py:.1}\" stroke=\"#dee2e6\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - R,
            L - 6.0,
            py(y) + 4.0,
            short(y),
            py = py(y)
        );
    }
    for i in 0..=4 {
        let x = x_max * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{:.0} s</text>",
            px(x),
            H - B + 16.0,
            x
        );
    }
    for (k, s) in series.iter().enumerate() {
        let points: Vec<String> = xs
            .iter()
            .zip(&s.values)
            .map(|(&x, &y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>\
             <rect x=\"{lx}\" y=\"{ly:.1}\" width=\"12\" height=\"3\" fill=\"{c}\"/>\
             <text x=\"{tx}\" y=\"{ty:.1}\">{}</text>",
            points.join(" "),
            escape(s.label),
            c = s.color,
            lx = W - R + 10.0,
            ly = T + 14.0 * k as f64,
            tx = W - R + 26.0,
            ty = T + 14.0 * k as f64 + 4.0,
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Axis labels: 12k rather than 12000.
fn short(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{:.1}M", v / 1_000_000.0)
    } else if v >= 10_000.0 {
        format!("{:.0}k", v / 1_000.0)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Escapes text for HTML content and attribute values.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::KindRow;
    use crate::outcome::TrafficSummary;

    #[test]
    fn mixed_summary_has_a_row_per_kind_and_the_violations() {
        let row = |kind: &str, acked: u64, p50: f64| KindRow {
            kind: kind.into(),
            sent: acked + 1,
            acked,
            refused: 1,
            acked_per_s: acked as f64 / 2.0,
            ack_latency: LatencySummary {
                count: acked,
                p50_ms: p50,
                p99_ms: p50 * 3.0,
                max_ms: p50 * 4.0,
                ..Default::default()
            },
            delivery_latency: LatencySummary {
                count: acked * 3,
                p50_ms: p50 + 1.0,
                ..Default::default()
            },
        };
        let mut m = MixSummary {
            mix: "send=7,edit=3".into(),
            seed: 9,
            kinds: vec![row("send", 70, 1.5), row("edit", 30, 2.25)],
            ..Default::default()
        };
        m.changes.updates_lost = 2;
        m.changes
            .examples
            .push("room 0 member 1: edit of 5 (seq 3) never pushed".into());
        let text = mix_table(&m);
        assert!(text.contains("mix send=7,edit=3 (seed 9)"), "{text}");
        let send = text
            .lines()
            .find(|l| l.trim_start().starts_with("send "))
            .unwrap();
        assert!(
            send.contains(" 71 ") && send.contains(" 70 ") && send.contains("35.0"),
            "{send}"
        );
        assert!(
            send.contains("1.50 / 4.50 / 6.00") && send.contains("(210)"),
            "{send}"
        );
        let edit = text
            .lines()
            .find(|l| l.trim_start().starts_with("edit "))
            .unwrap();
        assert!(
            edit.contains("2.25 / 6.75 / 9.00") && edit.contains("3.25 /"),
            "{edit}"
        );
        assert!(text.contains("2 lost"));
        assert!(text.contains("violation: room 0 member 1"));
        assert!(text.contains("CHANGE VIOLATIONS 2"));

        // The summary shows the table only for a mixed run.
        let mut o = Outcome {
            traffic: Some(TrafficSummary::default()),
            ..Default::default()
        };
        assert!(!summary(&o).contains("CHANGE VIOLATIONS"));
        if let Some(t) = o.traffic.as_mut() {
            t.mix = Some(m);
        }
        assert!(summary(&o).contains("CHANGE VIOLATIONS 2"));
    }

    #[test]
    fn report_is_self_contained_and_escaped() {
        let mut o = Outcome {
            scenario: "fanout".into(),
            urls: vec!["http://127.0.0.1:1".into()],
            traffic: Some(TrafficSummary::default()),
            timeline: (1..=3)
                .map(|i| TimePoint {
                    t: f64::from(i),
                    pushes_per_s: 100.0,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        o.errors.insert("<script>".into(), 1);
        o.error_total = 1;
        o.judge(0);
        let page = html(&o);
        assert!(page.contains("<svg"));
        assert!(page.contains("FAIL"));
        assert!(!page.contains("<script>"));
        // The only URL is the SVG namespace and the node URL printed as text.
        assert!(!page.contains("src=") && !page.contains("href="));
        assert!(summary(&o).contains("FAIL"));
    }
}
