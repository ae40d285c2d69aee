//! The command line proper (not built under `--cfg racehound_loom`, which is for loom models).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use racehound::app::strategies::registry;
use racehound::explore::error::InputError;
use racehound::explore::input::resolve;
use racehound::explore::select::select;
use racehound::explore::verdict::{markdown_table, Found, Verdict};
use racehound::explore::{check_determinism, explore, ExploreOptions};
use racehound::report;
use racehound::scenario::load::{load, LoadError};
use racehound::scenario::Scenario;
use racehound::{replay_catalogue, Counterexample, ReplayError};

/// Exit code: every verdict as expected.
const EXIT_OK: u8 = 0;
/// Exit code: a verdict differs from the expected one, or a run is not deterministic.
const EXIT_UNEXPECTED: u8 = 1;
/// Exit code: bad input (scenario file, token, arguments).
const EXIT_BAD_INPUT: u8 = 2;

#[derive(Parser)]
#[command(
    name = "racehound",
    version,
    about = "Deterministic race simulator for Stripe / Clerk / PostgreSQL signup, checkout and webhook flows",
    after_help = "Exit codes: 0 every verdict as expected, 1 an unexpected verdict, 2 bad input.\n\
                  Logging: RUST_LOG=racehound=debug (or trace) logs to stderr; off by default."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(clap::Args)]
struct Selection {
    /// Scenario files or directories.
    #[arg(default_value = "scenarios")]
    paths: Vec<PathBuf>,
    /// Only strategies matching this id or glob (`checkout.*`).
    #[arg(long)]
    strategy: Option<String>,
    /// Seeds per strategy (default: each scenario's budget).
    #[arg(long)]
    seeds: Option<u32>,
    /// The first seed of the sweep.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads per sweep.
    #[arg(long, default_value_t = default_jobs())]
    jobs: usize,
    /// Run only shard K of N (e.g. `1/3`) of the (scenario, strategy) pairs.
    #[arg(long)]
    shard: Option<String>,
    /// Seeds each witness must be reached in for a pass, K (default: each scenario's, 10
    /// unless it says); a pass short of it is inconclusive.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    witness_min_seeds: Option<u32>,
    /// Most seeds per pair when exploring past the budget to reach the witnesses (default:
    /// each scenario's `seeds_max`, else 4 × the budget).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    seeds_max: Option<u32>,
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[derive(Subcommand)]
enum Command {
    /// Explore every (scenario, strategy) pair and print verdicts.
    Run {
        #[command(flatten)]
        selection: Selection,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Also write the verdicts as JUnit XML to FILE (one testsuite per scenario).
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// Print the verdict table as Markdown.
    Verdicts {
        #[command(flatten)]
        selection: Selection,
    },
    /// Re-run a replay token exactly and print its trace.
    Replay {
        /// The token printed with a failure (`rh1_…`).
        token: String,
    },
    /// Print a replay token's trace as text and as a Mermaid sequence diagram.
    Explain {
        /// The token printed with a failure (`rh1_…`).
        token: String,
    },
    /// List scenarios and strategies.
    List {
        /// Scenario files or directories.
        #[arg(default_value = "scenarios")]
        paths: Vec<PathBuf>,
    },
    /// Check scenario files without running them.
    Validate {
        /// Scenario files or directories.
        #[arg(default_value = "scenarios")]
        paths: Vec<PathBuf>,
    },
    /// Run seeds twice and compare trace hashes; prints one hash per run.
    CheckDeterminism {
        #[command(flatten)]
        selection: Selection,
    },
    /// Measure simulations per second against a bare-turmoil baseline.
    Bench {
        /// Simulations per measurement (split into 10 rounds; fewer makes rounds too short to time).
        #[arg(long, default_value_t = 5_000)]
        sims: u32,
        /// Seeds in the memory measurement sweep.
        #[arg(long, default_value_t = 10_000)]
        sweep_seeds: u32,
        /// Measure time to first counterexample per buggy strategy instead, with a plain
        /// stress test beside it (release build recommended: `cargo run --release -- bench --ttfc`).
        #[arg(long)]
        ttfc: bool,
        /// Base seeds per strategy for `--ttfc` (the median is over them).
        #[arg(long, default_value_t = 20)]
        base_seeds: u32,
        /// Wall-clock budget of each strategy's stress test for `--ttfc`, in seconds.
        #[arg(long, default_value_t = 10.0)]
        stress_secs: f64,
        /// Scenario files or directories for `--ttfc`.
        #[arg(long, default_value = "scenarios")]
        scenarios: Vec<PathBuf>,
    },
    /// Serve fake Stripe and/or fake Clerk over real HTTP (see docs/serve.md).
    Serve(racehound::serve::ServeArgs),
}

/// What a command that ran found.
enum Status {
    /// Every verdict as expected (or nothing to judge: a replay, a list).
    AsExpected,
    /// A verdict differs from the expected one, or a run is not deterministic.
    Unexpected,
    /// `serve` ends with its own exit code (docs/serve.md).
    Served(ExitCode),
}

impl Status {
    fn of(as_expected: bool) -> Status {
        if as_expected {
            Status::AsExpected
        } else {
            Status::Unexpected
        }
    }
}

/// Why a command could not run: bad input, each printed as `error: …` on stderr.
#[derive(Debug)]
enum CliError {
    /// Bad input to explore, replay or explain: the library's one typed error.
    Input(InputError),
    /// The `--junit` file cannot be written.
    Junit {
        /// The path given.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// An argument out of its range.
    Argument(&'static str),
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Input(e) => e.fmt(f),
            CliError::Junit { path, error } => write!(
                f,
                "cannot write the JUnit report to {}: {error} (hint: does its directory exist and is it writable?)",
                path.display()
            ),
            CliError::Argument(message) => f.write_str(message),
        }
    }
}

impl From<InputError> for CliError {
    fn from(e: InputError) -> Self {
        CliError::Input(e)
    }
}

impl From<LoadError> for CliError {
    fn from(e: LoadError) -> Self {
        CliError::Input(e.into())
    }
}

impl From<ReplayError> for CliError {
    fn from(e: ReplayError) -> Self {
        CliError::Input(e.into())
    }
}

/// Says on stderr how a replay differs from the run its token was made from (world rules, trace).
fn warn_differences(run: &Counterexample) {
    for warning in &run.warnings {
        eprint!("{}", report::warning_text(warning));
    }
}

/// The one place a command's result becomes an exit code (errors are printed here too).
fn exit_code(result: Result<Status, CliError>) -> ExitCode {
    match result {
        Ok(Status::AsExpected) => ExitCode::from(EXIT_OK),
        Ok(Status::Unexpected) => ExitCode::from(EXIT_UNEXPECTED),
        Ok(Status::Served(code)) => code,
        Err(error) => {
            let code = match error {
                CliError::Input(_) | CliError::Junit { .. } | CliError::Argument(_) => EXIT_BAD_INPUT,
            };
            eprint!("{}", report::error_text(&error));
            ExitCode::from(code)
        }
    }
}

/// Turns on `RUST_LOG` logging to stderr (no timestamps: logs are deterministic too).
fn init_tracing() {
    let Ok(directives) = std::env::var("RUST_LOG") else {
        return;
    };
    match tracing_subscriber::EnvFilter::try_new(&directives) {
        Ok(filter) => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .without_time()
                .try_init();
        }
        Err(e) => eprintln!(
            "warning: RUST_LOG={directives} is not a valid filter ({e}); logging stays off \
             (hint: e.g. RUST_LOG=racehound=debug or RUST_LOG=racehound::explore=trace)"
        ),
    }
}

/// How `explore_all` shows progress on stderr.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// Nothing.
    Quiet,
    /// One `[i/n] scenario × strategy … verdict` line per pair (stderr is not a terminal).
    Lines,
    /// indicatif bars for pairs and seeds, with the same lines printed above them.
    Bars,
}

