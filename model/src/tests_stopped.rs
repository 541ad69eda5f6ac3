//! Unit tests of the ghost fact "STOP_DEV ran before the device ever had a disk"
//! (`Dev::g_stopped_unstarted`), which tells O-14's route to a canceled cmd from O-6's: set
//! by a STOP_DEV that finds the device DEAD without a disk ever added, on the 7.x and the
//! 6.12 stop paths; not by a STOP_DEV or DEL_DEV after a started device was stopped.

use crate::config::*;
use crate::state::State;
use crate::tests_pid::unit;
use crate::{Model, Outcome, Preset};

/// A copy device of one tag: a daemon (FETCH, wait, exit) and a control program.
fn model(ctrl: Vec<CtrlOp>, preset: Preset) -> Model {
    let fetch = Op::Fetch {
        q: 0,
        tag: 0,
        buf: true,
    };
    let daemon = ActorSpec::Server {
        name: "d".into(),
        fixed_file: true,
        prog: vec![fetch, Op::WaitCqe { q: 0, tag: 0 }, Op::Exit],
    };
    let control = ActorSpec::Control { prog: ctrl };
    let sc = unit("unit-stopped", Recovery::None, vec![daemon, control]);
    Model::new(&sc, preset.features()).unwrap()
}

/// Every actor in turn, lowest first, until none can move.
fn settle(m: &Model, s: &mut State) {
    'outer: loop {
        for a in 0..m.actors.len() as u8 {
            if let Ok(Outcome::Stepped(_)) = m.apply(s, a) {
                continue 'outer;
            }
        }
        return;
    }
}

#[test]
fn stop_before_any_disk_sets_the_fact_and_a_stop_after_a_start_does_not() {
    for preset in [Preset::K72, Preset::K612, Preset::Post] {
        // FETCH, then STOP_DEV on the ready device that was never started
        let m = model(vec![CtrlOp::StopDev], preset);
        let mut s = m.init();
        settle(&m, &mut s);
        assert!(
            s.dev.g_stopped_unstarted,
            "{preset:?}: stopped before any disk"
        );
        // START_DEV, STOP_DEV, DEL_DEV: the DEL's stop finds the device DEAD after its disk
        // was removed — not the route
        let m = model(
            vec![CtrlOp::StartDev, CtrlOp::StopDev, CtrlOp::DelDev],
            preset,
        );
        let mut s = m.init();
        settle(&m, &mut s);
        assert!(s.dev.disk_removed, "{preset:?}: the disk came and went");
        let c = m.actor_id("control").unwrap();
        assert!(s.actors[c as usize].done, "{preset:?}: DEL_DEV returned");
        assert!(
            !s.dev.g_stopped_unstarted,
            "{preset:?}: stopped after a start"
        );
    }
}
