//! The `chat-loadtest` binary: parses flags, runs one scenario on a multi-threaded runtime,
//! prints the summary and writes the result files. Exit code 0 = passed, 1 = the run could
//! not be carried out, 2 = it ran but lost messages or exceeded the error threshold.

use std::process::ExitCode;

use clap::Parser;

use chat_loadtest::cli::{Cli, ScenarioCmd};
use chat_loadtest::compare::{self, CompareArgs};
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
    if let ScenarioCmd::Compare(args) = &cli.scenario {
        return compare(&runtime, &cli, args);
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

/// `compare`: runs it, prints the medians and ratios, writes the runs as JSON with `--out`.
fn compare(runtime: &tokio::runtime::Runtime, cli: &Cli, args: &CompareArgs) -> ExitCode {
    let comparison = match runtime.block_on(compare::run(&cli.common, args)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("chat-loadtest: {e}");
            return ExitCode::from(1);
        }
    };
    print!("{}", compare::summary(&comparison));
    if let Some(path) = &cli.common.out {
        let written = serde_json::to_string_pretty(&comparison)
            .map_err(|e| e.to_string())
            .and_then(|text| std::fs::write(path, text).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("chat-loadtest: writing {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    if comparison.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
