//! Shrinking a divergent random program, the kind of a divergence (its signature without step
//! numbers) and the perturbation hook that makes the model wrong on purpose: the runner's side
//! of [`crate::conform::generate`].

use crate::conform::compile::*;
use crate::conform::oracle::{self, Observed};
use ublk_model::state::ActorId;
use ublk_model::{ActorSpec, Features, Kind, Model, Outcome};
use ublk_program::*;

/// Programs one operation smaller than `mp` that are still valid (no block, no violation):
/// drop one server or control op (and its action), or one bio (both its actions).
pub fn shrink_candidates(mp: &ModelProgram, feat: Features) -> Vec<ModelProgram> {
    let Ok(m) = Model::new(&mp.scenario, feat) else {
        return vec![];
    };
    // which (spec actor, op index) each action starts, from a sequential run
    let spec_of_actor = crate::conform::compile::actor_specs(&mp.scenario);
    let mut s = m.init();
    let mut dummy = Vec::new();
    let _ = settle(&m, &mut s, &mut dummy);
    // (spec idx, op idx) -> actions
    let mut groups: Vec<((usize, usize), Vec<usize>)> = Vec::new();
    for (i, &a) in mp.order.iter().enumerate() {
        let st = &s.actors[a as usize];
        let key = match &m.actors[a as usize].kind {
            Kind::Server { .. } | Kind::Control { .. } if !st.in_kernel() => {
                Some((spec_of_actor[a as usize], st.next_op as usize))
            }
            Kind::Submitter { .. } => Some((spec_of_actor[a as usize], st.next_op as usize)),
            _ => None,
        };
        if let Some(k) = key {
            match groups.iter_mut().find(|(g, _)| *g == k) {
                Some((_, v)) => v.push(i),
                None => groups.push((k, vec![i])),
            }
        }
        while let Ok(Outcome::Stepped(info)) = m.apply(&mut s, a) {
            if settle(&m, &mut s, &mut dummy).is_err() {
                break;
            }
            if info.result.is_some() || !mid_op(&m, &s, a) {
                break;
            }
        }
    }
    let mut out = Vec::new();
    for ((spec, op), actions) in groups.iter().rev() {
        let mut sc = mp.scenario.clone();
        match &mut sc.actors[*spec] {
            ActorSpec::Server { prog, .. } | ActorSpec::RecoveryServer { prog, .. }
                if *op < prog.len() =>
            {
                prog.remove(*op);
            }
            ActorSpec::Control { prog } if *op < prog.len() => {
                prog.remove(*op);
            }
            ActorSpec::Submitter { bios, .. } if *op < bios.len() => {
                bios.remove(*op);
            }
            _ => continue,
        }
        let order: Vec<ActorId> = mp
            .order
            .iter()
            .enumerate()
            .filter(|(i, _)| !actions.contains(i))
            .map(|(_, &a)| a)
            .collect();
        let valid = oracle::oracle_model(&sc, feat)
            .and_then(|m| oracle::predict(&m, &order))
            .map(|p| {
                p.violation.is_none() && !p.steps.iter().any(|s| s.observed == Observed::Blocks)
            })
            .unwrap_or(false);
        if valid {
            out.push(ModelProgram {
                id: format!("{}-", mp.id),
                scenario: sc,
                order,
            });
        }
    }
    for (k, c) in out.iter_mut().enumerate() {
        c.id = format!("{}.{k}", mp.id);
    }
    out
}

/// The kind of a divergence without its step numbers: what diverged and how.
pub fn signature(p: &Program, v: &Verdict) -> Option<String> {
    match v {
        Verdict::Diverges {
            step,
            what,
            expected,
            got,
        } => {
            let what: String = what
                .split(" (")
                .next()
                .unwrap_or(what)
                .chars()
                .filter(|c| !c.is_ascii_digit())
                .collect();
            let act = p.steps.get(*step).map(|s| s.act.name()).unwrap_or_default();
            let act: String = act.chars().filter(|c| !c.is_ascii_digit()).collect();
            Some(format!("{act} / {what}: expected {expected}, got {got}"))
        }
        Verdict::Hang {
            predicted: false,
            what,
            ..
        } => Some(format!(
            "hang: {}",
            what.chars()
                .filter(|c| !c.is_ascii_digit())
                .collect::<String>()
        )),
        _ => None,
    }
}

/// Change the expectation of step `step` the way a wrong errno in the model would: a result
/// becomes another errno. Returns false if that step has no result to perturb.
pub fn perturb(p: &mut Program, step: usize) -> bool {
    match p.steps.get_mut(step).map(|s| &mut s.expect) {
        Some(Expect::Done(Some(r))) => {
            *r = if *r == -22 { -16 } else { -22 };
            true
        }
        _ => false,
    }
}
