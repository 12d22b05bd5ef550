//! The node's latest stats record, where its own overview reads it.

use std::sync::Mutex;

use crate::stats::record::NodeStats;

/// The node's latest record, for its own overview (and the only one on a single node).
#[derive(Default)]
pub struct StatsBoard {
    latest: Mutex<Option<NodeStats>>,
}

impl StatsBoard {
    /// The latest record, if one was made yet.
    pub fn latest(&self) -> Option<NodeStats> {
        self.latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the record (the sampler's job).
    pub fn set(&self, record: NodeStats) {
        *self
            .latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(record);
    }
}
