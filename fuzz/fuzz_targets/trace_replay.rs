//! Any bytes as a trace: the loader, the replay check and the walk of explain/view must answer
//! Ok or Err, never panic.  Seed corpus: `fuzz/seeds/trace_replay` (saved traces).
#![no_main]
use libfuzzer_sys::fuzz_target;
use ublk_checker::explore::verdict::verify;
use ublk_checker::teach::explain::walk_with;
use ublk_traces::{Limits, Trace};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lim = Limits {
        max_bytes: 1 << 20,
        max_steps: 5_000,
    };
    let Ok(t) = Trace::parse_limited(text, "fuzz", &lim) else {
        return;
    };
    for prefix in [false, true] {
        let _ = verify(&t, prefix);
        let _ = walk_with(&t, prefix);
    }
});
