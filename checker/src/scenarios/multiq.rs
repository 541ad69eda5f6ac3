//! Two-queue scenarios: per-queue state (`struct ublk_queue`: `canceling`, `force_abort`,
//! `fail_io`, `nr_io_ready`, 6.12 `ubq_daemon`) against per-device state (`struct
//! ublk_device`: `canceling`, `nr_queue_ready`), which one queue cannot tell apart (see
//! `docs/multiqueue.md`). Each queue has its own daemon thread (the shape every preset,
//! 6.12 included, accepts) and a bio reaches the hw queue of its submitter.

use crate::scenarios::dsl::sc;
use crate::scenarios::sweep::{serving_loop, Data};
use ublk_model::config::*;
use CtrlOp::{EndUserRecovery, StartDev, StartUserRecovery, StartUserRecoveryOnce, StopDev};

fn two_queues(recovery: Recovery) -> DevConfig {
    DevConfig {
        nr_queues: 2,
        depth: 1,
        copy: CopyMode::Copy,
        recovery,
        ..DevConfig::default()
    }
}

/// Daemon thread `name` of queue `q` (tag 0), the sweep's serving loop in copy mode.
fn daemon(name: &str, q: u8) -> ActorSpec {
    ActorSpec::Server {
        name: name.into(),
        fixed_file: true,
        prog: serving_loop(Data::Copy, q, &[0]),
    }
}

fn new_daemon(name: &str, q: u8) -> ActorSpec {
    ActorSpec::RecoveryServer {
        name: name.into(),
        fixed_file: true,
        prog: serving_loop(Data::Copy, q, &[0]),
    }
}

/// A daemon of queue `q` that FETCHes, waits for a request and exits the server process.
fn exits_on_request(name: &str, q: u8) -> ActorSpec {
    ActorSpec::Server {
        name: name.into(),
        fixed_file: true,
        prog: vec![fetch(q), wait(q), Op::Exit],
    }
}

/// A new server's daemon of queue `q` that serves one request, then waits (STOP_DEV cancels
/// its FETCH) and exits.
fn serves_one(name: &str, q: u8) -> ActorSpec {
    ActorSpec::RecoveryServer {
        name: name.into(),
        fixed_file: true,
        prog: vec![
            fetch(q),
            wait(q),
            Op::Commit {
                q,
                tag: 0,
                result: 4096,
                buf: true,
            },
            wait(q),
            Op::Exit,
        ],
    }
}

fn fetch(q: u8) -> Op {
    Op::Fetch {
        q,
        tag: 0,
        buf: true,
    }
}

fn wait(q: u8) -> Op {
    Op::WaitCqe { q, tag: 0 }
}

fn bio(q: u8, b: Bio) -> ActorSpec {
    ActorSpec::Submitter { q, bios: vec![b] }
}

