//! The `chat-loadtest` binary: parses flags, runs one scenario on a multi-threaded runtime,
//! prints the summary and writes the result files. Exit code 0 = passed, 1 = the run could
//! not be carried out, 2 = it ran but lost messages or exceeded the error threshold.

use std::process::ExitCode;

use clap::Parser;

use chat_loadtest::cli::Cli;
use chat_loadtest::report;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let fd_limit = chat_loadtest::raise_fd_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chat-loadtest: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(limit) = fd_limit {
        if !cli.common.quiet {
            eprintln!("open-file limit: {limit}");
        }
    }
    let outcome = match runtime.block_on(chat_loadtest::run(&cli)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("chat-loadtest: {e}");
            return ExitCode::from(1);
        }
    };
    print!("{}", report::summary(&outcome));
    if let Some(path) = &cli.common.out {
        if let Err(e) = report::write_json(path, &outcome) {
            eprintln!("chat-loadtest: writing {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    if let Some(path) = &cli.common.report {
        if let Err(e) = report::write_html(path, &outcome) {
            eprintln!("chat-loadtest: writing {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    if outcome.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
