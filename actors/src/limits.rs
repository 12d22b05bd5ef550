//! The limits and timings the actors enforce. The node fills this from its configuration
//! (`src/config.rs`); the defaults are PROTOCOL.md's.

use std::time::Duration;

/// A send rate: at most `count` new messages in any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendRate {
    /// Messages allowed per window.
    pub count: u32,
    /// The sliding window.
    pub window: Duration,
}

/// Everything the actors limit or time, in one place.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Content length, in code points after trimming.
    pub content_max_chars: usize,
    /// Nickname (and REST sender) length, in code points after trimming.
    pub nickname_max_chars: usize,
    /// Largest text frame that is parsed; larger ones get `too_large`.
    pub frame_max_bytes: usize,
    /// Largest frame at all; larger ones close the connection with 1009.
    pub frame_hard_cap_bytes: usize,
    /// Rooms one session may be in at once.
    pub rooms_per_session: usize,
    /// Per-session send rate; `None` turns the limit off.
    pub send_rate: Option<SendRate>,
    /// Per-session budget over every frame (requests, pings, fragments); `None` = off.
    pub frame_rate: Option<SendRate>,
    /// Per-session joins, rejoins and renames; `None` = off.
    pub join_rate: Option<SendRate>,
    /// Most messages returned in `missed` on join.
    pub missed_max: u32,
    /// Presence pushes list all members only while the room has at most this many.
    pub presence_list_max: usize,
    /// Pushes that may wait for one session before it is closed as too slow.
    pub outbound_queue: usize,
    /// How often the server pings each WebSocket.
    pub heartbeat_interval: Duration,
    /// A WebSocket silent for this long is closed.
    pub client_timeout: Duration,
    /// A room actor with no members for this long is stopped.
    pub room_idle_timeout: Duration,
    /// Most messages committed in one transaction.
    pub batch_max: usize,
    /// How long the first message of a batch may wait for others.
    pub batch_delay: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            content_max_chars: 2000,
            nickname_max_chars: 32,
            frame_max_bytes: 16 * 1024,
            frame_hard_cap_bytes: 64 * 1024,
            rooms_per_session: 16,
            frame_rate: Some(SendRate {
                count: 2000,
                window: Duration::from_secs(10),
            }),
            join_rate: Some(SendRate {
                count: 30,
                window: Duration::from_secs(10),
            }),
            send_rate: Some(SendRate {
                count: 20,
                window: Duration::from_secs(10),
            }),
            missed_max: 500,
            presence_list_max: 100,
            outbound_queue: 1024,
            heartbeat_interval: Duration::from_secs(10),
            client_timeout: Duration::from_secs(30),
            room_idle_timeout: Duration::from_secs(60),
            batch_max: 512,
            batch_delay: Duration::from_millis(1),
        }
    }
}
