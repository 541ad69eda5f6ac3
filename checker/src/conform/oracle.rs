//! The model as an oracle for *sequential* programs on a real kernel.
//!
//! A sequential program is a scenario plus an order of *user actions*: each
//! action names a user actor (server thread, submitter, control task,
//! SIGKILL, fd holder, elevator) and means "let this actor do its next
//! operation".  Between actions the kernel's own contexts (task work, ring
//! exit, fixed-buffer completion, requeue work, release work) run until
//! nothing more can happen — on a real machine they run promptly and on
//! their own.  The oracle returns what user space must observe for each
//! action: a result, "kept by the driver" (a uring_cmd that stays queued, a
//! bio that is in flight), or "blocks" (the operation cannot finish: a
//! replay must see it time out).

pub use crate::conform::choice::Chooser;
use crate::explore::bfs::fingerprint;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use ublk_model::state::{ActorId, CmdSt, Resume};
use ublk_model::{Func, Kind, Model, Outcome, State, Violation};

/// What one user action is predicted to show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Observed {
    /// Finished with this result (cmd result, CQE res, bio status, control
    /// command result); `None` for steps without a result (exit, close).
    Done(Option<i32>),
    /// Issued and kept: a uring_cmd queued in the driver, a bio in flight.
    Pending,
    /// Cannot proceed even after the kernel settled: a hang at this action.
    Blocks,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Predicted {
    pub actor: String,
    /// The kernel functions the action went through, in order.
    pub funcs: Vec<Func>,
    pub observed: Observed,
}

/// The oracle's answer for a whole program.
#[derive(Clone, Debug, Serialize)]
pub struct Prediction {
    pub steps: Vec<Predicted>,
    /// The model broke an invariant during the program (the program
    /// exercises a bug of this kernel version).
    pub violation: Option<Violation>,
}

/// Is `a` one of the kernel's own contexts (run to quiescence between actions)?
pub fn is_kernel_actor(m: &Model, a: ActorId) -> bool {
    m.actors[a as usize].kind.is_kernel()
}

/// Does `a` move without a user action: one of the kernel's own contexts, a server thread
/// asleep inside its io_uring_enter in `ublk_fetch` (waiting for `ub->mutex`), which goes on
/// as soon as the mutex is free, not when user space next acts; or an elevator switch inside
/// its write to `queue/scheduler`, which finishes as soon as the frozen queue has no request;
/// or the control task inside a control command (STOP_DEV asleep in `del_gendisk` goes on as
/// soon as the request it waits for ends — and ends others on its way — not when user space
/// next looks at it: seed 20261212 of the 7.2 run, five programs where a recovered server's
/// exit let STOP_DEV's `force_abort` end a reissued READ with -EIO before the control wait);
/// or a bio being dispatched (its request allocated, `ublk_queue_rq` not yet done): held by a
/// quiesced queue, blk-mq dispatches it from whoever unquiesces the queue (END_USER_RECOVERY
/// runs the hw queues), not from the submitter — seed 20261212 of the 6.12 run, s20261212-11:
/// a WRITE issued during a recovery reached the new server's FETCH at END_USER_RECOVERY,
/// where the oracle waited for the submitter's next action.
pub fn runs_unasked(m: &Model, s: &State, a: ActorId) -> bool {
    let (kind, st) = (&m.actors[a as usize].kind, &s.actors[a as usize]);
    is_kernel_actor(m, a)
        || (matches!(kind, Kind::Server { .. }) && matches!(st.at, Resume::Fetch))
        || (matches!(kind, Kind::Elevator) && matches!(st.at, Resume::ElevatorFrozen))
        || (matches!(kind, Kind::Control { .. }) && st.in_kernel())
        || (matches!(kind, Kind::Submitter { .. }) && st.bio_dispatching())
}

/// At most this many kernel steps in one settle (a guard: the fair schedule below ends on its
/// own, since every repeated state either gives a starved actor a step or stops).
const SETTLE_GUARD: usize = 100_000;

