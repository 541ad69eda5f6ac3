//! The findings catalogue: every seeded bug and every finding the model made
//! on real versions, with all its facts in one row — the fix switch (whose
//! absence is the bug), its status on real kernels, the guide's zoo entry,
//! where seeding it shows it (explorer and engine tests), its small witness
//! for every engine, and where a kernel version *has* it (`known.rs`).
//!
//! A known declaration names the switch set that has the finding, not a
//! preset: a preset has it when its own (unmodified) switches satisfy
//! [`Where`], so a new kernel row inherits the findings of its switch set.
//! The conditions are exact: a finding shows as this invariant only where
//! nothing else breaks first (e.g. O-7's hang needs B-24 fixed, else its S7
//! comes first).  Where two declarations of one scenario and invariant
//! differ in their reason, the older kernel's comes first (the order `diff`
//! carries a finding in).

use ublk_model::{Features, Inv, Preset, Prop, Sw};

/// What a finding is: an invariant violation or a hang of a liveness property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum What {
    Safety(Inv),
    Hang(Prop),
}

impl What {
    pub fn is_safety(self) -> bool {
        matches!(self, What::Safety(_))
    }
}

impl std::fmt::Display for What {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            What::Safety(i) => write!(f, "{i}"),
            What::Hang(p) => write!(f, "hang {p}"),
        }
    }
}

/// A switch set: these switches on, those off.
#[derive(Clone, Copy, Debug)]
pub struct Where {
    pub on: &'static [Sw],
    pub off: &'static [Sw],
}

impl Where {
    pub fn holds(&self, f: Features) -> bool {
        self.on.iter().all(|&w| f.has(w)) && !self.off.iter().any(|&w| f.has(w))
    }
}

/// What kind of finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An upstream bug the model can seed by removing its fix switch.
    Seeded,
    /// The model's own finding (O-x).
    Own,
    /// Behaviour by design that a scenario shows as a violation or hang.
    ByDesign,
}

/// The guide's bug-zoo entry (`ublksim zoo`).
pub struct Zoo {
    pub title: &'static str,
    pub preset: Preset,
    /// Shown with `--with <id>` (the seeded bug), else on the preset as is.
    pub seeded: bool,
    pub scenario: &'static str,
    /// How many of the last steps the excerpt shows.
    pub tail: usize,
    /// What happens, in the guide's words.
    pub story: &'static str,
    /// The fix (commit) or its status.
    pub fix: &'static str,
}

/// Seeding the bug on `preset` makes `scenario` break `inv`
/// (`checker/tests/explorer.rs`; `shuttle`: also shuttle-pct within 2,000
/// iterations, `checker/tests/engines.rs`).
pub struct Seeded {
    pub preset: Preset,
    pub scenario: &'static str,
    pub inv: Inv,
    pub shuttle: bool,
}

/// A small cut of a scenario on which the explorer, loom and shuttle-pct all
/// find the seeded bug (`scenarios/small.rs`, `checker/tests/engines.rs`).
pub struct Witness {
    pub preset: Preset,
    pub scenario: &'static str,
    pub inv: Inv,
}

/// A kernel version with switch set `on` has the finding: it shows as `what` with a
/// signature matching `sig`, wherever it occurs; `scenario` is where it is expected (if that
/// scenario runs on such a kernel and no longer shows it, `check` says so; empty: no built-in
/// scenario shows this form, only generated configurations or the simulator).
pub struct Known {
    pub scenario: &'static str,
    pub what: What,
    pub sig: Sig,
    pub on: Where,
    pub reason: &'static str,
}

/// A signature pattern (see `signature.rs`): the function or hang shape starts with `at`,
/// the masked message or obligation contains `shape`, and (if set) the situation's recovery
/// fact is `recovery`.
#[derive(Clone, Copy, Debug)]
pub struct Sig {
    pub at: &'static str,
    pub shape: &'static str,
    pub recovery: Option<bool>,
    pub fake_timeout: Option<bool>,
    pub server_gone: Option<bool>,
    pub canceling: Option<bool>,
    pub buffer_held: Option<bool>,
    /// [`crate::explore::signature::Situation::stopped_before_start`].
    pub stopped: Option<bool>,
}

impl Sig {
    pub fn matches(&self, s: &crate::explore::signature::Signature) -> bool {
        s.at.starts_with(self.at)
            && s.what.contains(self.shape)
            && self.recovery.is_none_or(|r| s.situation.recovery == r)
            && self
                .fake_timeout
                .is_none_or(|f| s.situation.fake_timeout == f)
            && self
                .server_gone
                .is_none_or(|g| s.situation.server_gone == g)
            && self.canceling.is_none_or(|c| s.situation.canceling == c)
            && self
                .buffer_held
                .is_none_or(|b| s.situation.buffer_held == b)
            && (self.stopped).is_none_or(|t| s.situation.stopped_before_start == t)
    }
}

