//! What every HTTP handler can reach.

use std::sync::Arc;
use std::time::Instant;

use chat_actors::Hub;

use crate::auth::ApiKeys;
use crate::config::Config;
use chat_actors::address_limit::AddressLimiter;

/// Shared by all workers through `web::Data`.
pub struct AppState {
    /// The actors' shared state.
    pub hub: Arc<Hub>,
    /// The configuration the node started with.
    pub config: Config,
    /// When the node started, for `uptime`.
    pub started: Instant,
    /// The per-address limit of REST sends, when configured.
    pub rest_limiter: AddressLimiter,
    /// The integration keys (none: the keyed routes are open).
    pub keys: ApiKeys,
}