/// Run kernel actors until none can move, or they only cycle (a ring exit retrying a cancel
/// that cannot succeed).  `on_step` sees every step.
///
/// The schedule is fair, as liveness assumes: the lowest-id actor that can move steps, and
/// when that leads back to a state already seen in this settle (a cycle), an actor that can
/// move but did not move in the cycle gets a step (the lowest id first), so a spinning actor
/// does not starve the others (6.12's ring exit looping on `ublk_uring_cmd_cancel_fn` while
/// the requeue work waits to end the request STOP_DEV kicked).  The settle stops at a repeated
/// state only when every actor that can move moved in the cycle: a true busy loop.  Without a
/// cycle the order is the lowest-id-first order of the unfair schedule.
pub(crate) fn settle_with(
    m: &Model,
    s: &mut State,
    ch: &mut Chooser,
    mut on_step: impl FnMut(ActorId, &ublk_model::StepInfo),
) -> Result<(), Violation> {
    // position in `moved` of each state's last visit; the actor of each step
    let mut seen: HashMap<u128, usize> = HashMap::new();
    let mut moved: Vec<ActorId> = Vec::new();
    let mut try_step = |s: &mut State,
                        a: ActorId,
                        moved: &mut Vec<ActorId>,
                        ch: &mut Chooser|
     -> Result<bool, Violation> {
        if !runs_unasked(m, s, a) || !m.may_step(s, a) {
            return Ok(false);
        }
        match ch.apply(m, s, a)? {
            Outcome::Stepped(info) => {
                on_step(a, &info);
                moved.push(a);
                Ok(true)
            }
            Outcome::Blocked => Ok(false),
        }
    };
    while moved.len() < SETTLE_GUARD {
        let fp = fingerprint(s);
        let n = m.actors.len() as ActorId;
        let stepped = match seen.insert(fp, moved.len()) {
            None => {
                let mut stepped = false;
                for a in 0..n {
                    if try_step(s, a, &mut moved, ch)? {
                        stepped = true;
                        break;
                    }
                }
                stepped
            }
            Some(start) => {
                // a cycle (since the state's last visit): give a turn to an actor that did
                // not move in it
                let in_cycle: HashSet<ActorId> = moved[start..].iter().copied().collect();
                let mut stepped = false;
                for a in (0..n).filter(|a| !in_cycle.contains(a)) {
                    if try_step(s, a, &mut moved, ch)? {
                        stepped = true;
                        break;
                    }
                }
                stepped
            }
        };
        if !stepped {
            return Ok(()); // quiescent, or a busy loop of every actor that can move
        }
    }
    Ok(())
}

/// [`settle_with`], collecting the functions run.
fn settle(m: &Model, s: &mut State, ch: &mut Chooser) -> Result<Vec<Func>, Violation> {
    let mut funcs = Vec::new();
    settle_with(m, s, ch, |_, info| funcs.push(info.func))?;
    Ok(funcs)
}

/// [`settle`], and the last result actor `a` returned on the way (a control command that
/// went on unasked within its own action and returned).
fn settle_for(
    m: &Model,
    s: &mut State,
    ch: &mut Chooser,
    a: ActorId,
) -> Result<(Vec<Func>, Option<i32>), Violation> {
    let (mut funcs, mut result) = (Vec::new(), None);
    settle_with(m, s, ch, |b, info| {
        funcs.push(info.func);
        if b == a {
            result = info.result.or(result);
        }
    })?;
    Ok((funcs, result))
}

/// Is actor `a` in the middle of an operation (a split kernel path, a bio
/// being dispatched, a control command past its first step)?
fn mid_op(m: &Model, s: &State, a: ActorId) -> bool {
    let st = &s.actors[a as usize];
    match m.actors[a as usize].kind {
        Kind::Submitter { .. } => st.bio_dispatching(),
        _ => st.in_kernel(),
    }
}

/// The model of `sc` as the oracle runs it: any free driver tag is a choice (see
/// [`crate::conform::choice`]), even where a server thread serves two tags of a queue — the
/// explorer turns that off (a program waiting for one tag would hang when the request took
/// the other); the oracle follows the kernel instead.
pub fn oracle_model(
    sc: &ublk_model::Scenario,
    feat: ublk_model::Features,
) -> Result<Model, String> {
    let mut m = Model::new(sc, feat)?;
    m.any_tag = true;
    Ok(m)
}

