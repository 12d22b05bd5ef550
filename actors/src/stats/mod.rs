//! What a node tells its operators (issue 17, the `/admin` page): per-node counters
//! ([`counters`]), the record made from them every stats interval ([`sampler`]), and the
//! record's shape with the merge of every node's into one overview ([`record`]).

pub mod board;
pub mod counters;
pub mod record;
pub mod sampler;

pub use board::StatsBoard;
pub use counters::NodeCounters;
pub use record::{merge, ClusterRoomRate, NodeState, NodeStats};
