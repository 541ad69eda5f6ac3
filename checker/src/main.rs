fn main() {
    std::process::exit(ublk_checker::cli::main());
}