/// Predict the observations of the program `order` (user actors only), each driver tag the
/// one blk-mq gives in a sequential run.
pub fn predict(m: &Model, order: &[ActorId]) -> Result<Prediction, String> {
    predict_with(m, order, &mut Chooser::default())
}

/// [`predict`] with the tag choices of `ch`.
pub fn predict_with(m: &Model, order: &[ActorId], ch: &mut Chooser) -> Result<Prediction, String> {
    let mut steps = Vec::new();
    let mut s = match start(m, ch) {
        Ok(s) => s,
        Err(v) => {
            return Ok(Prediction {
                steps,
                violation: Some(v),
            })
        }
    };
    for (i, &a) in order.iter().enumerate() {
        let (p, v) = act(m, &mut s, ch, i, a)?;
        steps.push(p);
        if v.is_some() {
            return Ok(Prediction {
                steps,
                violation: v,
            });
        }
    }
    Ok(Prediction {
        steps,
        violation: None,
    })
}

/// The initial state of a sequential run: the kernel settled before the first action.
pub(crate) fn start(m: &Model, ch: &mut Chooser) -> Result<State, Violation> {
    let mut s = m.init();
    settle(m, &mut s, ch)?;
    ch.end_action(m, &s);
    Ok(s)
}

/// User action `i` of a sequential run: actor `a`'s next operation, then the kernel settled.
/// Returns what user space sees and the invariant the model broke on the way, if any (the run
/// ends there). `Err`: `a` is not a user actor.
pub(crate) fn act(
    m: &Model,
    s: &mut State,
    ch: &mut Chooser,
    i: usize,
    a: ActorId,
) -> Result<(Predicted, Option<Violation>), String> {
    ch.start_action(i);
    if a as usize >= m.actors.len() || is_kernel_actor(m, a) {
        return Err(format!(
            "action {i}: actor {a} is not a user actor of this scenario"
        ));
    }
    let name = m.actors[a as usize].name.clone();
    let issued = issued_cmd(m, s, a);
    let mut funcs = Vec::new();
    let mut result = None;
    let mut stepped = false;
    // the run ends at a broken invariant: what the action showed up to there
    let broke = |funcs, observed, v| {
        let p = Predicted {
            actor: m.actors[a as usize].name.clone(),
            funcs,
            observed,
        };
        Ok((p, Some(v)))
    };
    let observed = loop {
        match ch.apply(m, s, a) {
            Err(v) => return broke(funcs, Observed::Done(None), v),
            Ok(Outcome::Stepped(info)) => {
                stepped = true;
                funcs.push(info.func);
                result = info.result.or(result);
                match settle_for(m, s, ch, a) {
                    Ok((f, r)) => {
                        funcs.extend(f);
                        result = r.or(result);
                    }
                    Err(v) => return broke(funcs, Observed::Done(result), v),
                }
                if result.is_some() || !mid_op(m, s, a) {
                    let submitted_bio = matches!(m.actors[a as usize].kind, Kind::Submitter { .. })
                        && s.actors[a as usize].bio_waiting();
                    let kept_cmd = result.is_none() && is_kept_cmd(m, s, a);
                    let st = &s.actors[a as usize];
                    if submitted_bio && st.bio_ended(&s.reqs) {
                        // ended within its own submission (ublk_queue_rq failed it, e.g.
                        // BLK_STS_TARGET under FAIL_IO): the pread/pwrite returns at
                        // once, so "pending" would race it; the result is fixed
                        break Observed::Done(Some(st.res));
                    }
                    break if submitted_bio || kept_cmd {
                        Observed::Pending
                    } else {
                        Observed::Done(result)
                    };
                }
            }
            Ok(Outcome::Blocked) => {
                // the kernel already settled after the last step: nothing will change
                break if stepped {
                    Observed::Pending
                } else {
                    Observed::Blocks
                };
            }
        }
    };
    // a command kept by the driver but completed before the action is
    // over (e.g. a COMMIT whose request was requeued and re-dispatched to
    // the new cmd): user space sees its CQE
    let observed = match (observed, issued.map(|c| s.cmds[c as usize].st)) {
        (Observed::Done(None), Some(CmdSt::Done(res))) => Observed::Done(Some(res)),
        (o, _) => o,
    };
    ch.end_action(m, s);
    Ok((
        Predicted {
            actor: name,
            funcs,
            observed,
        },
        None,
    ))
}

