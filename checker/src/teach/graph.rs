//! `ublksim graph`: diagrams of the protocol drawn from the explored state
//! graph, for the guide (docs/guide/, pictures in docs/img/).
//!
//! A scenario's full state graph has hundreds of states; a reader wants one
//! thing at a time — the life of one `ublk_io` slot (flags, `cmd`/`req`,
//! `ref`, `task_registered_buffers`), of one request, or of the device.  A
//! [`View`] projects every explored state onto that small label; states with
//! equal labels merge, transitions that do not change the label vanish, and
//! each remaining edge is labelled with the actor and the kernel function
//! that made it.  Because the pictures are computed, not drawn, they change
//! when the model changes: `graph --all` regenerates them, and a test fails
//! when the committed DOT files are stale.

use crate::explore::bfs::Explorer;
use crate::scenarios;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use ublk_model::state::{Cell, DevState, State};
use ublk_model::view::{Flags, RefCount, Refs, SlotView};
use ublk_model::{Model, Outcome, Preset};

/// What a diagram shows of each state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// Slot `n`: flags, what the union holds, `ref` and `trb`.
    Slot(usize),
    /// Request `n`'s stage and the flags of the slot serving it.
    Request(usize),
    /// The device: state, disk, canceling, recovery, and request 0's stage.
    Device,
}

/// One diagram of the guide.
pub struct Spec {
    /// File stem under docs/img/.
    pub name: &'static str,
    pub scenario: &'static str,
    pub preset: Preset,
    pub view: View,
    pub title: &'static str,
}

/// Every diagram the guide embeds (`graph --all`).
pub const ALL: &[Spec] = &[
    Spec { name: "request-life-copy", scenario: "need-get-data-fail", preset: Preset::K72, view: View::Request(0), title: "A request's life (copy mode, NEED_GET_DATA; K72)" },
    Spec { name: "slot-daemon-zc-pre", scenario: "daemon-zc", preset: Preset::Pre, view: View::Slot(0), title: "Slot q0t0, zero copy on the daemon, PRE: the reference lives in the request pdu, REGISTER takes one" },
    Spec { name: "slot-daemon-zc-k72", scenario: "daemon-zc", preset: Preset::K72, view: View::Slot(0), title: "Slot q0t0, zero copy on the daemon, K72: INIT share, REGISTER counts in task_registered_buffers" },
    Spec { name: "slot-offdaemon-k72", scenario: "offdaemon-unregister-after-commit", preset: Preset::K72, view: View::Slot(0), title: "Slot q0t0, off-daemon REGISTER then COMMIT then UNREGISTER (K72)" },
    Spec { name: "device-teardown", scenario: "ring-exit-slot-states", preset: Preset::K72, view: View::Device, title: "Server exit: ring-exit cancel, release work, stop (K72)" },
    Spec { name: "device-recovery", scenario: "recovery-new-server", preset: Preset::K72, view: View::Device, title: "User recovery with REISSUE: a new server takes over (K72)" },
];

/// The reference count as a reader thinks of it: `io->ref` since p02, the
/// pdu count of the request the slot serves before.
fn ref_of(io: &SlotView) -> String {
    match io.refs {
        Refs::Io(v) => format!("ref {}", RefCount(v)),
        r => format!("pdu ref {}", RefCount(r.value())),
    }
}

fn flags(f: Flags) -> String {
    if f.0 == 0 {
        "no flags".into()
    } else {
        f.to_string()
    }
}

