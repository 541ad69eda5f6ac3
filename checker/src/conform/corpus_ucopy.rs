//! User copy's offset, length and direction on the real kernels (7.2 and 6.12 corpus): a pread
//! or pwrite on /dev/ublkcN at byte `off` of a request, `len` bytes, in either direction.

use crate::conform::compile::ModelProgram;
use crate::conform::corpus::program;
use crate::scenarios::dsl::{sc, server};
use ublk_model::config::*;
use ublk_model::Preset;

fn uc(tag: u8, off: u32, len: Option<u32>, dir: Option<CopyDir>) -> Op {
    Op::UserCopy {
        q: 0,
        tag,
        off,
        len,
        dir,
    }
}

/// A user-copy server's FETCH, wait for a CQE, and COMMIT of 4096 bytes, on tag 0.
fn serve_ops() -> (Op, Op, Op) {
    let fetch = Op::Fetch {
        q: 0,
        tag: 0,
        buf: false,
    };
    let commit = Op::Commit {
        q: 0,
        tag: 0,
        result: 4096,
        buf: false,
    };
    (fetch, Op::WaitCqe { q: 0, tag: 0 }, commit)
}

/// The daemon's copies on a request whose right direction is `right` (`wrong` the other):
/// the wrong direction (-EACCES), an offset at the end (0 bytes), an offset past it
/// (-EINVAL), an offset past it in the wrong direction (-EINVAL: the offset is checked
/// first), a length past the end (clamped: 3072 bytes), the whole request (4096).
fn daemon_copies(right: CopyDir, wrong: CopyDir) -> Vec<Op> {
    vec![
        uc(0, 0, None, Some(wrong)),
        uc(0, 4096, None, None),
        uc(0, 4097, None, Some(right)),
        uc(0, 8192, Some(512), Some(wrong)),
        uc(0, 1024, Some(8192), None),
        uc(0, 0, None, Some(right)),
    ]
}

/// Another thread's copies (7.2: the lookup with a reference, not the daemon's path): the
/// wrong direction, an offset past the end, a length past it (2048 of 4096 from byte 2048).
fn helper_copies(wrong: CopyDir) -> Vec<Op> {
    vec![
        uc(0, 0, Some(512), Some(wrong)),
        uc(0, 5000, None, None),
        uc(0, 2048, Some(4096), None),
    ]
}

/// A USER_COPY device of depth 1: a READ then a WRITE, each copied by the daemon and by a
/// helper thread with offsets at, inside and past the request's 4 KiB, lengths past its end
/// and both directions, then COMMITted; STOP_DEV aborts the last FETCH.
pub fn ucopy_offsets(preset: Preset, id: &str) -> ModelProgram {
    let (d, h, b, c) = ("daemon", "helper", "submitter0", "control");
    let (r, w) = (CopyDir::Pread, CopyDir::Pwrite);
    let (fetch, wait, commit) = serve_ops();
    let mut dprog = vec![fetch, wait.clone()];
    dprog.extend(daemon_copies(w, r));
    dprog.extend([commit.clone(), wait.clone()]);
    dprog.extend(daemon_copies(r, w));
    dprog.extend([commit, wait, Op::Exit]);
    let hprog = [helper_copies(r), helper_copies(w)].concat();
    let mut order = vec![d, c, b, d];
    order.extend([d; 6]);
    order.extend([h; 3]);
    order.extend([d, b, b, d]);
    order.extend([d; 6]);
    order.extend([h; 3]);
    order.extend([d, b, c, d, d]);
    program(
        sc(
            id,
            "USER_COPY: wrong direction, offsets at/past the end, clamped lengths (READ, WRITE)",
            DevConfig {
                copy: CopyMode::UserCopy,
                ..DevConfig::default()
            },
            vec![
                server(d, true, dprog),
                server(h, true, hprog),
                ActorSpec::Submitter {
                    q: 0,
                    bios: vec![Bio::Read, Bio::Write],
                },
                ActorSpec::Control {
                    prog: vec![CtrlOp::StartDev, CtrlOp::StopDev],
                },
            ],
        ),
        preset,
        &order,
        id,
    )
}

/// An 8 KiB READ on a USER_COPY device, served in two halves (both kernels): the whole-request
/// copy is 8192 bytes; a COMMIT of 4096 completes the first half (`blk_update_request`), the
/// remainder (4 KiB, from sector 8) is requeued and dispatched to the re-armed cmd at once;
/// now the whole request is 4096 bytes and an offset of 4097 is past it (-EINVAL), where it
/// was inside before; the second COMMIT of 4096 ends the READ. Issue #15 item 6: "an 8 KiB
/// read committed with 4096 is not expressible".
pub fn large_bio_partial(preset: Preset, id: &str) -> ModelProgram {
    let (d, b, c) = ("daemon", "submitter0", "control");
    // a COMMIT of 4096: half of the 8 KiB request
    let (fetch, wait, half) = serve_ops();
    let dprog = vec![
        fetch,
        wait.clone(),
        uc(0, 0, None, None),
        uc(0, 4097, Some(512), None),
        half.clone(),
        uc(0, 0, None, None),
        uc(0, 4097, Some(512), None),
        half,
        wait,
        Op::Exit,
    ];
    program(
        sc(
            id,
            "USER_COPY, an 8 KiB READ committed 4096 bytes at a time: the remainder is dispatched again, smaller",
            DevConfig {
                copy: CopyMode::UserCopy,
                io_bytes: 8192,
                ..DevConfig::default()
            },
            vec![
                server(d, true, dprog),
                ActorSpec::Submitter {
                    q: 0,
                    bios: vec![Bio::Read],
                },
                ActorSpec::Control {
                    prog: vec![CtrlOp::StartDev, CtrlOp::StopDev],
                },
            ],
        ),
        preset,
        &[d, c, b, d, d, d, d, d, d, d, b, c, d, d],
        id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conform::compile::compile;
    use ublk_program::Expect::*;

    #[test]
    fn a_partial_commit_leaves_a_smaller_request() {
        for preset in [Preset::K72, Preset::K612] {
            let c = compile(&large_bio_partial(preset, "t"), preset.features()).unwrap();
            let e: Vec<_> = c.program.steps.iter().map(|s| s.expect.clone()).collect();
            // the whole 8 KiB; 512 bytes from 4097 (inside)
            assert_eq!(e[4], Done(Some(8192)), "{preset:?}");
            assert_eq!(e[5], Done(Some(512)), "{preset:?}");
            // the first half's COMMIT: the cmd receives the remainder at once
            assert_eq!(e[6], Done(Some(0)), "{preset:?}");
            // the remainder is 4096 bytes: the whole of it, and 4097 is past its end
            assert_eq!(e[7], Done(Some(4096)), "{preset:?}");
            assert_eq!(e[8], Done(Some(-22)), "{preset:?}");
            assert_eq!(e[9], Pending, "{preset:?}");
            assert_eq!(e[10], Done(Some(0)), "{preset:?}: the READ ends");
        }
    }
}
