//! The `avf-bel` command line: one entry point, one module per subcommand.

pub mod bench;
pub mod device;
pub mod init;
pub mod inspect;
pub mod read;
pub mod run;
pub mod serve;
pub mod synth;
#[cfg(feature = "train")]
pub mod train;

/// Usage text.
pub const USAGE: &str = "usage: avf-bel <command> [options]

commands:
  run [--weights W] (--stimulus NAME | [--audio WAV] [--video Y4M]) [--json] [--seconds T] [--seed N]
      [--device auto|cpu|cuda]
                                     run a model (default: the built-in one) on a clip; report emotions and EPP
  train --data DIR --out DIR [--config default|tiny] [--clips N] [--renders K] [--threads T] [--seed N]
        [--cornet-epochs E] [--cornet-clips N] [--augment default|none|without:KIND,..] [--aug-renders K]
        [--aug-share P] [--aug-max-kinds K] [--dropout P] [--cv-folds K] [--normalise on|off]
        [--substitute on|off] [--validate N] [--cornet-compare]
                                     fit every stage from rendered stimuli and the ratings (feature `train`);
                                     CORnet-Z is first trained E epochs (0: random features) on N clips
  eval --data DIR [--weights W] [--out DIR] [--renders K] [--aug-renders K] [--robustness]
       [--robustness-renders K] [--perturbations KIND,..]
                                     leave-one-stimulus-out evaluation with baselines (feature `train`);
                                     --robustness: every named perturbation at three severities
  export --weights W --out DIR       f32, f16 and int8 files; int8-vs-f32 difference on the stimuli
  inspect FILE                       print a weights file's header, tensors, sizes and hash
  init --out FILE [--seed N] [--config default|tiny] [--precision f32|f16|int8]
                                     write a seeded, UNTRAINED model
  synth --params bpm=B,jitter=J,consonance=C,bigsmall=S,updown=U | --stimulus NAME --out DIR
        [--seconds T] [--seed N] [--size N] [--fps F] [--data DIR] [--preview FILE.png]
                                     render a stimulus: DIR/audio.wav and DIR/video.y4m
  bench --stage visual|audio|pipeline [--size N] [--channels C] [--threads T]
        [--precision f32|int8] [--iters N] [--json] [--device auto|cpu|cuda]
                                     time a stage on synthetic input (median of N runs)
  serve [--config FILE] [--audio URI] [--video URI] [--serial DEV] [--baud N] [--socket PATH] [--json]
        [--stats] [--weights W] [--state FILE] [--duration S] [--rate R] [--window S]
                                     the robot daemon: publish samples (EPP, emotions) on a Unix socket and/or
                                     serial port; inputs synth://NAME, file://clip.wav, file://clip.y4m
  read (--serial DEV | --socket PATH) [--json] [--count N] [--reward a,h,p,s,c] [--heartbeats]
                                     the reference consumer: print samples, optionally send a reward
";

/// Run the command line; `args` excludes the program name. Errors are messages for the user.
pub fn main(args: &[String]) -> Result<(), String> {
    let Some(cmd) = args.first() else {
        return Err(format!("no command given\n\n{USAGE}"));
    };
    let rest = &args[1..];
    match cmd.as_str() {
        "inspect" => inspect::run(rest),
        "init" => init::run(rest),
        "bench" => bench::run(rest),
        "synth" => synth::run(rest),
        "run" => run::run(rest),
        #[cfg(feature = "train")]
        "train" => train::run_train(rest),
        #[cfg(feature = "train")]
        "eval" => train::run_eval(rest),
        #[cfg(feature = "train")]
        "export" => train::run_export(rest),
        #[cfg(not(feature = "train"))]
        "train" | "eval" | "export" => {
            Err(format!("`{cmd}` needs the `train` feature: cargo run --release --features train -- {cmd} ..."))
        }
        "serve" => serve::run(rest),
        "read" => read::run(rest),
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    }
}

/// Minimal option parsing: `--name value` pairs and bare flags, with clear errors.
pub struct Opts<'a> {
    args: &'a [String],
    used: Vec<bool>,
}

impl<'a> Opts<'a> {
    /// Wrap arguments.
    pub fn new(args: &'a [String]) -> Self {
        Opts { args, used: vec![false; args.len()] }
    }

    /// The value after `--name`, if given.
    pub fn value(&mut self, name: &str) -> Result<Option<&'a str>, String> {
        for i in 0..self.args.len() {
            if self.args[i] == name {
                self.used[i] = true;
                let v = self.args.get(i + 1).ok_or_else(|| format!("`{name}` needs a value"))?;
                self.used[i + 1] = true;
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// A parsed value after `--name`, or `default`.
    pub fn parse<T: core::str::FromStr>(&mut self, name: &str, default: T) -> Result<T, String>
    where
        T::Err: core::fmt::Display,
    {
        match self.value(name)? {
            Some(v) => v.parse().map_err(|e| format!("`{name} {v}`: {e}")),
            None => Ok(default),
        }
    }

    /// Whether the bare flag `--name` is present.
    pub fn flag(&mut self, name: &str) -> bool {
        for i in 0..self.args.len() {
            if self.args[i] == name {
                self.used[i] = true;
                return true;
            }
        }
        false
    }

    /// Positional arguments (not consumed by options).
    pub fn positional(&mut self) -> Vec<&'a str> {
        let mut out = Vec::new();
        for i in 0..self.args.len() {
            if !self.used[i] && !self.args[i].starts_with("--") {
                self.used[i] = true;
                out.push(self.args[i].as_str());
            }
        }
        out
    }

    /// Fail on anything not consumed.
    pub fn finish(&self) -> Result<(), String> {
        match self.used.iter().position(|u| !u) {
            Some(i) => Err(format!("unexpected argument `{}`", self.args[i])),
            None => Ok(()),
        }
    }
}
