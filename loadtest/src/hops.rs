//! The node's latency budget of a send, read from its `/metrics` before and after the
//! sending phase: the histogram `chat_send_hop_seconds{hop}` times each hop of a send
//! through the node's actors (the node's `actors/src/hops.rs` names them). The difference
//! of two scrapes holds exactly the sends of the phase, so the budget covers the same
//! messages as the load generator's own ack latency, and the two can be set side by side:
//! what the hops do not account for is the kernel, the network and the client.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::target::NodeUrl;

/// The histogram's name.
const METRIC: &str = "chat_send_hop_seconds";

/// The hops in the order a send crosses them (as the node names them); hops the node
/// reports that are not listed here follow, by name.
const ORDER: [&str; 7] = [
    "to_room",
    "to_shard",
    "batch_wait",
    "commit",
    "to_room_after_commit",
    "fan_out",
    "to_session",
];

/// One hop's histogram as scraped: cumulative bucket counts by upper bound, sum and count.
#[derive(Debug, Clone, Default, PartialEq)]
struct Histogram {
    buckets: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

/// Every hop's histogram of one scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scrape {
    hops: BTreeMap<String, Histogram>,
}

/// What one hop cost the sends of the phase.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HopFigure {
    /// The hop's name (`to_room`, `commit`, ...).
    pub hop: String,
    /// Sends (or, for the shard's hops, writes) that crossed it.
    pub count: u64,
    /// Mean time in it, ms.
    pub mean_ms: f64,
    /// Median, ms, interpolated within the histogram's bucket.
    pub p50_ms: f64,
    /// 99th percentile, ms, interpolated within the histogram's bucket.
    pub p99_ms: f64,
}

/// `GET /metrics` of `node`, parsed; `None` when the node does not answer it (an API key
/// is required). A node that has not timed a send yet (or an older build without the
/// histogram) gives an empty scrape.
pub async fn scrape(http: &reqwest::Client, node: &NodeUrl) -> Option<Scrape> {
    let resp = http
        .get(format!("{}/metrics", node.http))
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let text = resp.text().await.ok()?;
    Some(parse(&text))
}

/// Parses the hop histogram out of a Prometheus text exposition.
pub fn parse(text: &str) -> Scrape {
    let mut scrape = Scrape::default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(METRIC) else {
            continue;
        };
        let (kind, rest) = match rest.split_once('{') {
            Some((kind, rest)) => (kind, rest),
            None => continue,
        };
        let Some((labels, value)) = rest.rsplit_once('}') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let label = |name: &str| {
            labels.split(',').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                (k.trim() == name).then(|| v.trim().trim_matches('"').to_string())
            })
        };
        let Some(hop) = label("hop") else {
            continue;
        };
        let histogram = scrape.hops.entry(hop).or_default();
        match kind {
            "_bucket" => {
                let le = match label("le").as_deref() {
                    Some("+Inf") => f64::INFINITY,
                    Some(le) => match le.parse() {
                        Ok(le) => le,
                        Err(_) => continue,
                    },
                    None => continue,
                };
                histogram.buckets.push((le, value));
            }
            "_sum" => histogram.sum = value,
            "_count" => histogram.count = value,
            _ => {}
        }
    }
    for histogram in scrape.hops.values_mut() {
        histogram.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    scrape
}

/// The budget of what happened between two scrapes, hop by hop in crossing order.
pub fn between(before: &Scrape, after: &Scrape) -> Vec<HopFigure> {
    let mut names: Vec<&String> = after.hops.keys().collect();
    let rank = |name: &str| ORDER.iter().position(|o| *o == name).unwrap_or(ORDER.len());
    names.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    let empty = Histogram::default();
    names
        .into_iter()
        .filter_map(|name| {
            let now = &after.hops[name];
            let then = before.hops.get(name).unwrap_or(&empty);
            let count = now.count - then.count;
            if count <= 0.0 {
                return None;
            }
            let buckets: Vec<(f64, f64)> = now
                .buckets
                .iter()
                .map(|&(le, n)| {
                    let old = then
                        .buckets
                        .iter()
                        .find(|(l, _)| *l == le)
                        .map_or(0.0, |b| b.1);
                    (le, n - old)
                })
                .collect();
            Some(HopFigure {
                hop: name.clone(),
                count: count as u64,
                mean_ms: (now.sum - then.sum) / count * 1e3,
                p50_ms: quantile(&buckets, count, 0.50) * 1e3,
                p99_ms: quantile(&buckets, count, 0.99) * 1e3,
            })
        })
        .collect()
}

