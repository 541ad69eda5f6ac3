//! "What changed" in one step, in the driver's own terms, for printed
//! counterexamples (`io[q0t0]: flags ACTIVE → OWNED_BY_SRV, ref 0 → INIT`).

use ublk_model::state::*;
use ublk_model::view::{RefCount, Refs};
use ublk_model::Model;

fn ch<T: PartialEq>(out: &mut Vec<String>, name: &str, a: &T, b: &T, show: impl Fn(&T) -> String) {
    if a != b {
        out.push(format!("{name} {} → {}", show(a), show(b)));
    }
}

/// The changes from `a` to `b`, one phrase per changed field.
pub fn diff(m: &Model, a: &State, b: &State) -> Vec<String> {
    let mut out = Vec::new();
    let (da, db) = (&a.dev, &b.dev);
    ch(&mut out, "dev.state", &da.state, &db.state, |s| {
        format!("{s:?}")
    });
    ch(&mut out, "disk", &da.has_disk, &db.has_disk, |v| {
        if *v { "added" } else { "none" }.into()
    });
    ch(
        &mut out,
        "ub->canceling",
        &da.canceling,
        &db.canceling,
        |v| v.to_string(),
    );
    ch(
        &mut out,
        "nr_io_ready",
        &da.nr_io_ready,
        &db.nr_io_ready,
        |v| v.to_string(),
    );
    ch(&mut out, "ub->mutex", &da.mutex, &db.mutex, |v| {
        holder(m, *v)
    });
    ch(
        &mut out,
        "cancel_mutex",
        &da.cancel_mutex,
        &db.cancel_mutex,
        |v| holder(m, *v),
    );
    ch(&mut out, "quiesced", &da.quiesced, &db.quiesced, |v| {
        v.to_string()
    });
    ch(
        &mut out,
        "/dev/ublkcN refs",
        &da.file_refs,
        &db.file_refs,
        |v| v.to_string(),
    );
    ch(&mut out, "requeue list", &da.requeue, &db.requeue, |v| {
        format!("{v:?}")
    });
    let (qa, qb) = (m.dev_view(a).queues, m.dev_view(b).queues);
    for (i, (qa, qb)) in qa.iter().zip(&qb).enumerate() {
        ch(
            &mut out,
            &format!("q{i}.canceling"),
            &qa.canceling,
            &qb.canceling,
            |v| v.to_string(),
        );
        ch(
            &mut out,
            &format!("q{i}.force_abort"),
            &qa.force_abort,
            &qb.force_abort,
            |v| v.to_string(),
        );
        ch(
            &mut out,
            &format!("q{i}.fail_io"),
            &qa.fail_io,
            &qb.fail_io,
            |v| v.to_string(),
        );
    }
    for i in 0..a.slots.len() {
        let (sa, sb) = (m.slot_view(a, i), m.slot_view(b, i));
        let n = sa.name();
        ch(&mut out, &format!("{n}.flags"), &sa.flags, &sb.flags, |v| {
            v.to_string()
        });
        ch(&mut out, &format!("{n}.cmd/req"), &sa.cell, &sb.cell, |v| {
            v.to_string()
        });
        ch(&mut out, &format!("{n}.task"), &sa.task, &sb.task, |v| {
            m.task_name(*v)
        });
        // `io->ref` (since p02; before, the count is in the request, shown with it)
        let io_ref = |r: Refs| match r {
            Refs::Io(v) => Some(v),
            Refs::Pdu(_) => None,
        };
        ch(
            &mut out,
            &format!("{n}.ref"),
            &io_ref(sa.refs),
            &io_ref(sb.refs),
            |v| v.map_or(String::new(), |v| RefCount(v).to_string()),
        );
        ch(&mut out, &format!("{n}.trb"), &sa.trb, &sb.trb, |v| {
            v.to_string()
        });
    }
    for i in 0..a.reqs.len() {
        let (ra, rb) = (m.req_view(a, i).to_string(), m.req_view(b, i).to_string());
        ch(&mut out, &format!("rq{i}"), &ra, &rb, |v| v.clone());
    }
    ch(&mut out, "tags->rqs", &a.tags_rqs, &b.tags_rqs, |v| {
        let e: Vec<_> = v
            .iter()
            .map(|r| r.map_or("-".into(), |r| format!("rq{r}")))
            .collect();
        format!("[{}]", e.join(","))
    });
    for (i, (ca, cb)) in a.cmds.iter().zip(&b.cmds).enumerate() {
        ch(&mut out, &format!("c{i}"), &ca.st, &cb.st, |v| {
            format!("{v:?}")
        });
    }
    for (i, (ra, rb)) in a.rings.iter().zip(&b.rings).enumerate() {
        let tab = |r: &Ring| {
            let e: Vec<_> = r
                .table
                .iter()
                .map(|n| n.map_or("-".into(), |n| format!("n{n}")))
                .collect();
            format!("[{}]", e.join(","))
        };
        if ra.table != rb.table {
            out.push(format!("ring{i}.buffers {} → {}", tab(ra), tab(rb)));
        }
        ch(
            &mut out,
            &format!("ring{i}.fixed I/O in flight"),
            &ra.fixed_ops.len(),
            &rb.fixed_ops.len(),
            |v| v.to_string(),
        );
        if rb.exiting && !ra.exiting {
            out.push(format!("ring{i} exiting"));
        }
    }
    for (i, t) in b.tasks.iter().enumerate() {
        if t.exiting && !a.tasks[i].exiting {
            out.push(format!("task {} exiting", m.task_name(Some(i as u8))));
        }
    }
    out
}

fn holder(m: &Model, a: Option<ActorId>) -> String {
    a.map_or("free".into(), |a| m.actors[a as usize].name.clone())
}
