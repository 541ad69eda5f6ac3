//! The two-queue recovery scenarios (`two-queues-recovery-*` in `scenarios::multiq`): their
//! findings on 7.2 and 6.12 were reproduced on the real kernels (O-10, O-11), and their
//! 6.16/6.17 forms (O-10's double completion, O-13's ring-exit spin) are declared; each
//! scenario must still show its declared finding and nothing undeclared on every preset.

use ublk_checker::explore::verdict::{self, CheckOpts, Verdict};
use ublk_checker::scenarios;
use ublk_model::Preset;

#[test]
fn the_two_queue_findings_are_declared_and_still_found() {
    for (preset, name, id) in [
        (Preset::K72, "two-queues-recovery-ring-close", "O-10"),
        (Preset::K72, "two-queues-recovery-restart", "O-10"),
        (Preset::K612, "two-queues-recovery-restart", "O-11"),
        (Preset::Post, "two-queues-recovery-ring-close", "O-10"),
        (Preset::Post, "two-queues-recovery-restart", "O-13"),
        (Preset::Pre, "two-queues-recovery-restart", "O-13"),
    ] {
        let sc = scenarios::by_name(name).unwrap();
        let o = CheckOpts {
            max_states: 2_000_000,
            ..CheckOpts::new(preset, preset.features())
        };
        let r = verdict::run_scenario(&sc, &o).unwrap();
        assert_eq!(r.verdict, Verdict::Known, "{name} on {}", preset.name());
        assert!(r.unreached.is_empty(), "{name}: {:?}", r.unreached);
        assert!(
            r.findings
                .iter()
                .any(|f| f.known.as_deref().is_some_and(|k| k.starts_with(id))),
            "{name} on {}: no {id} finding in {:?}",
            preset.name(),
            r.findings.iter().map(|f| &f.known).collect::<Vec<_>>()
        );
    }
}
