//! User copy's offset, length and direction (`ublk_user_copy` on 7.2, `ublk_check_and_get_req`
//! on 6.12): an offset past the request is -EINVAL before a wrong direction is -EACCES, an
//! offset at the end copies 0 bytes, a length past the end is clamped on 7.2 (6.12 returns the
//! length: it counts the pinned user pages) — on the daemon (7.2's reference-free path) and
//! off it (the lookup with a reference), for a READ and a WRITE.

use super::*;
use crate::exec::EACCES;

/// FETCH without a buffer (user copy refuses an address).
fn fetch0() -> Op {
    Op::Fetch {
        q: 0,
        tag: 0,
        buf: false,
    }
}

fn uc(off: u32, len: Option<u32>, dir: Option<CopyDir>) -> Op {
    Op::UserCopy {
        q: 0,
        tag: 0,
        off,
        len,
        dir,
    }
}

/// The copies and what each returns on a request of direction `write`; `k72`: a length past
/// the end returns the bytes copied (7.2) rather than the length (6.12, measured).
fn cases(write: bool, k72: bool) -> Vec<(Op, i32)> {
    let (right, wrong) = if write {
        (CopyDir::Pread, CopyDir::Pwrite)
    } else {
        (CopyDir::Pwrite, CopyDir::Pread)
    };
    vec![
        (Op::user_copy(0, 0), 4096),
        (uc(0, None, Some(right)), 4096),
        (uc(0, None, Some(wrong)), EACCES),
        (uc(4096, None, None), 0),
        (uc(4096, Some(512), Some(right)), 0),
        (uc(4096, None, Some(wrong)), EACCES),
        (uc(4097, None, None), EINVAL),
        // the offset is checked first
        (uc(8192, Some(512), Some(wrong)), EINVAL),
        (uc(1000, Some(8192), None), if k72 { 3096 } else { 8192 }),
        (uc(1000, None, None), if k72 { 3096 } else { 4096 }),
        (uc(1000, Some(100), Some(right)), 100),
        (uc(4095, Some(4096), None), if k72 { 1 } else { 4096 }),
    ]
}

/// A user-copy device of depth 1; the daemon FETCHes tag 0, a `write` bio is dispatched to it,
/// then `on` ("d": the daemon, "h": another thread) runs every case; their results.
fn copies(preset: Preset, write: bool, on: &str) -> (Vec<i32>, Vec<i32>) {
    let (ops, want): (Vec<Op>, Vec<i32>) = cases(write, preset == Preset::K72).into_iter().unzip();
    let (dprog, hprog) = match on {
        "d" => ([vec![fetch0(), wait(0)], ops].concat(), vec![]),
        _ => (vec![fetch0(), wait(0)], ops),
    };
    let dev = DevConfig {
        copy: CopyMode::UserCopy,
        ..copy(1)
    };
    let bio = if write { Bio::Write } else { Bio::Read };
    let m = model_on(
        preset,
        dev,
        vec![
            server("d", dprog),
            server("h", hprog),
            bios(&[bio]),
            control(&[CtrlOp::StartDev]),
        ],
    );
    let (d, h, b, c) = (
        id(&m, "d"),
        id(&m, "h"),
        id(&m, "submitter0"),
        id(&m, "control"),
    );
    let mut s = m.init();
    assert!(run(&m, &mut s, d).is_empty(), "the FETCH is queued");
    assert_eq!(until_result(&m, &mut s, c), 0);
    for _ in 0..3 {
        step(&m, &mut s, b).unwrap();
    }
    settle_but(&m, &mut s, &[]);
    assert_eq!(
        until_result(&m, &mut s, d),
        0,
        "the CQE: the daemon owns the request"
    );
    let got = if on == "d" {
        run(&m, &mut s, d)
    } else {
        run(&m, &mut s, h)
    };
    (got, want)
}

#[test]
fn user_copy_offset_length_direction_on_and_off_the_daemon() {
    for preset in [Preset::K72, Preset::K612] {
        for write in [false, true] {
            for on in ["d", "h"] {
                let (got, want) = copies(preset, write, on);
                assert_eq!(got, want, "{preset:?} write={write} on {on}");
            }
        }
    }
}

#[test]
fn old_user_copy_ops_parse_as_the_whole_request_copy() {
    let op: Op = serde_json::from_str(r#"{"UserCopy":{"q":0,"tag":1}}"#).unwrap();
    assert_eq!(op, Op::user_copy(0, 1));
    assert_eq!(
        serde_json::to_string(&op).unwrap(),
        r#"{"UserCopy":{"q":0,"tag":1}}"#
    );
}