/// `at` and `shape`, in any situation.
pub const fn sig(at: &'static str, shape: &'static str) -> Sig {
    Sig {
        at,
        shape,
        recovery: None,
        fake_timeout: None,
        server_gone: None,
        canceling: None,
        buffer_held: None,
        stopped: None,
    }
}

impl Sig {
    /// Only while a user recovery is under way.
    pub const fn recovering(self) -> Sig {
        Sig {
            recovery: Some(true),
            ..self
        }
    }
    /// Only outside a user recovery.
    pub const fn not_recovering(self) -> Sig {
        Sig {
            recovery: Some(false),
            ..self
        }
    }
    /// Only while part of the server lives on (one thread left, or closed its ring).
    pub const fn live_server(self) -> Sig {
        Sig {
            server_gone: Some(false),
            ..self
        }
    }
    /// Only while a registered buffer still references a live request.
    pub const fn buffer_held(self) -> Sig {
        Sig {
            buffer_held: Some(true),
            ..self
        }
    }
    /// Only when (or unless) STOP_DEV ran before the device had a disk.
    pub const fn stopped_before_start(self, on: bool) -> Sig {
        Sig {
            stopped: Some(on),
            ..self
        }
    }
    /// Only while no cancel is under way (`canceling` clear).
    pub const fn not_canceling(self) -> Sig {
        Sig {
            canceling: Some(false),
            ..self
        }
    }
    /// In or out of a user recovery (documents that both were seen).
    pub const fn recovering_or_not(self) -> Sig {
        Sig {
            recovery: None,
            ..self
        }
    }
    /// Only when (or unless) the fault injection dropped a completion.
    pub const fn fake_timeout(self, on: bool) -> Sig {
        Sig {
            fake_timeout: Some(on),
            ..self
        }
    }
}

pub struct Finding {
    /// `B-24`, `O-6`; by-design findings have a descriptive id.
    pub id: &'static str,
    pub kind: Kind,
    /// The switch whose absence is the bug (`--with <id>` turns it off).
    pub fix: Option<Sw>,
    /// The upstream commit that fixed it (12 hex digits), when there is one.
    pub commit: Option<&'static str>,
    /// Status on real kernels.
    pub status: &'static str,
    pub zoo: Option<Zoo>,
    pub seeded: &'static [Seeded],
    pub witness: Option<Witness>,
    pub known: &'static [Known],
}

pub use crate::explore::catalogue::FINDINGS;

#[cfg(test)]
mod tests {
    use super::*;
    use ublk_model::ALL_SWITCHES;

    /// The catalogue and the switch table agree: a finding's fix switch
    /// names it as its seeded bug, every switch with a bug id has its row,
    /// and a commit in the switch's title is the finding's commit.
    #[test]
    fn catalogue_matches_the_switches() {
        for f in FINDINGS {
            if let Some(w) = f.fix {
                assert_eq!(w.info().bug, Some(f.id), "{}: fix {}", f.id, w.name());
            }
            if let Some(c) = f.commit {
                let zoo = f.zoo.as_ref().map_or("", |z| z.fix);
                let title = f.fix.map_or("", |w| w.info().title);
                assert!(
                    title.contains(c) || zoo.contains(c),
                    "{}: {c} in no title",
                    f.id
                );
            }
            // a seeded bug is seeded by turning its fix switch off
            assert!(f.kind != Kind::Seeded || f.fix.is_some(), "{}", f.id);
        }
        for w in ALL_SWITCHES {
            if let Some(bug) = w.info().bug {
                assert!(
                    FINDINGS.iter().any(|f| f.id == bug && f.fix == Some(w)),
                    "{bug}"
                );
            }
        }
    }

    /// The README's two tables of seeded bugs say what the catalogue says.
    #[test]
    fn readme_tables_match_the_catalogue() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
            .expect("README.md");
        let row = |id: &str, needles: &[String]| {
            readme.lines().any(|l| {
                l.starts_with(&format!("| {id} ")) && needles.iter().all(|n| l.contains(n.as_str()))
            })
        };
        for f in FINDINGS {
            if let Some(w) = &f.witness {
                let want = [
                    format!("| {} `--with {}` |", w.preset.name(), f.id),
                    format!("`{}` | {} |", w.scenario, w.inv),
                ];
                assert!(row(f.id, &want), "README witness row of {}: {want:?}", f.id);
            }
            if let Some(s) = f.seeded.first() {
                let want = [format!("`{}`", s.scenario), format!("| {} ", s.inv)];
                assert!(
                    row(f.id, &want),
                    "README seeded-bug row of {}: {want:?}",
                    f.id
                );
            }
        }
    }
}
