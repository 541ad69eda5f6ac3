fn main() {
    // Exit quietly when the reader of our output goes away (`ublksim … | head`).
    // SAFETY: restoring the default disposition of SIGPIPE before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(ublk_checker::cli::main());
}
