fn main() -> std::process::ExitCode {
    zip_oss::cli::main()
}
