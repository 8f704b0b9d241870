//! The `avf-bel` binary: see `avf-bel --help`. The command line is part of the binary, not of the library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
