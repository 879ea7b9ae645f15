//! `fit-sim`: runs the sync simulation for one seed (`--seed N`, printing what the run did) or a
//! range (`--seeds A..B`, on every core, printing one line per failure and a summary).
//! `--steps N` changes the length of a run; `--calm` turns faults and clock jumps off;
//! `--no-corrections-and-packs` leaves corrections and pack installs out of the work.

// The binary's output is its report.
#![allow(clippy::print_stdout)]

use std::ops::Range;
use std::process::ExitCode;

use clap::Parser;
use fit_sim::{Config, run, run_seeds};

/// Runs the deterministic sync simulation.
#[derive(Debug, Parser)]
#[command(group = clap::ArgGroup::new("which").required(true))]
struct Args {
    /// One seed, printing what the run did.
    #[arg(long, group = "which")]
    seed: Option<u64>,
    /// A range of seeds A..B, on every core.
    #[arg(long, group = "which", value_parser = seed_range)]
    seeds: Option<Range<u64>>,
    /// Scheduled steps in a run.
    #[arg(long)]
    steps: Option<usize>,
    /// No faults and no clock jumps.
    #[arg(long)]
    calm: bool,
    /// Leave corrections of responses and new ORS packs on the server out of the work (see
    /// `Config::corrections_and_packs`).
    #[arg(long)]
    no_corrections_and_packs: bool,
}

fn seed_range(value: &str) -> Result<Range<u64>, String> {
    let parse = |n: &str| n.parse::<u64>().map_err(|e| format!("{n:?}: {e}"));
    let (from, to) = value.split_once("..").ok_or("expected A..B")?;
    let range = parse(from)?..parse(to)?;
    if range.is_empty() { Err("the range is empty".into()) } else { Ok(range) }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let defaults = Config::default();
    let config = Config {
        steps: args.steps.unwrap_or(defaults.steps),
        faults: !args.calm,
        corrections_and_packs: !args.no_corrections_and_packs,
        ..defaults
    };
    if let Some(seed) = args.seed {
        return match run(seed, &config) {
            Ok(report) => {
                println!("{report}");
                ExitCode::SUCCESS
            }
            Err(failure) => {
                println!("{failure}");
                ExitCode::FAILURE
            }
        };
    }
    let seeds = args.seeds.unwrap_or(0..0);
    let started = std::time::Instant::now();
    let results = run_seeds(seeds.clone(), &config, |result| {
        if let Err(failure) = result {
            println!("{failure}");
        }
    });
    let failed = results.iter().filter(|r| r.is_err()).count();
    println!(
        "fit-sim: seeds {}..{}: {} passed, {failed} failed in {:.1} s",
        seeds.start,
        seeds.end,
        results.len() - failed,
        started.elapsed().as_secs_f64()
    );
    let tokens: u64 = results.iter().filter_map(|r| r.as_ref().ok()).map(|r| r.faults.tokens_sent).sum();
    println!("fit-sim: {tokens} answers carried a rotated device token");
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
