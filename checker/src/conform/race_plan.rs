//! `ublksim confirm --stress`: a finding that needs two system calls inside the kernel at once
//! (a race inside one kernel function, which no sequential program reaches) as a *racing
//! program*: the trace's user actions in trace order, the two that race issued together from
//! pinned threads at one instant (`Step::race_us`, see `realdev/src/race.rs`), run many times
//! with the second racer's offset swept across runs ([`skew_us`]), and the hit rate reported.
//!
//! The model cannot predict which way a real race goes, so the program carries the sequential
//! prediction (the trace's order of the two calls) and the symptom says what else counts: a
//! run reproduces the finding when the kernel log shows an oops, or when the racing calls
//! return what *no* sequential order of them returns ([`judge_race`]) — the user-visible
//! proof that the two calls interleaved inside the kernel, as the finding's trace does. A run
//! whose racing calls return what one order returns lost the race, whichever order it was.

use crate::conform::compile::{self, ModelProgram};
use crate::conform::confirm::{self, Finding, Symptom};
use crate::conform::confirm_log::RunOutcome;
use ublk_model::state::ActorId;
use ublk_program::{judge, show_expect, show_got, Expect, Got, Program, RunResult, Verdict};
use ublk_traces::Trace;

/// The racing pair of a trace, as positions in its user actions (trace order, see
/// [`confirm::action_spans`]), where the trace needs an interleaving
/// ([`confirm::interleaving_point`]): the action of the thread inside a system call there and
/// the action whose step (or whose bio's dispatch) runs meanwhile; or the action acting before
/// a kernel context runs and the action before it (which started that context); without such
/// a point, two actions inside the kernel at once in the trace (the second starts before the
/// first's last step).
pub fn racing_pair(t: &Trace) -> Result<(usize, usize), String> {
    let acts = confirm::action_spans(t)?;
    if let Some(il) = confirm::interleaving_point(t) {
        let pos = il.pos;
        let runner = t.steps[pos].actor_id;
        // the action of `actor` under way at `pos` (started at or before it)
        let under_way = |actor: ActorId| {
            (0..acts.len())
                .rev()
                .find(|&k| acts[k].0 == actor && acts[k].1 <= pos)
        };
        if let Some(u) = il.inside {
            let x = under_way(u).ok_or("no action of the thread inside the system call")?;
            let y = under_way(runner)
                .filter(|&y| y != x)
                // a kernel context: the last other action started before it
                .or_else(|| (0..acts.len()).rev().find(|&k| k != x && acts[k].1 < pos))
                .ok_or("nothing races the system call")?;
            return Ok((x.min(y), x.max(y)));
        }
        let j = acts
            .iter()
            .position(|a| a.1 >= pos)
            .ok_or("the trace needs its interleaving after its last user action")?;
        if j == 0 {
            return Err("the trace needs its interleaving before its second user action".into());
        }
        return Ok((j - 1, j));
    }
    for y in 1..acts.len() {
        if let Some(x) = (0..y).find(|&x| acts[y].1 < acts[x].2) {
            return Ok((x, y));
        }
    }
    Err("no two user actions of the trace overlap".into())
}

/// The racing program of finding `f` and its symptom, or why there is none.
pub fn race_plan(f: &Finding) -> Result<(Program, Symptom), String> {
    let t = &f.trace;
    let acts = confirm::action_spans(t)?;
    let (x, y) = racing_pair(t)?;
    // the trace's order with the second racer moved right after the first
    let mut order: Vec<ActorId> = acts.iter().map(|a| a.0).collect();
    let second = order.remove(y);
    order.insert(x + 1, second);
    let compiled = |order: &[ActorId]| {
        compile::compile(
            &ModelProgram {
                id: f.name.clone(),
                scenario: t.header.scenario.clone(),
                order: order.to_vec(),
            },
            t.header.features,
        )
    };
    let c = compiled(&order)?;
    if let Some(v) = &c.prediction.violation {
        return Err(format!(
            "the sequential run of the racing order breaks {} itself",
            v.inv
        ));
    }
    if c.program.steps.len() != order.len() {
        return Err("the racing order is not a program of the scenario".into());
    }
    let mut program = c.program;
    program.id = f.name.clone();
    if let Some(s) = [x, x + 1]
        .iter()
        .map(|&k| &program.steps[k])
        .find(|s| s.act.is_wait())
    {
        return Err(format!(
            "the racing pair includes a wait ({}), which is not a system call to issue",
            s.act.name()
        ));
    }
    program.steps[x + 1].race_us = Some(0);
    // the other order of the two: what a run that lost the race the other way returns
    let mut other = order.clone();
    other.swap(x, x + 1);
    let swapped = compiled(&other).ok().and_then(|c| {
        let s = &c.program.steps;
        (s.len() > x + 1).then(|| vec![s[x + 1].expect.clone(), s[x].expect.clone()])
    });
    let inv = t
        .outcome
        .as_ref()
        .and_then(|o| o.violation.as_ref())
        .map(|v| v.invariant.to_string())
        .unwrap_or_else(|| f.what.clone());
    let what = format!(
        "{} ‖ {}",
        program.steps[x].act.name(),
        program.steps[x + 1].act.name()
    );
    Ok((
        program,
        Symptom::Race {
            steps: vec![x, x + 1],
            what,
            inv,
            swapped,
        },
    ))
}

