//! Where a model trace needs an interleaving that a sequential program (one user action at a
//! time, the kernel settled between them) cannot force: the user actions' spans in the trace
//! ([`action_spans`]) and the step that needs the interleaving ([`interleaving_point`]).
//! `confirm` names it when a finding is not expressible; `confirm --stress` races the actions
//! there ([`crate::conform::race_plan`]).

use crate::conform::compile;
use crate::conform::oracle;
use std::collections::HashMap;
use ublk_model::state::ActorId;
use ublk_model::{Kind, Model, Outcome};
use ublk_traces::Trace;

/// The user actions of a trace in the order of their first steps: (actor, first step, last
/// step) as positions in `t.steps` — the last step of an action that spans other actors' steps
/// (a FETCH asleep on `ub->mutex`, a bio being dispatched) is where it takes effect.
pub fn action_spans(t: &Trace) -> Result<Vec<(ActorId, usize, usize)>, String> {
    let m = Model::new(&t.header.scenario, t.header.features)?;
    let mut s = m.init();
    let mut acts: Vec<(ActorId, usize, usize)> = Vec::new();
    let mut open: HashMap<ActorId, usize> = HashMap::new();
    for (i, st) in t.steps.iter().enumerate() {
        let a = st.actor_id;
        if a as usize >= m.actors.len() {
            return Err(format!("step {}: no actor {a}", st.i));
        }
        let unasked = oracle::runs_unasked(&m, &s, a);
        if !unasked && (!compile::mid_op(&m, &s, a) || acts.last().map(|x| x.0) != Some(a)) {
            open.insert(a, acts.len());
            acts.push((a, i, i));
        }
        if let Some(&k) = open.get(&a) {
            acts[k].2 = i;
        }
        if !matches!(m.apply(&mut s, a), Ok(Outcome::Stepped(_))) {
            break;
        }
    }
    if acts.is_empty() {
        return Err("the trace has no user action".into());
    }
    Ok(acts)
}

/// Where the trace needs an interleaving a sequential program cannot force: a kernel context
/// stepping while a user thread is inside a system call, a user thread acting while another
/// is inside one, or a user action taken before a kernel context that could run did.
pub fn interleaving_reason(t: &Trace) -> Option<String> {
    interleaving_point(t).map(|x| x.reason)
}

/// Where a trace needs an interleaving (see [`interleaving_reason`]).
pub struct Interleaving {
    /// Position in `t.steps` of the step that needs it.
    pub pos: usize,
    /// The user actor inside a system call while that step runs, if that is the reason.
    pub inside: Option<ActorId>,
    pub reason: String,
}

/// [`interleaving_reason`] with the step it names and the actor inside a system call then.
pub fn interleaving_point(t: &Trace) -> Option<Interleaving> {
    let m = Model::new(&t.header.scenario, t.header.features).ok()?;
    let mut s = m.init();
    let n = m.actors.len() as u8;
    let user = |s: &ublk_model::State, a: u8| !oracle::runs_unasked(&m, s, a);
    for (pos, st) in t.steps.iter().enumerate() {
        let a = st.actor_id;
        if a >= n {
            return None;
        }
        let inside: Vec<u8> = (0..n)
            .filter(|&u| u != a && user(&s, u) && compile::mid_op(&m, &s, u))
            .filter(|&u| !matches!(m.actors[u as usize].kind, Kind::Submitter { .. }))
            .collect();
        if let Some(&u) = inside.first() {
            let who = if user(&s, a) {
                format!("user thread {}", st.actor)
            } else if matches!(m.actors[a as usize].kind, Kind::Submitter { .. }) {
                // a bio being dispatched goes on without its submitter (oracle::runs_unasked)
                format!("the block layer, dispatching {}'s bio,", st.actor)
            } else {
                format!("kernel context {}", st.actor)
            };
            return Some(Interleaving {
                pos,
                inside: Some(u),
                reason: format!(
                    "trace step {}: {who} ({}) runs while {} is inside a system call, which a \
                     program cannot pause there",
                    st.i, st.func, m.actors[u as usize].name
                ),
            });
        }
        if user(&s, a) && !compile::mid_op(&m, &s, a) {
            let ready = (0..n).find(|&k| {
                oracle::is_kernel_actor(&m, k) && {
                    let mut x = s.clone();
                    matches!(m.apply(&mut x, k), Ok(Outcome::Stepped(_)))
                }
            });
            if let Some(k) = ready {
                return Some(Interleaving {
                    pos,
                    inside: None,
                    reason: format!(
                        "trace step {}: {} acts ({}) before kernel context {} runs, which the \
                         kernel does at once and user space cannot hold back",
                        st.i, st.actor, st.func, m.actors[k as usize].name
                    ),
                });
            }
        }
        if !matches!(m.apply(&mut s, a), Ok(Outcome::Stepped(_))) {
            return None;
        }
    }
    None
}
