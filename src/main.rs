//! The `pixelgym` command line. Each subcommand lives in its own module under `cli/`.

mod cli;
#[cfg(feature = "viewer")]
mod viewer;

fn main() -> std::process::ExitCode {
    cli::main()
}
