//! The `racehound` command line: a thin layer of clap over library calls.
//!
//! Exit codes: 0 every verdict as expected, 1 an unexpected verdict (or a nondeterministic
//! run), 2 bad input (scenario file, token, arguments).

#[cfg(not(racehound_loom))]
mod cli;

/// mimalloc instead of the system allocator: a simulation allocates and frees many small
/// buffers (HTTP messages, JSON, trace lines), and glibc's malloc was a fifth of the profile.
#[cfg(not(racehound_loom))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(not(racehound_loom))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(racehound_loom)]
fn main() {
    eprintln!(
        "this racehound was built with the loom-models feature for the loom models; build it without that feature"
    );
}
