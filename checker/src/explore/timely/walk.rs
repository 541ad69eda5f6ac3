//! After the exploration: every worker's totals to worker 0, and the counterexample's path
//! rebuilt by walking the parent links from the violating state back to the initial one,
//! each hop at the owner of the state it reaches (a loop in a second small dataflow).

use super::{owner, un_mv, Fp, Local, Mv, Totals};
use crate::explore::bfs::Stop;
use ::timely::container::CapacityContainerBuilder;
use ::timely::dataflow::channels::pact::Exchange;
use ::timely::dataflow::operators::generic::operator::Operator;
use ::timely::dataflow::operators::{
    Concat, ConnectLoop, Exchange as _, Feedback, Input, Inspect, Probe,
};
use ::timely::dataflow::{InputHandle, ProbeHandle};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::rc::Rc;
use ublk_model::Move;

/// The parent walk: at `at` with the moves after it (last first); `done`: to worker 0.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Walk {
    at: Fp,
    rev: Vec<Mv>,
    done: bool,
}

/// After the exploration: totals to worker 0, and the parent walk from the chosen
/// violation back to the initial state. Worker 0 returns (every worker's totals, the path).
#[allow(clippy::type_complexity)]
pub(super) fn finish(
    worker: &mut ::timely::worker::Worker,
    local: &Rc<RefCell<Local>>,
    index: u32,
) -> Option<(Vec<Totals>, Option<Vec<Move>>)> {
    let totals = Rc::new(RefCell::new(Vec::new()));
    let path: Rc<RefCell<Option<Vec<Move>>>> = Rc::new(RefCell::new(None));
    let mut tin = InputHandle::<u32, CapacityContainerBuilder<Vec<Totals>>>::new();
    let mut win = InputHandle::<u32, CapacityContainerBuilder<Vec<Walk>>>::new();
    let probe = ProbeHandle::new();
    {
        let (totals, path, local) = (Rc::clone(&totals), Rc::clone(&path), Rc::clone(local));
        worker.dataflow::<u32, _, _>(|scope| {
            scope
                .input_from(&mut tin)
                .exchange(|_| 0)
                .inspect(move |t: &Totals| totals.borrow_mut().push(t.clone()))
                .probe_with(&probe);
            let (handle, cycle) = scope.feedback(1u32);
            let route = |w: &Walk| if w.done { 0 } else { owner(w.at) };
            scope
                .input_from(&mut win)
                .concat(cycle)
                .unary(Exchange::new(route), "Walk", move |_, _| {
                    move |input, output| {
                        input.for_each_stamp(|cap, data| {
                            let mut session = output.session(&cap);
                            for d in data {
                                for mut w in d.drain(..) {
                                    if w.done {
                                        w.rev.reverse();
                                        *path.borrow_mut() =
                                            Some(w.rev.into_iter().map(un_mv).collect());
                                        continue;
                                    }
                                    let l = local.borrow();
                                    let &(parent, how) = l
                                        .parent
                                        .get(&w.at)
                                        .expect("a parent link for every owned state");
                                    if parent == w.at {
                                        w.done = true;
                                    } else {
                                        w.rev.push(how);
                                        w.at = parent;
                                    }
                                    session.give(w);
                                }
                            }
                        });
                    }
                })
                .probe_with(&probe)
                .connect_loop(handle);
        });
    }
    {
        let l = local.borrow();
        tin.send(Totals {
            worker: index,
            states: l.parent.len() as u64,
            transitions: l.transitions,
            stuck: l.stuck,
            max_depth: l.max_depth,
            limit: match l.limit {
                Some(Stop::StateLimit) => 1,
                Some(Stop::TimeLimit) => 2,
                _ => 0,
            },
        });
        // every worker heard of every violation; worker 0 starts the walk from the least
        if index == 0 {
            if let Some(&(_, _, at, how)) = l.halts.iter().min() {
                win.send(Walk {
                    at,
                    rev: vec![how],
                    done: false,
                });
            }
        }
    }
    drop(tin);
    drop(win);
    while !probe.done() {
        worker.step_or_park(None);
    }
    let p = path.borrow_mut().take();
    (index == 0).then(|| (std::mem::take(&mut *totals.borrow_mut()), p))
}
