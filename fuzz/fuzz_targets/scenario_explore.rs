//! Any JSON as a scenario: the validator, then (if it accepts) the model and a bounded
//! exploration must not panic — whatever the validator lets through, the model can run.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ublk_checker::explore::bfs::Explorer;
use ublk_model::{Model, Preset, Scenario};

fuzz_target!(|data: &[u8]| {
    let Ok(sc) = serde_json::from_slice::<Scenario>(data) else {
        return;
    };
    if ublk_traces::validate::scenario(&sc).is_err() {
        return;
    }
    for p in [Preset::K72, Preset::K612] {
        if let Ok(m) = Model::new(&sc, p.features()) {
            let _ = Explorer::new(&m).max_states(2_000).run();
        }
    }
});
