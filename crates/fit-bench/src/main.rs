//! `fit-bench`: runs the sync benchmarks, writes bench/results.json and prints the table
//! (`make bench` runs it in release with the defaults).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use fit_bench::{Options, run, table};

#[derive(Debug, Parser)]
#[command(name = "fit-bench", about = "FIT Field sync benchmarks against PouchDB/pouchdb-server", version)]
struct Cli {
    /// Record counts for push, pull and the no-op sync.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,50000")]
    sizes: Vec<usize>,
    /// Timed runs per scenario; the table shows medians.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    #[arg(long, default_value_t = 200)]
    burst_devices: usize,
    #[arg(long, default_value_t = 100)]
    burst_changes: usize,
    /// Leave out the burst on PostgreSQL.
    #[arg(long)]
    no_postgres: bool,
    /// Leave out the peer: FIT Field alone, for profiling (no ratios).
    #[arg(long)]
    no_peer: bool,
    /// Where the results go (one object per scenario).
    #[arg(long, default_value = "bench/results.json")]
    out: PathBuf,
    /// The folder with the Node side of the benchmark.
    #[arg(long, default_value = "bench")]
    bench_dir: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    anyhow::ensure!(cli.runs >= 1 && !cli.sizes.is_empty(), "give at least one run and one size");
    let options = Options {
        sizes: cli.sizes,
        runs: cli.runs,
        burst_devices: cli.burst_devices,
        burst_changes: cli.burst_changes,
        postgres: !cli.no_postgres,
        peer: !cli.no_peer,
        bench_dir: cli.bench_dir,
    };
    let rows = run(&options, |step| eprintln!("fit-bench: {step}")).await?;
    let json = serde_json::to_string_pretty(&rows)?;
    std::fs::write(&cli.out, json + "\n").with_context(|| format!("writing {}", cli.out.display()))?;
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{}", table(&rows))?;
    writeln!(stdout, "written to {}", cli.out.display())?;
    Ok(())
}
