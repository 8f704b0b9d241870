//! The `avf-bel` binary: see `avf-bel --help`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(msg) = avf_bel::cli::main(&args) {
        eprintln!("error: {msg}");
        std::process::exit(2);
    }
}
