//! Root-cause signatures: what a violation or a hang *is*, in terms that stay the same across
//! scenarios, schedules and state numbering — so that one bug found in two places is one
//! finding, two bugs in one scenario are two, and a known finding is recognised by what it is
//! rather than by the scenario it was first seen in.
//!
//! A signature is
//! * the property broken (S1–S10, L1–L5);
//! * where: for a safety violation the kernel function of the violating step; for a hang its
//!   shape — a dead end, or the kernel functions of the cycle that repeats forever;
//! * what: the check's own description (or the open obligation's kind) with every number
//!   masked (`rq0` and `rq1`, `c0` and `c3`, `slot 1` and `slot 0` are the same situation);
//! * the situation: the device state, whether a disk exists, whether a user recovery has
//!   begun, whether the fault injection dropped a completion, whether the whole server is
//!   gone — the few facts that tell e.g. a dispatch into a canceled cmd before START_DEV
//!   (B-24) from one during recovery (O-8), or one after the server died (B-24) from one
//!   after a single thread of a live server left (O-6).

use serde::{Deserialize, Serialize};
use std::fmt;
use ublk_model::state::{ActorId, DevState, State};
use ublk_model::Move;
use ublk_model::{Model, Obligation, Prop, Violation};

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Signature {
    /// `S1`…`S9`, `L1`…`L5`.
    pub property: String,
    /// The kernel function of the violating step, `dead end`, or `cycle: f, g, …`.
    pub at: String,
    /// The check's message or the obligation's kind, numbers masked.
    pub what: String,
    pub situation: Situation,
}

/// The state facts that define where a finding happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Situation {
    /// `dev_info.state`.
    pub dev: DevStateName,
    /// `ub->ub_disk` is set (START_DEV added the disk, STOP_DEV has not removed it).
    pub disk: bool,
    /// START_USER_RECOVERY succeeded (a new server may be running).
    pub recovery: bool,
    /// The `fail_io_timeout` fault injection dropped a completion (by design, the request
    /// then waits for the timeout handler).
    pub fake_timeout: bool,
    /// Every server thread is gone (SIGKILL, exit_group): the kernel alone must clean up.
    pub server_gone: bool,
    /// `ub->canceling` or a queue's `ubq->canceling` is set: a cancel pass (or STOP_DEV) has
    /// begun and not been undone.  Tells a race with an ongoing cancel (B-2) from a slot
    /// canceled earlier and brought back (O-6), which end in the same function.
    pub canceling: bool,
    /// A registered io_uring buffer still references a request of its dispatch round (zero
    /// copy): the request cannot end before that buffer is released.  Tells O-7's spin (the
    /// daemon's own buffer holds the started request the ring exit waits for) from other ring
    /// exits that never end (B-12's unarmed FETCH), which stop in the same function.
    pub buffer_held: bool,
    /// STOP_DEV ran while the device had never had a disk: its cancel of the fetched cmds
    /// set no `canceling`.  Tells that route to a canceled cmd (Bacik's route 1, O-14) from
    /// O-6's, which end in the same function with the same other facts.
    pub stopped_before_start: bool,
}

/// [`DevState`] with an order and a stable name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DevStateName {
    Dead,
    Live,
    Quiesced,
    FailIo,
}

impl Situation {
    pub fn of(m: &Model, s: &State) -> Situation {
        let d = m.dev_view(s);
        Situation {
            dev: match d.state {
                DevState::Dead => DevStateName::Dead,
                DevState::Live => DevStateName::Live,
                DevState::Quiesced => DevStateName::Quiesced,
                DevState::FailIo => DevStateName::FailIo,
            },
            disk: d.has_disk,
            recovery: d.recovering || d.new_server_open,
            fake_timeout: d.fake_timeout_used,
            server_gone: m.server_gone(s),
            canceling: d.canceling,
            buffer_held: s.nodes.iter().flatten().any(|n| {
                let rq = &s.reqs[n.rq as usize];
                n.round == rq.round && rq.allocated && rq.ended == 0
            }),
            stopped_before_start: d.stopped_unstarted,
        }
    }
}

