//! `fit-sim`: runs the sync simulation for one seed (`--seed N`, printing what the run did) or a
//! range (`--seeds A..B`, on every core, printing one line per failure and a summary).
//! `--steps N` changes the length of a run; `--calm` turns faults and clock jumps off.

// The binary's output is its report.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use fit_sim::{Config, Failure, run};

fn usage() -> ExitCode {
    eprintln!("usage: fit-sim (--seed N | --seeds A..B) [--steps N] [--calm]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut seeds = None;
    let mut config = Config::default();
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "--calm" => {
                config.faults = false;
                continue;
            }
            "--seed" | "--seeds" | "--steps" => match args.next() {
                Some(value) => value,
                None => return usage(),
            },
            _ => return usage(),
        };
        match arg.as_str() {
            "--seed" => match value.parse::<u64>() {
                Ok(seed) => seeds = Some((seed, seed + 1, true)),
                Err(_) => return usage(),
            },
            "--seeds" => match value.split_once("..").map(|(a, b)| (a.parse::<u64>(), b.parse::<u64>())) {
                Some((Ok(from), Ok(to))) if from < to => seeds = Some((from, to, false)),
                _ => return usage(),
            },
            _ => match value.parse() {
                Ok(steps) => config.steps = steps,
                Err(_) => return usage(),
            },
        }
    }
    let Some((from, to, one)) = seeds else { return usage() };
    let started = std::time::Instant::now();
    if one {
        return match run(from, &config) {
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
    let next = AtomicU64::new(from);
    let failures = Mutex::new(Vec::<Failure>::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::SeqCst);
                    if seed >= to {
                        return;
                    }
                    if let Err(failure) = run(seed, &config) {
                        println!("{failure}");
                        failures.lock().unwrap_or_else(|p| p.into_inner()).push(failure);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap_or_else(|p| p.into_inner());
    println!(
        "fit-sim: seeds {from}..{to}: {} passed, {} failed in {:.1} s on {threads} threads",
        (to - from) as usize - failures.len(),
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