/// The label of state `s` under `v` (lines joined by `\n`).
pub fn label(m: &Model, v: View, s: &State) -> String {
    match v {
        View::Slot(sl) => {
            let io = m.slot_view(s, sl);
            let cell = match io.cell {
                Cell::None => "NULL",
                Cell::Cmd(_) => "io->cmd",
                Cell::Req(_) => "io->req",
            };
            format!(
                "{}\\n{cell}\\n{} · trb {}",
                flags(io.flags),
                ref_of(&io),
                io.trb
            )
        }
        View::Request(r) => {
            let rq = m.req_view(s, r);
            let slot = m.slot_view(s, m.slot_of_req(s, r));
            format!("rq{r} {}\\nslot {}", rq.stage, flags(slot.flags))
        }
        View::Device => {
            let d = m.dev_view(s);
            let mut l1 = format!("{:?}", d.state);
            if d.has_disk {
                l1.push_str(", disk");
            }
            if d.canceling {
                l1.push_str(", canceling");
            }
            if d.force_abort {
                l1.push_str(", force_abort");
            }
            let mut l2 = Vec::new();
            if d.state != DevState::Dead || d.used || d.disk_removed {
                l2.push(format!("rq0 {}", m.req_view(s, 0).stage));
            }
            if d.recovering {
                l2.push("recovering".into());
            }
            if d.new_server_open {
                l2.push("new server".into());
            }
            if !d.open {
                l2.push("closed".into());
            }
            if l2.is_empty() {
                l1
            } else {
                format!("{l1}\\n{}", l2.join(", "))
            }
        }
    }
}

/// The diagram of `spec` as DOT (deterministic: nodes in order of first
/// discovery by the breadth-first explorer, edges sorted).
pub fn dot(spec: &Spec) -> Result<String, String> {
    let sc = scenarios::by_name(spec.scenario)
        .ok_or_else(|| format!("diagram {}: no scenario {}", spec.name, spec.scenario))?;
    let m = Model::new(&sc, spec.preset.features())?;
    let (_, g) = Explorer::new(&m).run_graph(|s| s.clone());
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let labels: Vec<String> = g.nodes.iter().map(|s| label(&m, spec.view, s)).collect();
    for l in &labels {
        if !ids.contains_key(l) {
            ids.insert(l.clone(), order.len());
            order.push(l.clone());
        }
    }
    let mut edges: BTreeMap<(usize, usize), BTreeSet<String>> = BTreeMap::new();
    for &(f, t, a) in &g.edges {
        let (lf, lt) = (&labels[f as usize], &labels[t as usize]);
        if lf == lt {
            continue;
        }
        let mut s = g.nodes[f as usize].clone();
        let func = match m.apply(&mut s, a) {
            Ok(Outcome::Stepped(i)) => i.func,
            _ => continue,
        };
        let who = &m.actors[a.actor as usize].name;
        edges
            .entry((ids[lf], ids[lt]))
            .or_default()
            .insert(format!("{who}: {func}"));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// generated by `ublksim graph --all --out docs/img`; do not edit\n\
         // scenario {}, preset {}, {:?}\ndigraph \"{}\" {{",
        spec.scenario,
        spec.preset.name(),
        spec.view,
        spec.name
    );
    let _ = writeln!(
        out,
        "  graph [label=\"{}\", labelloc=t, fontname=\"Helvetica\", fontsize=13, rankdir=TB, nodesep=0.3, ranksep=0.35];",
        spec.title
    );
    out.push_str("  node [shape=box, style=\"rounded,filled\", fillcolor=\"#eef2f7\", fontname=\"Helvetica\", fontsize=11];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=8, color=\"#50607a\"];\n");
    for (i, l) in order.iter().enumerate() {
        let extra = if i == 0 {
            ", penwidth=2, fillcolor=\"#d7e8d0\""
        } else {
            ""
        };
        let _ = writeln!(out, "  n{i} [label=\"{l}\"{extra}];");
    }
    for ((f, t), ls) in &edges {
        let ls: Vec<_> = ls.iter().map(|s| s.replace('"', "'")).collect();
        let _ = writeln!(out, "  n{f} -> n{t} [label=\"{}\"];", ls.join("\\n"));
    }
    out.push_str("}\n");
    Ok(out)
}

/// Render DOT to SVG with graphviz's `dot`.
pub fn svg(dot_src: &str) -> Result<Vec<u8>, String> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run graphviz `dot` (apt-get install graphviz): {e}"))?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(dot_src.as_bytes())
        .map_err(|e| e.to_string())?;
    let o = child.wait_with_output().map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(format!(
            "dot -Tsvg failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(o.stdout)
}
