//! `ublksim sim --coverage-svg`: the simulator's coverage as a heat map of kernel functions ×
//! the faults fired earlier in the episode — counted right (a fault-free run has everything
//! "before any fault"; the release work only ever runs after a kill), one row per function
//! the run reached, and the same bytes for the same run.

use std::process::Command;
use ublk_checker::teach::coverage_svg;
use ublk_model::{Model, Preset};
use ublk_sim::coverage::{Coverage, EVENT_FAULTS};
use ublk_sim::faults::{Fault, FaultSet};
use ublk_sim::workload::{scenario, SimConfig};
use ublk_sim::{simulate, RunOpts};

fn run(faults: &str, matrix: bool) -> Coverage {
    let cfg = SimConfig {
        faults: FaultSet::parse(faults).unwrap(),
        ..SimConfig::default()
    };
    let m = Model::new(&scenario(&cfg).0, Preset::K72.features()).unwrap();
    let o = RunOpts {
        seed: 1,
        steps: 60_000,
        fault_matrix: matrix,
        ..RunOpts::default()
    };
    simulate(&m, &cfg.faults, &o, |_| {}).coverage
}

fn col(f: Fault) -> usize {
    1 + EVENT_FAULTS.iter().position(|&g| g == f).unwrap()
}

#[test]
fn steps_are_counted_under_the_faults_fired_before_them() {
    let off = run("kill", false);
    assert!(
        off.under_fault.is_empty(),
        "off by default: nothing counted"
    );
    let none = run("none", true);
    assert_eq!(none.under_fault.len(), none.steps.len());
    for (f, n) in &none.steps {
        let r = none.under_fault[f];
        assert_eq!(r[0], *n, "{f}: a fault-free run is all 'before any fault'");
        assert!(r[1..].iter().all(|&c| c == 0), "{f}: {r:?}");
    }
    let kill = run("kill", true);
    assert_eq!(
        kill.steps,
        run("kill", false).steps,
        "counting changes no schedule"
    );
    let mut release = 0;
    for (f, n) in &kill.steps {
        let r = kill.under_fault[f];
        assert!(
            r[0] <= *n && r[0] + r[col(Fault::Kill)] >= *n,
            "{f}: {r:?} of {n}"
        );
        if f.starts_with("ublk_ch_release_work_fn") {
            release += 1;
            assert_eq!(
                r[0], 0,
                "{f}: the release work runs only once the server is gone"
            );
            assert!(r[col(Fault::Kill)] > 0);
        }
    }
    assert!(release > 0, "a kill run reaches the release work");
}

#[test]
fn the_heat_map_has_a_row_per_function_and_a_column_per_fault() {
    let cov = run("kill,elevator", true);
    let svg = coverage_svg::render(&cov, "t", &["kill", "elevator"]);
    assert_eq!(svg.matches("<g class=\"row\"").count(), cov.steps.len());
    assert!(svg.contains(&format!(
        "data-rows=\"{}\" data-cols=\"3\"",
        cov.steps.len()
    )));
    assert_eq!(
        svg.matches("<g class=\"cell\"").count(),
        3 * cov.steps.len()
    );
    for name in ["before any fault", "kill", "elevator"] {
        assert!(svg.contains(&format!(">{name}</text>")), "{name}");
    }
    // a cell holds its count; a zero is white
    let (f, r) = cov.under_fault.iter().find(|(_, r)| r[0] == 0).unwrap();
    let row = &svg[svg.find(&format!("data-func=\"{f}\"")).unwrap()..];
    let row = &row[..row.find("</g>\n").unwrap()];
    assert!(row.contains("data-fault=\"before any fault\" data-n=\"0\"><rect"));
    assert!(row.contains("fill=\"#ffffff\""), "{row}");
    assert!(row.contains(&format!(
        "data-fault=\"kill\" data-n=\"{}\"",
        r[col(Fault::Kill)]
    )));
    assert_eq!(coverage_svg::compact(987), "987");
    assert_eq!(coverage_svg::compact(12_345), "12.3k");
    assert_eq!(coverage_svg::compact(4_560_000), "4.5M");
    for banned in ["<script", "https://", "<image", "@import"] {
        assert!(!svg.contains(banned));
    }
}

#[test]
fn the_command_writes_the_same_bytes_twice_and_refuses_a_folder() {
    let d = tempfile::tempdir().unwrap();
    let sim = |out: &str| {
        Command::new(env!("CARGO_BIN_EXE_ublksim"))
            .args([
                "sim",
                "--faults",
                "kill,stop",
                "--steps",
                "30000",
                "--seeds",
                "2",
            ])
            .args(["--out", d.path().join("traces").to_str().unwrap()])
            .args(["--coverage-svg", out])
            .output()
            .unwrap()
    };
    let (a, b) = (d.path().join("a.svg"), d.path().join("b.svg"));
    for p in [&a, &b] {
        let o = sim(p.to_str().unwrap());
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let svg = std::fs::read_to_string(&a).unwrap();
    assert_eq!(
        svg,
        std::fs::read_to_string(&b).unwrap(),
        "same run, same bytes"
    );
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"ublksim-coverage\""));
    assert!(svg.contains("sim K72: seeds 1–2, 30000 steps each, faults kill,stop"));
    assert!(svg.contains(">kill</text>") && svg.contains(">stop</text>"));
    let o = sim("-");
    assert_eq!(o.stdout, svg.as_bytes(), "`-`: the SVG alone on stdout");
    let o = sim(d.path().to_str().unwrap());
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a regular file"));
}
