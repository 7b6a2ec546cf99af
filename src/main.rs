//! The `leadscore` binary; everything lives in `leadscore-cli`.

fn main() -> std::process::ExitCode {
    leadscore_cli::main()
}