/// The two-queue scenarios of every default check. The last two found O-10 (7.2), O-11
/// (6.12), and O-10's and O-13's 6.16/6.17 forms: each is declared, so they report KNOWN.
pub fn all() -> Vec<Scenario> {
    vec![
        sc(
            "two-queues-ring-close",
            "Two hw queues, a daemon thread on each and a bio on each queue; queue 1's daemon \
             closes its ring at any moment (before START_DEV, while its queue is being set up, \
             with its request in flight), then STOP_DEV. The ring exit's ublk_start_cancel sets \
             canceling on the device and on both queues (ublk_set_canceling), so queue 0's \
             request — dispatched or not — is aborted or served, never handed to a canceled cmd; \
             if queue 1 was not ready yet, its readiness never comes and START_DEV waits (the \
             control program then hangs in the kernel, as the real one would).",
            two_queues(Recovery::None),
            vec![
                daemon("daemon-q0", 0),
                daemon("daemon-q1", 1),
                bio(0, Bio::Read),
                bio(1, Bio::Write),
                ActorSpec::Control {
                    prog: vec![StartDev, StopDev],
                },
                ActorSpec::RingClose { server: 1 },
            ],
        ),
        sc(
            "two-queues-kill-recovery",
            "Two hw queues, USER_RECOVERY: a daemon per queue and a bio on each queue; the first \
             daemon that receives its request exits the server process (exit_group) while the \
             other queue's request may be anywhere. The release work sets canceling on every \
             queue and aborts (requeues) every server-owned request of both queues; the new \
             server's daemons make their queues ready one at a time (7.2: each queue's \
             canceling is cleared when that queue is ready, the device's when both are), \
             END_USER_RECOVERY waits for both and kicks the held requests to them; then STOP_DEV.",
            two_queues(Recovery::Requeue),
            vec![
                exits_on_request("daemon-q0", 0),
                exits_on_request("daemon-q1", 1),
                serves_one("new-daemon-q0", 0),
                serves_one("new-daemon-q1", 1),
                bio(0, Bio::Read),
                bio(1, Bio::Write),
                ActorSpec::Control {
                    prog: vec![StartDev, StartUserRecovery, EndUserRecovery, StopDev],
                },
            ],
        ),
        sc(
            "two-queues-recovery-ring-close",
            "Two hw queues, USER_RECOVERY: the server process is SIGKILLed; the new server's \
             queue-0 daemon FETCHes, closes its ring and exits the process — also after its queue is ready and \
             before queue 1's is (7.2: queue 0's canceling is already cleared, the \
             device's is not, so the ring exit's ublk_start_cancel returns early and cancels the \
             FETCH without setting queue 0's canceling); a bio on queue 0 may come at any time.",
            two_queues(Recovery::Requeue),
            vec![
                daemon("daemon-q0", 0),
                daemon("daemon-q1", 1),
                ActorSpec::RecoveryServer {
                    name: "new-daemon-q0".into(),
                    fixed_file: true,
                    prog: vec![fetch(0), Op::CloseRing, Op::Exit],
                },
                new_daemon("new-daemon-q1", 1),
                bio(0, Bio::Read),
                ActorSpec::Control {
                    prog: vec![StartDev, StartUserRecovery, EndUserRecovery],
                },
                ActorSpec::Killer,
            ],
        ),
        sc(
            "two-queues-recovery-restart",
            "Two hw queues, USER_RECOVERY: the server process is SIGKILLed; the new server makes \
             queue 0 ready and exits before queue 1's daemon FETCHes; the recovery tool issues \
             START_USER_RECOVERY again (6.12: `ub->nr_queues_ready` is 1, so the e58f5142f883 \
             test passes and ublk_queue_reinit runs on queue 1, whose ubq_daemon is NULL).",
            two_queues(Recovery::Requeue),
            vec![
                daemon("daemon-q0", 0),
                daemon("daemon-q1", 1),
                ActorSpec::RecoveryServer {
                    name: "new-daemon-q0".into(),
                    fixed_file: true,
                    prog: vec![
                        Op::Fetch {
                            q: 0,
                            tag: 0,
                            buf: true,
                        },
                        Op::Exit,
                    ],
                },
                new_daemon("new-daemon-q1", 1),
                bio(0, Bio::Read),
                ActorSpec::Control {
                    prog: vec![
                        StartDev,
                        StartUserRecovery,
                        StartUserRecoveryOnce,
                        EndUserRecovery,
                    ],
                },
                ActorSpec::Killer,
            ],
        ),
    ]
}

/// Configurations too large for the default check, for `bench` and the README's measurements
/// (issue #14): two queues of depth 2, a per-io daemon per tag, one offload thread that
/// touches every request off the daemons, a bio per queue, and a SIGKILL at any moment.
pub fn large() -> Vec<Scenario> {
    use crate::scenarios::sweep::offload;
    let dev = DevConfig {
        nr_queues: 2,
        depth: 2,
        copy: CopyMode::UserCopy,
        ..DevConfig::default()
    };
    let mut actors: Vec<ActorSpec> = Vec::new();
    for q in 0..2u8 {
        for t in 0..2u8 {
            actors.push(ActorSpec::Server {
                name: format!("daemon-q{q}t{t}"),
                fixed_file: true,
                prog: serving_loop(Data::UserCopy, q, &[t]),
            });
        }
    }
    let mut off: Vec<Op> = (0..2u8)
        .flat_map(|q| offload(Data::UserCopy, q, &[0, 1]))
        .filter(|op| *op != Op::ThreadExit)
        .collect();
    off.push(Op::ThreadExit);
    actors.push(ActorSpec::Server {
        name: "offload".into(),
        fixed_file: true,
        prog: off,
    });
    actors.push(bio(0, Bio::Read));
    actors.push(bio(1, Bio::Write));
    actors.push(ActorSpec::Control {
        prog: vec![StartDev],
    });
    actors.push(ActorSpec::Killer);
    vec![sc(
        "two-queues-depth2-offload-kill",
        "Two hw queues of depth 2 (user copy), a per-io daemon per tag, one offload thread \
         that copies every request's data off the daemons, a READ on queue 0 and a WRITE on \
         queue 1, START_DEV, and a SIGKILL of the server at any moment: the largest configuration measured (issue \
         #14), not in the default check.",
        dev,
        actors,
    )]
}
