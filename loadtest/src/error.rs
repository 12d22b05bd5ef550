//! The load tester's one error type, so every layer reports failures the same way and
//! `main` can turn them into a message and an exit code.

use thiserror::Error;

/// Everything that can stop a scenario before it produces a result. Per-message failures
/// (a refused send, a dropped connection) are *counted*, not raised: a load test must keep
/// going and report them.
#[derive(Debug, Error)]
pub enum LoadError {
    /// A `--url` or workload value that cannot be used.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The workload file could not be read or parsed.
    #[error("workload file {path}: {reason}")]
    Workload {
        /// The file that was given.
        path: String,
        /// What was wrong with it.
        reason: String,
    },
    /// An HTTP request to a node failed (room creation, health).
    #[error("http: {0}")]
    Http(String),
    /// A WebSocket connect, handshake or protocol failure.
    #[error("websocket: {0}")]
    Ws(String),
    /// The node answered a frame with an error or something unexpected.
    #[error("protocol: {0}")]
    Protocol(String),
    /// Local I/O (sockets, result files).
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl From<reqwest::Error> for LoadError {
    fn from(e: reqwest::Error) -> Self {
        LoadError::Http(e.to_string())
    }
}

impl From<tokio_tungstenite::tungstenite::Error> for LoadError {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        LoadError::Ws(e.to_string())
    }
}
