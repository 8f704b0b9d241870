//! The `avf-bel` binary: see `avf-bel --help`. The command line is part of the binary, not of the library.

mod cli;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(msg) = cli::main(&args) {
        eprintln!("error: {msg}");
        std::process::exit(2);
    }
}