/// A racing program's outcomes once its sequential control (run 0) is known: if the control
/// did not conform, the model's prediction of the racing order is wrong, so a race's results
/// that no *predicted* order gives are no evidence — only an oops in the kernel log still is.
pub fn discount(outcomes: Vec<RunOutcome>) -> Vec<RunOutcome> {
    let diverged = outcomes.iter().any(|o| {
        let t = o.text();
        t.starts_with("sequential control: ") && !t.starts_with("sequential control: conforms")
    });
    if !diverged {
        return outcomes;
    }
    outcomes
        .into_iter()
        .map(|o| match o {
            RunOutcome::Reproduced(e) if !e.starts_with("kernel: ") => RunOutcome::NotReproduced(
                format!("{e} — no evidence: the sequential control diverged"),
            ),
            o => o,
        })
        .collect()
}

/// The racing offset of run `r` in microseconds: 0 first, then either racer ahead by
/// growing amounts — the windows differ by finding (nanoseconds between a check and a fill,
/// milliseconds of a kworker), so each run tries another.
pub fn skew_us(r: u64) -> i32 {
    const SWEEP: [i32; 13] = [
        0, 3, -3, 10, -10, 30, -30, 100, -100, 300, -300, 1000, -1000,
    ];
    SWEEP[(r % SWEEP.len() as u64) as usize]
}