/// The uring_cmd the server actor's next operation issues, if any.
fn issued_cmd(m: &Model, s: &State, a: ActorId) -> Option<ublk_model::state::CmdId> {
    let Kind::Server { prog, .. } = &m.actors[a as usize].kind else {
        return None;
    };
    match prog.get(s.actors[a as usize].next_op as usize)? {
        (ublk_model::Op::WaitCqe { .. }, _) => None,
        (_, c) => *c,
    }
}

/// Did the server action just leave a uring_cmd queued in the driver?
fn is_kept_cmd(m: &Model, s: &State, a: ActorId) -> bool {
    let Kind::Server { prog, .. } = &m.actors[a as usize].kind else {
        return false;
    };
    let st = &s.actors[a as usize];
    let pc = st.next_op as usize;
    // an exit (process or thread) does not advance pc: it keeps nothing
    let exited = matches!(
        prog.get(pc).map(|o| &o.0),
        Some(ublk_model::Op::Exit | ublk_model::Op::ThreadExit)
    ) && st.done;
    !exited
        && pc > 0
        && prog[pc - 1].1.is_some_and(|c| {
            !matches!(prog[pc - 1].0, ublk_model::Op::WaitCqe { .. })
                && s.cmds[c as usize].st == ublk_model::state::CmdSt::Pending
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios;
    use ublk_model::Preset;

    fn actor(m: &Model, name: &str) -> ActorId {
        m.actor_id(name).unwrap()
    }

    #[test]
    fn daemon_zc_sequential_program() {
        let m = Model::new(
            &scenarios::by_name("daemon-zc").unwrap(),
            Preset::K72.features(),
        )
        .unwrap();
        let (d, c, b) = (
            actor(&m, "daemon"),
            actor(&m, "control"),
            actor(&m, "submitter0"),
        );
        // FETCH, START_DEV, submit a read, wait for it, REGISTER, UNREGISTER,
        // COMMIT, the read completes, STOP_DEV, the re-armed FETCH is aborted
        let order = [d, c, b, d, d, d, d, b, c, d, d];
        let p = predict(&m, &order).unwrap();
        assert!(p.violation.is_none());
        let obs: Vec<_> = p.steps.iter().map(|s| s.observed.clone()).collect();
        use Observed::*;
        assert_eq!(
            obs,
            vec![
                Pending,
                Done(Some(0)),
                Pending,
                Done(Some(0)),
                Done(Some(0)),
                Done(Some(0)),
                Pending,
                Done(Some(0)),
                Done(Some(0)),
                Done(Some(-19)),
                Done(None)
            ]
        );
    }

    #[test]
    fn a_wait_that_cannot_finish_blocks() {
        let m = Model::new(
            &scenarios::by_name("daemon-zc").unwrap(),
            Preset::K72.features(),
        )
        .unwrap();
        let d = actor(&m, "daemon");
        // FETCH, then wait for a CQE no request will ever produce
        let p = predict(&m, &[d, d]).unwrap();
        assert_eq!(p.steps[1].observed, Observed::Blocks);
    }

    #[test]
    fn the_oracle_sees_a_seeded_bug() {
        let f = Preset::K72.features().without(ublk_model::Sw::FixB12);
        let m = Model::new(&scenarios::by_name("fetch-without-buffer").unwrap(), f).unwrap();
        let p = predict(&m, &[actor(&m, "daemon")]).unwrap();
        assert_eq!(p.violation.unwrap().inv, ublk_model::Inv::S5);
    }
}
