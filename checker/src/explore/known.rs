//! Known findings: violations a real kernel version has, which a scenario
//! is *expected* to report on that preset.  `check` prints them as KNOWN
//! (with the counterexample) and does not fail on them; if one disappears
//! the scenario FAILs, so a fix (or a model change that hides the bug) is
//! noticed.  Seeded bugs a user turns on are never KNOWN: they are FAILs.
//!
//! The declarations live in the findings catalogue (`findings.rs`), each
//! with the switch set that has it; a preset has a finding when its own,
//! unmodified switches do.  That is why `--with B-24` on K72 is a FAIL: K72's
//! switch set has the fix, whatever the user then turns off.

pub use crate::explore::findings::What;
use crate::explore::findings::{Sig, Where, FINDINGS};
use crate::explore::signature::Signature;
use ublk_model::Preset;

/// One known declaration of one finding.
#[derive(Clone, Copy, Debug)]
pub struct Known {
    /// The finding's id (`B-24`, `O-6`, `fake-timeout`).
    pub bug: &'static str,
    pub scenario: &'static str,
    pub what: What,
    pub sig: Sig,
    /// The switch set that has it.
    pub on: Where,
    pub reason: &'static str,
}

impl Known {
    /// Whether the preset's own switch set has this finding.
    pub fn in_preset(&self, preset: Preset) -> bool {
        self.on.holds(preset.features())
    }

    /// Whether a finding with this signature is this declaration's.
    pub fn matches(&self, sig: &Signature, what: What) -> bool {
        self.what == what && self.sig.matches(sig)
    }

    /// `B-24 (S7): reason`.
    pub fn note(&self) -> String {
        format!("{} ({}): {}", self.bug, self.what, self.reason)
    }
}

/// The declaration a finding matches on this preset: the kernel version (its own switch
/// set) has it, wherever it shows — in any scenario. A seeded bug the user turns on is not
/// the preset's, so it is new.
pub fn declared(sig: &Signature, what: What, preset: Preset) -> Option<Known> {
    all().find(|k| k.in_preset(preset) && k.matches(sig, what))
}

/// The declarations that expect `scenario` to show them on this preset.
pub fn expected(scenario: &str, preset: Preset) -> impl Iterator<Item = Known> + '_ {
    all().filter(move |k| !k.scenario.is_empty() && k.scenario == scenario && k.in_preset(preset))
}

/// Every known declaration, in catalogue order.
pub fn all() -> impl Iterator<Item = Known> {
    FINDINGS.iter().flat_map(|f| {
        f.known.iter().map(move |k| Known {
            bug: f.id,
            scenario: k.scenario,
            what: k.what,
            sig: k.sig,
            on: k.on,
            reason: k.reason,
        })
    })
}

/// The known finding for this scenario on this preset.  It makes the
/// verdict KNOWN only when exactly that finding is found (also with changed
/// switches: seeding one bug does not turn the version's other known
/// findings into failures).
pub fn lookup(scenario: &str, preset: Preset) -> Option<Known> {
    all().find(|k| k.scenario == scenario && k.in_preset(preset))
}

/// The declaration a simulated violation (the last step of `path`) matches on `preset`:
/// the simulator uses the same signatures as `check`.
pub fn sim_known(
    m: &ublk_model::Model,
    preset: Preset,
    path: &[ublk_model::Move],
    v: &ublk_model::Violation,
) -> Option<Known> {
    declared(&Signature::of_path(m, path, v), What::Safety(v.inv), preset)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No two declarations a preset has overlap: every signature is one finding's.
    #[test]
    fn declarations_of_a_preset_do_not_overlap() {
        for p in Preset::every() {
            let ks: Vec<Known> = all().filter(|k| k.in_preset(p)).collect();
            for (i, a) in ks.iter().enumerate() {
                for b in &ks[i + 1..] {
                    let same_pattern = a.what == b.what
                        && a.sig.at == b.sig.at
                        && a.sig.shape == b.sig.shape
                        && a.sig.recovery == b.sig.recovery
                        && a.sig.fake_timeout == b.sig.fake_timeout
                        && a.sig.server_gone == b.sig.server_gone
                        && a.sig.stopped == b.sig.stopped;
                    assert!(
                        !same_pattern || a.bug == b.bug,
                        "{} and {} declare the same signature on {}",
                        a.bug,
                        b.bug,
                        p.name()
                    );
                }
            }
        }
    }

    /// Every declaration names a scenario that exists, and some preset has it.
    #[test]
    fn declarations_name_scenarios_some_preset_has() {
        for k in all() {
            assert!(
                k.scenario.is_empty() || crate::scenarios::by_name(k.scenario).is_some(),
                "{}",
                k.scenario
            );
            assert!(
                Preset::every().any(|p| k.in_preset(p)),
                "{} on {}: no preset has it",
                k.bug,
                k.scenario
            );
        }
    }
}