impl Progress {
    /// Bars on a terminal (unless logs are on: they would tear the bars), else `fallback`.
    fn choose(fallback: Progress) -> Progress {
        if std::io::stderr().is_terminal() && std::env::var_os("RUST_LOG").is_none() {
            Progress::Bars
        } else {
            fallback
        }
    }
}

fn bar_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn verdict_line(verdict: &Verdict) -> String {
    let mark = if verdict.as_expected() {
        ""
    } else {
        "  ⚠ UNEXPECTED"
    };
    let witnesses = match verdict.witness_sentence() {
        w if w.is_empty() => String::new(),
        w => format!("; {w}"),
    };
    match &verdict.found {
        Found::Pass { seeds } => format!("pass ({seeds} seeds{witnesses}){mark}"),
        Found::Inconclusive { seeds } => format!("inconclusive ({seeds} seeds{witnesses}){mark}"),
        Found::Fail(f) => format!(
            "fail: {} at seed {} (shrunk {} → {} steps{witnesses}){mark}",
            f.invariant, f.seed, f.input_size_original, f.input_size_shrunk
        ),
    }
}

/// The (scenario, strategy) pairs a selection names, in file then catalogue order.
fn pairs(selection: &Selection) -> Result<Vec<(Scenario, String)>, InputError> {
    select(
        &selection.paths,
        selection.strategy.as_deref(),
        selection.shard.as_deref(),
    )
}

