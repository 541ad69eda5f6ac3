//! "What changed" in one step, in the driver's own terms, for printed
//! counterexamples (`io[q0t0]: flags ACTIVE → OWNED_BY_SRV, ref 0 → INIT`).

use ublk_model::state::*;
use ublk_model::Model;

pub fn flags(f: u8) -> String {
    let names = [
        (flag::ACTIVE, "ACTIVE"),
        (flag::OWNED_BY_SRV, "OWNED_BY_SRV"),
        (flag::NEED_GET_DATA, "NEED_GET_DATA"),
        (flag::AUTO_BUF_REG, "AUTO_BUF_REG"),
        (flag::CANCELED, "CANCELED"),
    ];
    let v: Vec<_> = names
        .iter()
        .filter(|(b, _)| f & b != 0)
        .map(|(_, n)| *n)
        .collect();
    if v.is_empty() {
        "0".into()
    } else {
        v.join("|")
    }
}

pub fn refcount(v: u32) -> String {
    match v {
        0 => "0".into(),
        UBLK_REFCOUNT_INIT => "INIT".into(),
        v if v > UBLK_REFCOUNT_INIT / 2 && v < UBLK_REFCOUNT_INIT => {
            format!("INIT-{}", UBLK_REFCOUNT_INIT - v)
        }
        v if v > UBLK_REFCOUNT_INIT => format!("INIT+{}", v - UBLK_REFCOUNT_INIT),
        v => v.to_string(),
    }
}

pub fn cell(c: Cell) -> String {
    match c {
        Cell::None => "NULL".into(),
        Cell::Cmd(c) => format!("cmd c{c}"),
        Cell::Req(r) => format!("req rq{r}"),
    }
}

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
    for (i, (qa, qb)) in a.queues.iter().zip(&b.queues).enumerate() {
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
    let depth = m.dev.depth as usize;
    for (i, (sa, sb)) in a.slots.iter().zip(&b.slots).enumerate() {
        let n = format!("io[q{}t{}]", i / depth, i % depth);
        ch(&mut out, &format!("{n}.flags"), &sa.flags, &sb.flags, |v| {
            flags(*v)
        });
        ch(&mut out, &format!("{n}.cmd/req"), &sa.cell, &sb.cell, |v| {
            cell(*v)
        });
        ch(&mut out, &format!("{n}.task"), &sa.task, &sb.task, |v| {
            task(m, *v)
        });
        ch(&mut out, &format!("{n}.ref"), &sa.refcnt, &sb.refcnt, |v| {
            refcount(*v)
        });
        ch(&mut out, &format!("{n}.trb"), &sa.trb, &sb.trb, |v| {
            v.to_string()
        });
    }
    for (i, (ra, rb)) in a.reqs.iter().zip(&b.reqs).enumerate() {
        ch(&mut out, &format!("rq{i}"), &req(ra), &req(rb), |v| {
            v.clone()
        });
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
            out.push(format!("task {} exiting", task(m, Some(i as u8))));
        }
    }
    out
}

fn holder(m: &Model, a: Option<ActorId>) -> String {
    a.map_or("free".into(), |a| m.actors[a as usize].name.clone())
}

/// `io->task` by the name of the server thread it is.
pub fn task(m: &Model, t: Option<TaskId>) -> String {
    t.map_or("NULL".into(), |t| {
        m.actors
            .iter()
            .find(|d| matches!(d.kind, ublk_model::Kind::Server { task, .. } if task == t))
            .map_or(format!("task{t}"), |d| d.name.clone())
    })
}

/// A request's stage in words (`IN_FLIGHT tag 0`, `ended(4096)`, `FREED`).
pub fn req(r: &Req) -> String {
    if !r.alive {
        return "FREED".into();
    }
    if !r.allocated {
        return if r.ended > 0 {
            format!("ended({})", r.res)
        } else {
            "free".into()
        };
    }
    let st = if r.started { "IN_FLIGHT" } else { "IDLE" };
    let pdu = if r.pdu_ref != 0 {
        format!(" pdu ref {}", refcount(r.pdu_ref))
    } else {
        String::new()
    };
    format!(
        "{st} tag {}{pdu}",
        r.tag.map_or("-".into(), |t| t.to_string())
    )
}
