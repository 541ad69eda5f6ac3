//! Bug-finding power: every seeded bug of the findings catalogue, seeded on
//! a preset that has its fix, makes the default scenario set (`ublksim check`
//! with no scenario named) FAIL with at least one signature no declaration
//! covers — a new finding, never only KNOWN ones.
//!
//! The whole default set runs for each bug (about 3–5 s per bug in release:
//! `per-io-daemons-stress` is most of it), so the test stays well under a
//! minute.

use ublk_checker::explore::findings::{Kind, FINDINGS};
use ublk_checker::explore::verdict::{run_scenario, CheckOpts, Verdict};
use ublk_checker::scenarios;
use ublk_model::Preset;

#[test]
fn every_seeded_bug_fails_the_default_check_with_a_new_signature() {
    let mut checked = Vec::new();
    for f in FINDINGS.iter().filter(|f| f.kind == Kind::Seeded) {
        let fix = f.fix.expect("a seeded bug has a fix switch");
        // the preset of its first seeded case, else of its witness
        let preset = f
            .seeded
            .first()
            .map(|s| s.preset)
            .or(f.witness.as_ref().map(|w| w.preset))
            .unwrap_or(Preset::K72);
        assert!(
            preset.features().has(fix),
            "{}: {} lacks {}",
            f.id,
            preset.name(),
            fix.name()
        );
        let opts = CheckOpts::new(preset, preset.features().without(fix));
        let (mut failed, mut new) = (Vec::new(), Vec::new());
        for sc in scenarios::all() {
            let r = run_scenario(&sc, &opts).unwrap();
            if r.verdict == Verdict::Fail {
                failed.push(sc.name.clone());
            }
            if r.findings.iter().any(|x| x.known.is_none()) {
                new.push(sc.name.clone());
            }
        }
        assert!(
            !failed.is_empty(),
            "{} on {}: no scenario fails",
            f.id,
            preset.name()
        );
        assert!(
            !new.is_empty(),
            "{} on {}: every finding is a known one",
            f.id,
            preset.name()
        );
        checked.push(f.id);
    }
    assert!(checked.len() >= 10, "{checked:?}");
}