/// The `q` quantile of cumulative `buckets` holding `count` samples, interpolated linearly
/// within its bucket (as Prometheus' `histogram_quantile` does); the last finite bound when
/// it falls in the `+Inf` bucket.
fn quantile(buckets: &[(f64, f64)], count: f64, q: f64) -> f64 {
    let rank = q * count;
    let mut lower = (0.0, 0.0);
    for &(le, n) in buckets {
        if n >= rank {
            if le.is_infinite() {
                return lower.0;
            }
            let within = n - lower.1;
            let fraction = if within > 0.0 {
                (rank - lower.1) / within
            } else {
                1.0
            };
            return lower.0 + (le - lower.0) * fraction;
        }
        lower = (le, n);
    }
    lower.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "\
# TYPE chat_send_hop_seconds histogram
chat_send_hop_seconds_bucket{hop=\"commit\",le=\"0.001\"} 0
chat_send_hop_seconds_bucket{hop=\"commit\",le=\"0.002\"} 10
chat_send_hop_seconds_bucket{hop=\"commit\",le=\"+Inf\"} 10
chat_send_hop_seconds_sum{hop=\"commit\"} 0.015
chat_send_hop_seconds_count{hop=\"commit\"} 10
chat_persist_batch_size_count 3
";

    const AFTER: &str = "\
chat_send_hop_seconds_bucket{hop=\"commit\",le=\"0.001\"} 0
chat_send_hop_seconds_bucket{hop=\"commit\",le=\"0.002\"} 60
chat_send_hop_seconds_bucket{hop=\"commit\",le=\"+Inf\"} 110
chat_send_hop_seconds_sum{hop=\"commit\"} 0.515
chat_send_hop_seconds_count{hop=\"commit\"} 110
chat_send_hop_seconds_bucket{hop=\"to_room\",le=\"0.001\"} 100
chat_send_hop_seconds_bucket{hop=\"to_room\",le=\"0.002\"} 100
chat_send_hop_seconds_bucket{hop=\"to_room\",le=\"+Inf\"} 100
chat_send_hop_seconds_sum{hop=\"to_room\"} 0.01
chat_send_hop_seconds_count{hop=\"to_room\"} 100
";

    #[test]
    fn the_budget_counts_only_what_happened_between_the_scrapes() {
        let budget = between(&parse(BEFORE), &parse(AFTER));
        let hops: Vec<_> = budget.iter().map(|h| h.hop.as_str()).collect();
        assert_eq!(
            hops,
            ["to_room", "commit"],
            "crossing order, not name order"
        );
        let commit = &budget[1];
        assert_eq!(commit.count, 100);
        assert!((commit.mean_ms - 5.0).abs() < 1e-9, "{commit:?}");
        // 50 of the 100 new samples fell in (1 ms, 2 ms]: the median is its upper end.
        assert!((commit.p50_ms - 2.0).abs() < 1e-9, "{commit:?}");
        // the other 50 are above the last finite bound.
        assert!((commit.p99_ms - 2.0).abs() < 1e-9, "{commit:?}");
        let to_room = &budget[0];
        assert!((to_room.mean_ms - 0.1).abs() < 1e-9, "{to_room:?}");
        assert!(
            (to_room.p50_ms - 0.5).abs() < 1e-9,
            "interpolated in [0, 1 ms]"
        );
    }

    #[test]
    fn a_node_without_the_histogram_has_no_budget() {
        assert!(parse("chat_sessions 3\n").hops.is_empty());
    }
}
