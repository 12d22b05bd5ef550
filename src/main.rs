//! `chat-node`: parses the configuration, sets up logging and runs a node until SIGTERM.

use std::process::ExitCode;

use chat_node::config::Config;
use clap::Parser;

#[actix_web::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    chat_node::telemetry::init_logging(config.log_format);
    match chat_node::start(config).await {
        Ok(node) => match node.run_until_signal().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!(%error, "server failed");
                ExitCode::FAILURE
            }
        },
        Err(error) => {
            tracing::error!(%error, "chat node could not start");
            eprintln!("chat-node: {error}");
            ExitCode::FAILURE
        }
    }
}
