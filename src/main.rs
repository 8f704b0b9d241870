//! The `avf-bel` host companion: a small dispatcher over the subcommands in `avf_bel::cli`.

fn usage() -> &'static str {
    "usage: avf-bel <command> [options]\ncommands:\n  synth   render a stimulus (music + bouncing ball) from five slider values; `avf-bel synth --help`"
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("synth") => avf_bel::cli::synth::run(&args[2..]),
        _ => {
            eprintln!("{}", usage());
            std::process::exit(2);
        }
    };
    if let Err(msg) = result {
        eprintln!("error: {msg}");
        std::process::exit(2);
    }
}