fn explore_all(selection: &Selection, progress: Progress) -> Result<Vec<Verdict>, InputError> {
    let pairs = pairs(selection)?;
    let options = ExploreOptions {
        seeds: selection.seeds,
        base_seed: selection.seed,
        jobs: selection.jobs.max(1),
        shrink: None,
        witness_min_seeds: selection.witness_min_seeds,
        seeds_max: selection.seeds_max,
    };
    let bars = (progress == Progress::Bars).then(|| {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let total = multi.add(ProgressBar::new(pairs.len() as u64));
        total.set_style(bar_style("{prefix:>6} [{bar:30}] {pos}/{len} pairs"));
        total.set_prefix("suite");
        let seeds = multi.add(ProgressBar::new(0));
        seeds.set_style(bar_style("{prefix:>6} [{bar:30}] {pos}/{len} seeds  {msg}"));
        seeds.set_prefix("sweep");
        (multi, total, seeds)
    });
    let mut verdicts = Vec::new();
    for (index, (scenario, strategy)) in pairs.iter().enumerate() {
        let head = format!(
            "[{}/{}] {} × {} … ",
            index + 1,
            pairs.len(),
            scenario.name,
            strategy
        );
        // With RUST_LOG on, log lines would land inside a half-printed line: print it whole.
        let logging = std::env::var_os("RUST_LOG").is_some();
        if progress == Progress::Lines && !logging {
            eprint!("{head}");
        }
        if let Some((_, _, seeds)) = &bars {
            seeds.reset();
            seeds.set_length(u64::from(options.seeds.unwrap_or(scenario.seeds)));
            seeds.set_message(format!("{} × {strategy}", scenario.name));
        }
        let verdict = explore(scenario, strategy, options, || {
            if let Some((_, _, seeds)) = &bars {
                seeds.inc(1);
            }
        });
        match &bars {
            Some((multi, total, _)) => {
                let _ = multi.println(format!("{head}{}", verdict_line(&verdict)));
                total.inc(1);
            }
            None if progress == Progress::Lines && logging => {
                eprintln!("{head}{}", verdict_line(&verdict))
            }
            None if progress == Progress::Lines => eprintln!("{}", verdict_line(&verdict)),
            None => {}
        }
        verdicts.push(verdict);
    }
    if let Some((multi, total, seeds)) = bars {
        seeds.finish_and_clear();
        total.finish_and_clear();
        let _ = multi.clear();
    }
    Ok(verdicts)
}

fn print_failures(verdicts: &[Verdict]) {
    for v in verdicts {
        if let Found::Fail(f) = &v.found {
            println!("\n{} × {}: {}", v.scenario, v.strategy, f.message);
            print!("{}", report::replay_commands(&f.token));
        }
    }
}

fn junit_error(path: &std::path::Path, error: std::io::Error) -> CliError {
    CliError::Junit {
        path: path.to_path_buf(),
        error,
    }
}

/// Creates the `--junit` file before the run, so a bad path fails in a second, not after it.
fn create_junit(path: &std::path::Path) -> Result<std::fs::File, CliError> {
    std::fs::File::create(path).map_err(|e| junit_error(path, e))
}

fn write_junit(
    mut file: std::fs::File,
    path: &std::path::Path,
    verdicts: &[Verdict],
) -> Result<(), CliError> {
    use std::io::Write;
    file.write_all(report::junit::render(verdicts).as_bytes())
        .and_then(|()| file.flush())
        .map_err(|e| junit_error(path, e))
}

fn summary(verdicts: &[Verdict]) -> Status {
    let unexpected: Vec<&Verdict> = verdicts.iter().filter(|v| !v.as_expected()).collect();
    let failing = verdicts
        .iter()
        .filter(|v| matches!(v.found, Found::Fail(_)))
        .count();
    let inconclusive = verdicts
        .iter()
        .filter(|v| matches!(v.found, Found::Inconclusive { .. }))
        .count();
    println!(
        "\n{} pairs: {} pass, {} inconclusive, {} fail; {} as expected, {} unexpected",
        verdicts.len(),
        verdicts.len() - failing - inconclusive,
        inconclusive,
        failing,
        verdicts.len() - unexpected.len(),
        unexpected.len()
    );
    for v in &unexpected {
        println!(
            "  unexpected: {} × {} found {} but expected {}",
            v.scenario,
            v.strategy,
            v.word(),
            v.expected_text()
        );
        if matches!(v.found, Found::Inconclusive { .. }) {
            println!("    ({})", v.witness_sentence());
        }
    }
    // Invariants a strategy could not be judged on: said, never counted as passed.
    let mut undeclared: std::collections::BTreeMap<&[String], std::collections::BTreeSet<&str>> =
        std::collections::BTreeMap::new();
    for v in verdicts.iter().filter(|v| !v.not_applicable.is_empty()) {
        undeclared
            .entry(v.not_applicable.as_slice())
            .or_default()
            .insert(v.strategy.as_str());
    }
    for (names, strategies) in undeclared {
        println!(
            "  not applicable to {} (they declare no tables for them, see AppLogic::tables): {}",
            strategies.into_iter().collect::<Vec<_>>().join(", "),
            names.join(", ")
        );
    }
    Status::of(unexpected.is_empty())
}

