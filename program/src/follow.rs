//! Following the kernel's choice of driver tag.
//!
//! blk-mq gives a request any free driver tag (an sbitmap with a per-CPU hint that starts at a
//! random bit), so a program written for "the request lands on tag 0" meets tag 1 about as
//! often. The model treats the tag as a free choice; the host checks, before a program is
//! run, that every choice leads to the same observations once the program's later steps name
//! the tag the request really got ([`Program::relabel`]). The executor then follows the
//! kernel: when, at step `i`, the command the program expects to receive the request stays
//! queued and a sibling (the same thread's armed command on another tag of the same queue)
//! completes with the expected result instead, it relabels the rest of the program the same
//! way ([`Program::follow_pairs`] names the candidates). Host and executor share this code,
//! so what the host verified is what the executor runs.

use crate::{Act, Expect, Program};

impl Act {
    /// The driver tag this action names, if any.
    pub fn tag(&self) -> Option<u16> {
        self.clone().tag_mut().map(|t| *t)
    }

    fn tag_mut(&mut self) -> Option<&mut u16> {
        match self {
            Act::Fetch { tag, .. }
            | Act::Commit { tag, .. }
            | Act::NeedGetData { tag }
            | Act::Register { tag, .. }
            | Act::Unregister { tag, .. }
            | Act::BadType { tag }
            | Act::UserCopy { tag, .. }
            | Act::WaitCqe { tag } => Some(tag),
            _ => None,
        }
    }

    fn swap_tag(&mut self, t: u16, u: u16) {
        let Some(tag) = self.tag_mut() else {
            return;
        };
        if *tag == t {
            *tag = u;
        } else if *tag == u {
            *tag = t;
        }
    }

    /// A command that receives a request when one is dispatched to its tag (an armed FETCH or
    /// COMMIT_AND_FETCH).
    fn arms(&self) -> bool {
        matches!(self, Act::Fetch { .. } | Act::Commit { .. })
    }
}

impl Program {
    /// The (expected, sibling) command pairs of step `i`'s effects: `expected` is predicted to
    /// complete with a result there and is an armed command of some thread on tag `t`;
    /// `sibling` is predicted to stay queued and is an armed command of the same thread on
    /// another tag of the same queue. If the kernel completes the sibling instead, it chose
    /// the sibling's tag.
    pub fn follow_pairs(&self, i: usize) -> Vec<(usize, usize)> {
        let Some(step) = self.steps.get(i) else {
            return vec![];
        };
        let armed = |k: usize| self.steps.get(k).filter(|s| s.act.arms());
        let mut out = Vec::new();
        for x in &step.after {
            let (Expect::Done(Some(_)), Some(sx)) = (&x.expect, armed(x.of)) else {
                continue;
            };
            for y in &step.after {
                let (Expect::Pending, Some(sy)) = (&y.expect, armed(y.of)) else {
                    continue;
                };
                if sy.thread == sx.thread && sy.act.tag() != sx.act.tag() {
                    out.push((x.of, y.of));
                }
            }
        }
        out
    }

    /// The program as it goes on when, at step `i`, the request predicted for command `x`
    /// went to command `y` (a pair of [`Program::follow_pairs`]): every later step of the
    /// same queue names `y`'s tag where it named `x`'s and the other way round, and effects
    /// from step `i` on speak of `y` where they spoke of `x` (sorted by command, as the
    /// compiler writes them).
    pub fn relabel(&mut self, i: usize, x: usize, y: usize) {
        let (Some(t), Some(u)) = (self.steps[x].act.tag(), self.steps[y].act.tag()) else {
            return;
        };
        let q = self.threads[self.steps[x].thread].queue;
        for (k, s) in self.steps.iter_mut().enumerate().skip(i) {
            if k > i && self.threads[s.thread].queue == q {
                s.act.swap_tag(t, u);
            }
            for e in &mut s.after {
                if e.of == x {
                    e.of = y;
                } else if e.of == y {
                    e.of = x;
                }
            }
            s.after.sort_by_key(|e| e.of);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::*;

    fn prog() -> Program {
        let step = |thread, act, expect, after| Step {
            thread,
            act,
            expect,
            after,
            race_us: None,
        };
        let fx = |of, expect| Effect { of, expect };
        Program {
            id: "p".into(),
            dev: DevCfg {
                depth: 2,
                ..DevCfg::default()
            },
            threads: vec![
                ThreadSpec {
                    name: "daemon".into(),
                    kind: ThreadKind::Server {
                        fixed_file: false,
                        process: 0,
                    },
                    queue: 0,
                },
                ThreadSpec {
                    name: "client".into(),
                    kind: ThreadKind::Submitter,
                    queue: 0,
                },
            ],
            steps: vec![
                step(
                    0,
                    Act::Fetch { tag: 0, buf: false },
                    Expect::Pending,
                    vec![],
                ),
                step(
                    0,
                    Act::Fetch { tag: 1, buf: false },
                    Expect::Pending,
                    vec![fx(0, Expect::Pending)],
                ),
                step(
                    1,
                    Act::Read,
                    Expect::Pending,
                    vec![fx(0, Expect::Done(Some(0))), fx(1, Expect::Pending)],
                ),
                step(
                    0,
                    Act::Commit {
                        tag: 0,
                        result: 4096,
                        buf: false,
                    },
                    Expect::Pending,
                    vec![fx(1, Expect::Pending), fx(2, Expect::Done(Some(4096)))],
                ),
                step(0, Act::WaitCqe { tag: 1 }, Expect::Blocks, vec![]),
            ],
        }
    }

    #[test]
    fn the_read_s_effects_name_the_one_pair() {
        assert_eq!(prog().follow_pairs(2), vec![(0, 1)]);
        assert!(
            prog().follow_pairs(1).is_empty(),
            "no command expected done"
        );
        assert!(prog().follow_pairs(9).is_empty());
    }

    #[test]
    fn relabel_swaps_later_tags_and_the_pair_s_effects() {
        let mut p = prog();
        p.relabel(2, 0, 1);
        assert_eq!(
            p.steps[2].after,
            vec![
                Effect {
                    of: 0,
                    expect: Expect::Pending
                },
                Effect {
                    of: 1,
                    expect: Expect::Done(Some(0))
                }
            ]
        );
        assert_eq!(p.steps[3].act.tag(), Some(1));
        assert_eq!(
            p.steps[3].after[0].of, 0,
            "the still queued FETCH is now t0's"
        );
        assert_eq!(p.steps[4].act, Act::WaitCqe { tag: 0 });
        // steps before the choice keep their tags: they were issued as written
        assert_eq!(p.steps[0].act.tag(), Some(0));
        assert_eq!(p.steps[1].act.tag(), Some(1));
        // relabelling twice is the identity
        p.relabel(2, 0, 1);
        assert_eq!(p, prog());
    }
}