impl fmt::Display for Situation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.dev)?;
        f.write_str(if self.disk { ", disk" } else { ", no disk" })?;
        if self.recovery {
            f.write_str(", recovering")?;
        }
        if self.fake_timeout {
            f.write_str(", completion dropped by fail_io_timeout")?;
        }
        if self.server_gone {
            f.write_str(", server gone")?;
        }
        if self.canceling {
            f.write_str(", canceling")?;
        }
        if self.buffer_held {
            f.write_str(", buffer held")?;
        }
        if self.stopped_before_start {
            f.write_str(", stopped before start")?;
        }
        Ok(())
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at {}: {} [{}]",
            self.property, self.at, self.what, self.situation
        )
    }
}

/// `text` with every run of digits (and every `0x…` hex number) replaced by `#`.
pub fn mask_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'0' && i + 1 < b.len() && b[i + 1] == b'x' {
            i += 2;
            while i < b.len() && b[i].is_ascii_hexdigit() {
                i += 1;
            }
            out.push('#');
        } else if b[i].is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            out.push('#');
        } else {
            let c = text[i..].chars().next().expect("inside the string");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The kernel function a violation happened in: the step's (state invariants are checked
/// after a step), or the one the inline check names first (`ublk_queue_cmd hands …`).
fn function_of(v: &Violation) -> String {
    if !v.func.is_empty() {
        return v.func.clone();
    }
    v.msg
        .split([' ', ':'])
        .next()
        .filter(|w| w.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()))
        .unwrap_or("?")
        .to_string()
}

impl Signature {
    /// The signature of `v`, broken by actor `a` stepping from state `before`.
    pub fn of_violation(m: &Model, before: &State, _a: ActorId, v: &Violation) -> Signature {
        Signature {
            property: v.inv.to_string(),
            at: function_of(v),
            what: mask_numbers(&v.msg),
            situation: Situation::of(m, before),
        }
    }

    /// The signature of `v`, broken by the last step of `path` (replayed from the initial
    /// state; e.g. a simulated episode).
    pub fn of_path(m: &Model, path: &[Move], v: &Violation) -> Signature {
        let mut s = m.init();
        for &a in &path[..path.len().saturating_sub(1)] {
            let _ = m.step(&mut s, a);
        }
        Signature::of_violation(m, &s, path.last().map_or(0, |mv| mv.actor), v)
    }

    /// The signature of a hang of `prop` on obligation `o`, entered at state `entry`;
    /// `cycle`: the functions of the repeating steps (empty for a dead end).
    pub fn of_hang(
        m: &Model,
        prop: Prop,
        o: Obligation,
        entry: &State,
        cycle: &[&str],
    ) -> Signature {
        let what = match o {
            Obligation::Request(_) => "a request is never ended",
            Obligation::Cmd(_) => "a cmd of an exiting ring is never completed",
            Obligation::Release => "the release work never finishes",
            Obligation::Stop => "STOP_DEV never returns",
        };
        let at = if cycle.is_empty() {
            "dead end".to_string()
        } else {
            let mut f: Vec<&str> = cycle.to_vec();
            f.sort_unstable();
            f.dedup();
            format!("cycle: {}", f.join(", "))
        };
        Signature {
            property: prop.to_string(),
            at,
            what: what.into(),
            situation: Situation::of(m, entry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_masked() {
        assert_eq!(
            mask_numbers("ublk_queue_cmd hands rq0 to cmd c12, slot 1: ref 0x3fffffff"),
            "ublk_queue_cmd hands rq# to cmd c#, slot #: ref #"
        );
        assert_eq!(mask_numbers("S4 — no é 7"), "S# — no é #");
    }
}
