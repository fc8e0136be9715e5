//! The `signoff` binary: parses the command line and hands over to [`signoff::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    signoff::cli::main()
}