/// Judge a run of a racing program (no oops in its kernel log): reproduced when the racing
/// steps got what no sequential order of them gives; otherwise which order it lost in.
pub fn judge_race(
    p: &Program,
    steps: &[usize],
    swapped: Option<&[Expect]>,
    r: &RunResult,
    also: &str,
) -> RunOutcome {
    if p.steps.iter().all(|s| s.race_us.is_none()) {
        // the sequential control (run 0, [`confirm::run_copy`])
        return RunOutcome::NotReproduced(match &r.verdict {
            Verdict::Conforms
            | Verdict::Hang {
                predicted: true, ..
            } => format!("sequential control: conforms ({}){also}", r.verdict_text),
            _ => format!(
                "sequential control: {} — the model's prediction of the racing order is wrong \
                 or the kernel was not settled; races of this program are not evidence{also}",
                r.verdict_text
            ),
        });
    }
    let got: Vec<&Got> = steps.iter().filter_map(|&k| r.got.get(k)).collect();
    if got.len() < steps.len() {
        return RunOutcome::NotReproduced(format!(
            "the run ended before the racing steps: {}{also}",
            r.verdict_text
        ));
    }
    if let Some(e) = got.iter().find_map(|g| match g {
        Got::Error(e) => Some(e),
        _ => None,
    }) {
        return RunOutcome::NotReproduced(format!("executor error at a racing step: {e}{also}"));
    }
    // a racing step is observed with the program's (the trace order's) expectation: one
    // expected to complete that did not within the step timeout is a command still queued,
    // which is what the other order's "pending" means
    let fits = |want: &[Expect]| {
        steps.iter().zip(want).zip(&got).all(|((&k, e), g)| {
            matches!((e, g), (Expect::Pending, Got::Hang)) || judge(k, "", e, g).is_none()
        })
    };
    let in_order: Vec<Expect> = steps.iter().map(|&k| p.steps[k].expect.clone()).collect();
    let show = |v: &[Expect]| v.iter().map(show_expect).collect::<Vec<_>>().join(", ");
    if fits(&in_order) {
        return RunOutcome::NotReproduced(format!(
            "lost the race: the racing steps returned as in the trace's order ({}); {}{also}",
            show(&in_order),
            r.verdict_text
        ));
    }
    if let Some(sw) = swapped.filter(|sw| fits(sw)) {
        return RunOutcome::NotReproduced(format!(
            "lost the race the other way: the racing steps returned as in the swapped order ({}){also}",
            show(sw)
        ));
    }
    let names: Vec<String> = steps.iter().map(|&k| p.steps[k].act.name()).collect();
    let seen: Vec<String> = got.iter().map(|g| show_got(g)).collect();
    RunOutcome::Reproduced(format!(
        "steps {} ({}) returned {}, which no sequential order gives (trace order: {}; swapped: {}){also}",
        steps
            .iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(" and "),
        names.join(" ‖ "),
        seen.join(", "),
        show(&in_order),
        swapped.map_or("not a program".into(), show),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conform::confirm::{collect, Plan};
    use ublk_model::Preset;

    fn b5() -> Finding {
        collect(Preset::K612, &["small-concurrent-fetch".into()])
            .unwrap()
            .into_iter()
            .next()
            .expect("B-5 is a finding of K612")
    }

    #[test]
    fn b5_races_the_two_fetches_of_one_slot() {
        let f = b5();
        // no sequential program shows it
        assert!(matches!(confirm::plan(&f), Plan::NotExpressible(_)));
        let (p, sym) = race_plan(&f).unwrap();
        let Symptom::Race { steps, swapped, .. } = &sym else {
            panic!("{sym:?}")
        };
        assert_eq!(steps, &vec![0, 1]);
        assert_eq!(p.steps[1].race_us, Some(0));
        assert_ne!(p.steps[0].thread, p.steps[1].thread);
        // in order: the first FETCH is kept, the second finds the slot ACTIVE (-EBUSY);
        // swapped: the other way round
        assert_eq!(p.steps[0].expect, Expect::Pending);
        assert_eq!(p.steps[1].expect, Expect::Done(Some(-16)));
        assert_eq!(
            swapped.as_deref(),
            Some(&[Expect::Done(Some(-16)), Expect::Pending][..])
        );
    }

    fn run(got: Vec<Got>) -> RunResult {
        RunResult {
            id: "r".into(),
            verdict: Verdict::Conforms,
            verdict_text: "conforms".into(),
            got,
            followed: vec![],
            ms: 0.0,
        }
    }

    #[test]
    fn only_results_no_order_gives_reproduce() {
        let (p, sym) = race_plan(&b5()).unwrap();
        let Symptom::Race { steps, swapped, .. } = sym else {
            unreachable!()
        };
        let p = confirm::run_copy(&p, 1);
        let j = |g: Vec<Got>| judge_race(&p, &steps, swapped.as_deref(), &run(g), "");
        let lost = j(vec![Got::Pending, Got::Done(Some(-16))]);
        assert!(lost.text().starts_with("lost the race:"), "{lost:?}");
        let other = j(vec![Got::Done(Some(-16)), Got::Pending]);
        assert!(
            other.text().starts_with("lost the race the other way"),
            "{other:?}"
        );
        // both FETCHes kept: one slot took two commands (B-5); the second observed with the
        // trace order's -EBUSY in mind times out (Hang): still kept
        let both = j(vec![Got::Pending, Got::Pending]);
        assert!(both.is_reproduced(), "{both:?}");
        assert!(j(vec![Got::Pending, Got::Hang]).is_reproduced());
        // the first refused, the second not completed: the swapped order, lost
        let swapped = j(vec![Got::Done(Some(-16)), Got::Hang]);
        assert!(
            swapped.text().starts_with("lost the race the other way"),
            "{swapped:?}"
        );
        // a control that diverged voids every race's non-kernel evidence
        let control = RunOutcome::NotReproduced("sequential control: hang at step 5".into());
        let kernel = RunOutcome::Reproduced("kernel: WARNING: x".into());
        let d = discount(vec![control, both, kernel.clone()]);
        assert!(!d[1].is_reproduced() && d[1].text().ends_with("control diverged"));
        assert_eq!(d[2], kernel);
        let short = j(vec![Got::Pending]);
        assert!(!short.is_reproduced());
    }

    #[test]
    fn stress_plans_b5_and_each_run_takes_its_offset() {
        let Plan::Program { program, .. } = confirm::plan_stress(&b5()) else {
            panic!("B-5 has a racing program")
        };
        let run3 = confirm::run_copy(&program, 3);
        assert_eq!(run3.steps[0].race_us, None);
        assert_eq!(run3.steps[1].race_us, Some(skew_us(3)));
        assert_eq!(run3.id, format!("{}#3", program.id));
        // run 0 is the sequential control: nothing races, a conforming run is no hit
        let control = confirm::run_copy(&program, 0);
        assert!(control.steps.iter().all(|s| s.race_us.is_none()));
        let Plan::Program { symptom, .. } = confirm::plan_stress(&b5()) else {
            unreachable!()
        };
        let Symptom::Race { steps, swapped, .. } = symptom else {
            unreachable!()
        };
        let ok = judge_race(&control, &steps, swapped.as_deref(), &run(vec![]), "");
        assert_eq!(ok.text(), "sequential control: conforms (conforms)");
    }

    #[test]
    fn a_racing_run_counts_an_oops_but_not_a_warning() {
        let (p, sym) = race_plan(&b5()).unwrap();
        let p = confirm::run_copy(&p, 2);
        let lost = run(vec![Got::Pending, Got::Done(Some(-16))]);
        let judge = |line: &str| {
            crate::conform::confirm_log::judge_run(&p, &sym, &lost, &[line.to_string()], true)
        };
        let w = judge("WARNING: CPU: 0 PID: 36 at drivers/block/ublk_drv.c:1618 ublk_ch_uring_cmd");
        assert!(
            !w.is_reproduced() && w.text().contains("kernel (not counted): WARNING"),
            "{w:?}"
        );
        let bug = judge("BUG: kernel NULL pointer dereference, address: 0000000000000018");
        assert!(bug.is_reproduced(), "{bug:?}");
    }

    #[test]
    fn the_sweep_starts_at_zero_and_tries_both_racers_first() {
        assert_eq!(skew_us(0), 0);
        assert_eq!(skew_us(1), -skew_us(2));
        assert_eq!(skew_us(13), 0);
    }
}