/// Parses the arguments and runs one command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    exit_code(run(cli.command))
}

/// Runs one command.
fn run(command: Command) -> Result<Status, CliError> {
    match command {
        Command::Run {
            selection,
            format,
            junit,
        } => {
            let fallback = if format == Format::Json {
                Progress::Quiet
            } else {
                Progress::Lines
            };
            let junit_file = junit.as_deref().map(create_junit).transpose()?;
            let verdicts = explore_all(&selection, Progress::choose(fallback))?;
            if let (Some(file), Some(path)) = (junit_file, &junit) {
                write_junit(file, path, &verdicts)?;
            }
            if format == Format::Json {
                println!("{}", report::json(&verdicts));
                return Ok(Status::of(verdicts.iter().all(Verdict::as_expected)));
            }
            println!("{}", markdown_table(&verdicts));
            print_failures(&verdicts);
            Ok(summary(&verdicts))
        }
        Command::Verdicts { selection } => {
            let verdicts = explore_all(&selection, Progress::choose(Progress::Quiet))?;
            print!("{}", markdown_table(&verdicts));
            Ok(Status::of(verdicts.iter().all(Verdict::as_expected)))
        }
        Command::Replay { token } => {
            let run = replay_catalogue(&token)?;
            print!("{}", run.trace_text());
            println!(
                "\n{} × {} seed {}: trace hash {:016x}",
                run.input.scenario, run.input.strategy, run.input.seed, run.trace_hash
            );
            if let Some(e) = &run.sim_error {
                println!("simulation error: {e}");
            }
            for v in &run.violations {
                println!("VIOLATION {v}");
            }
            if run.violations.is_empty() && run.sim_error.is_none() {
                println!("no invariant broken");
            }
            warn_differences(&run);
            Ok(Status::AsExpected)
        }
        Command::Explain { token } => {
            let run = replay_catalogue(&token)?;
            print!("{}", run.explain());
            warn_differences(&run);
            Ok(Status::AsExpected)
        }
        Command::Serve(args) => Ok(Status::Served(racehound::serve::run(args))),
        Command::List { paths } | Command::Validate { paths } => {
            let scenarios = load(&paths, &registry::ids())?;
            println!("scenarios:");
            for (path, scenario) in &scenarios {
                println!("  {:<40} {}", scenario.name, path.display());
            }
            println!("strategies:");
            for info in registry::catalogue() {
                println!("  {:<30} {}", info.id, info.idea);
            }
            Ok(Status::AsExpected)
        }
        Command::CheckDeterminism { selection } => {
            let pairs = pairs(&selection)?;
            let seeds = selection.seeds.unwrap_or(5);
            let mut failures = 0;
            for (scenario, strategy) in &pairs {
                for offset in 0..u64::from(seeds) {
                    let input = resolve(scenario, strategy, selection.seed + offset);
                    match check_determinism(&input) {
                        Ok(hash) => println!("{} {} {} {hash:016x}", scenario.name, strategy, input.seed),
                        Err(e) => {
                            failures += 1;
                            println!("NONDETERMINISTIC {e}");
                        }
                    }
                }
            }
            Ok(Status::of(failures == 0))
        }
        Command::Bench {
            sims,
            sweep_seeds,
            ttfc,
            base_seeds,
            stress_secs,
            scenarios,
        } => {
            if !ttfc {
                print!("{}", racehound::bench::run_benchmarks(sims, sweep_seeds));
                return Ok(Status::AsExpected);
            }
            if !(stress_secs > 0.0 && stress_secs <= 3_600.0) {
                return Err(CliError::Argument(
                    "--stress-secs must be in (0, 3600] (hint: 10 is a good start)",
                ));
            }
            let loaded = load(&scenarios, &registry::ids())?;
            let scenarios: Vec<_> = loaded.into_iter().map(|(_, s)| s).collect();
            let rows = racehound::bench::ttfc::measure(&scenarios, base_seeds, stress_secs, |row| {
                eprintln!(
                    "ttfc: {} on {}: median {} seeds; stress: {}",
                    row.strategy,
                    row.scenario,
                    row.median_seeds().map_or("-".to_string(), |s| s.to_string()),
                    match &row.stress {
                        Ok((_, o)) => o
                            .first_failure_secs
                            .map_or(format!("not seen in {:.1} s", o.elapsed_secs), |t| format!(
                                "{t:.2} s"
                            )),
                        Err(why) => format!("n/a ({why})"),
                    }
                )
            });
            print!(
                "{}",
                racehound::bench::ttfc::table(&rows, base_seeds, stress_secs)
            );
            Ok(Status::AsExpected)
        }
    }
}
