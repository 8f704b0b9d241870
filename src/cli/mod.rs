//! The `avf-bel` command line (clap, derive): one module per subcommand, the exit codes, logging set-up.
//!
//! Exit codes: 0 success; 1 a runtime failure (a file that cannot be read or used, a daemon that went away, a
//! device that is missing); 2 a usage error (an unknown command or option, a bad or missing value, options that
//! cannot go together).

pub mod bench;
pub mod device;
pub mod init;
pub mod inspect;
pub mod read;
pub mod run;
pub mod serve;
pub mod synth;
pub mod train;

use avf_bel::logging;
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};
use std::process::ExitCode;

/// The exit-code paragraph of `--help`.
pub const EXIT_CODES: &str = "Exit codes: 0 success, 1 runtime failure (unreadable or unusable file, daemon gone, \
     device missing), 2 usage error (unknown command or option, bad or missing value).
Logging: -v/-q, or AVF_BEL_LOG (or RUST_LOG) = off|error|warn|info|debug|trace; under systemd, lines carry journald \
     priorities.
Data: --data DIR, else $AVF_BEL_DATA, else ../shared/data (the study's ratings; see the README, \"Data\").";

/// AVF-BEL for robots: camera frames and microphone PCM in, five emotion intensities and EPP out.
#[derive(Parser, Debug)]
#[command(
    name = "avf-bel",
    version,
    long_about = "AVF-BEL for robots: a brain-inspired model of how what a robot sees and hears becomes emotion. \
                  Frames and PCM go in; five emotion intensities (angry, happy, peaceful, sad, scared, 0–1) and the \
                  Emotional Positivity Parameter (EPP, 0–1) come out.",
    after_help = EXIT_CODES,
    propagate_version = true,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// More log output: -v debug, -vv trace.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = "Logging")]
    pub verbose: u8,
    /// Less log output: -q warnings and errors only, -qq errors only.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose", help_heading = "Logging")]
    pub quiet: u8,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a model (default: the built-in one) on a clip and report emotions, EPP and why.
    #[command(after_help = run::EXAMPLES)]
    Run(run::RunArgs),
    /// Fit every stage from rendered stimuli and the study's ratings (feature `train`).
    #[command(after_help = train::TRAIN_EXAMPLES)]
    Train(train::TrainArgs),
    /// Leave-one-stimulus-out evaluation with baselines, tables and figures (feature `train`).
    #[command(after_help = train::EVAL_EXAMPLES)]
    Eval(train::EvalArgs),
    /// Several draws' evaluations side by side, with every figure's mean (feature `train`).
    #[command(after_help = train::DRAWS_EXAMPLES)]
    Draws(train::DrawsArgs),
    /// Write f32, f16 and int8 files of a model and their differences on the stimuli (feature `train`).
    #[command(after_help = train::EXPORT_EXAMPLES)]
    Export(train::ExportArgs),
    /// Print a weights file's header, tensors, sizes and hashes (non-zero exit on a bad file).
    #[command(after_help = inspect::EXAMPLES)]
    Inspect(inspect::InspectArgs),
    /// Write a seeded, UNTRAINED model (f32, f16 or int8).
    #[command(after_help = init::EXAMPLES)]
    Init(init::InitArgs),
    /// Render a stimulus: DIR/audio.wav, DIR/video.y4m and optionally a PNG contact sheet.
    #[command(after_help = synth::EXAMPLES)]
    Synth(synth::SynthArgs),
    /// Time a stage on synthetic input (median of N runs).
    #[command(after_help = bench::EXAMPLES)]
    Bench(bench::BenchArgs),
    /// The robot daemon: publish samples (EPP, emotions) on a Unix socket and/or a serial port.
    #[command(after_help = serve::EXAMPLES)]
    Serve(serve::ServeArgs),
    /// The reference consumer of the robot link: print samples, optionally send a reward.
    #[command(after_help = read::EXAMPLES)]
    Read(read::ReadArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    #[command(after_help = COMPLETION_EXAMPLES)]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

const COMPLETION_EXAMPLES: &str = "Examples:
  avf-bel completions bash > ~/.local/share/bash-completion/completions/avf-bel
  avf-bel completions zsh > ~/.zfunc/_avf-bel
  avf-bel completions fish > ~/.config/fish/completions/avf-bel.fish";

/// Why a command failed: a usage error (exit 2, printed with the subcommand's usage) or a runtime failure (exit 1).
#[derive(Debug)]
pub enum Failure {
    /// The command line asks for something that cannot be: names the subcommand, the kind and what is wrong.
    Usage {
        /// The subcommand's name.
        command: &'static str,
        /// clap's kind of error.
        kind: ErrorKind,
        /// The message.
        message: String,
    },
    /// The command could not do its work.
    Runtime(String),
}

impl Failure {
    /// A usage error of `command` (a value that is not valid).
    pub fn usage(command: &'static str, message: impl Into<String>) -> Self {
        Failure::Usage { command, kind: ErrorKind::ValueValidation, message: message.into() }
    }

    /// A usage error of `command` (options that cannot go together, or one that is missing).
    pub fn conflict(command: &'static str, message: impl Into<String>) -> Self {
        Failure::Usage { command, kind: ErrorKind::ArgumentConflict, message: message.into() }
    }
}

/// Runtime failures from messages.
impl From<String> for Failure {
    fn from(m: String) -> Self {
        Failure::Runtime(m)
    }
}

impl From<&str> for Failure {
    fn from(m: &str) -> Self {
        Failure::Runtime(m.to_string())
    }
}

/// What `main` returns.
pub type CliResult = Result<(), Failure>;

/// Parse the command line, set up logging, run the subcommand, and turn the outcome into the exit code.
pub fn main() -> ExitCode {
    // Usage errors (and --help/--version) are printed by clap, which exits 2 (0 for help and version).
    let cli = Cli::parse();
    let level = match (cli.verbose, cli.quiet) {
        (0, 0) => logging::level_from_env().unwrap_or(log::LevelFilter::Info),
        (0, 1) => log::LevelFilter::Warn,
        (0, _) => log::LevelFilter::Error,
        (1, _) => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    // Only fails when a logger is already installed, which nothing here does.
    let _ = logging::init(level);
    let outcome = match cli.command {
        Command::Run(a) => run::run(a),
        Command::Train(a) => train::run_train(a),
        Command::Eval(a) => train::run_eval(a),
        Command::Draws(a) => train::run_draws(a),
        Command::Export(a) => train::run_export(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Init(a) => init::run(a),
        Command::Synth(a) => synth::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Read(a) => read::run(a),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "avf-bel", &mut std::io::stdout());
            Ok(())
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage { command, kind, message }) => {
            let mut cmd = Cli::command();
            let sub = cmd.find_subcommand_mut(command).map(|s| s.clone().bin_name(format!("avf-bel {command}")));
            let err = match sub {
                Some(mut s) => s.error(kind, message),
                None => cmd.error(kind, message),
            };
            // Prints "error: ...", the usage line and the --help hint; exits 2.
            err.exit()
        }
        Err(Failure::Runtime(message)) => {
            // Always printed (whatever the log level), with the journal's priority when stderr is the journal.
            let line = logging::format_line(log::Level::Error, &message, logging::stderr_is_journal());
            use std::io::Write;
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
            ExitCode::from(1)
        }
    }
}

/// `--precision`: the storage precision of a weights file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PrecisionArg {
    /// Everything f32.
    F32,
    /// Weight matrices f16.
    #[value(alias = "fp16")]
    F16,
    /// CORnet-Z convolutions int8 with per-channel scales.
    #[value(alias = "i8")]
    Int8,
}

impl From<PrecisionArg> for avf_bel::model::Precision {
    fn from(p: PrecisionArg) -> Self {
        match p {
            PrecisionArg::F32 => avf_bel::model::Precision::F32,
            PrecisionArg::F16 => avf_bel::model::Precision::F16,
            PrecisionArg::Int8 => avf_bel::model::Precision::Int8,
        }
    }
}

/// `--config`: a model shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ConfigArg {
    /// The shipped shape (64×64×5 frames, full auditory cortex).
    Default,
    /// A small shape for tests and quick runs.
    Tiny,
}

impl From<ConfigArg> for avf_bel::ModelConfig {
    fn from(c: ConfigArg) -> Self {
        match c {
            ConfigArg::Default => avf_bel::ModelConfig::default(),
            ConfigArg::Tiny => avf_bel::ModelConfig::tiny(),
        }
    }
}
