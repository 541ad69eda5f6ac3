//! `ublk-realdev`: run a check against the real ublk driver (needs root and ublk_drv; usually
//! run inside the VM by `scripts/vm/run.sh`). Prints one JSON object per observation.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;
use ublk_realdev::ctrl::CtrlRing;
use ublk_realdev::report::{emit, init, signal_done};
use ublk_realdev::scenario::{o6, quiesce, smoke, twoq, Opts};
use ublk_realdev::uapi::feature_names;
use ublk_realdev::Error;

const USAGE: &str = "usage: ublk-realdev <features|smoke|o6|twoq|quiesce> [--fixed-file] [--zero-copy] \
                     [--timeout-ms N] [--mode exit|close|exit-close (o6) | close|close-end|exit-read|restart (twoq) | busy|idle|none (quiesce)] \
                     [--queues 1|2 (twoq)] [--wait-ms N (quiesce: QUIESCE_DEV's data[0])]\n       ublk-realdev run-batch FILE [--timeout-ms N] [--kmsg-marks]";

fn parse(args: &[String]) -> Result<(String, Opts), String> {
    let mut it = args.iter();
    let cmd = it.next().ok_or_else(|| USAGE.to_string())?.clone();
    let mut o = Opts::default();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--fixed-file" => o.fixed_file = true,
            "--zero-copy" => o.zero_copy = true,
            "--timeout-ms" => {
                let v = it.next().ok_or("--timeout-ms needs a value")?;
                o.timeout =
                    Duration::from_millis(v.parse().map_err(|e| format!("--timeout-ms: {e}"))?);
            }
            "--queues" => {
                let v = it.next().ok_or("--queues needs a value")?;
                o.twoq_queues = v.parse().map_err(|e| format!("--queues: {e}"))?;
            }
            "--wait-ms" => {
                let v = it.next().ok_or("--wait-ms needs a value")?;
                o.quiesce_wait_ms = v.parse().map_err(|e| format!("--wait-ms: {e}"))?;
            }
            "--mode" => {
                let m = it.next().ok_or("--mode needs a value")?;
                if cmd == "twoq" {
                    o.twoq_mode = m.parse()?;
                } else if cmd == "quiesce" {
                    o.quiesce_mode = m.parse()?;
                } else {
                    o.o6_mode = m.parse()?;
                }
            }
            _ => return Err(format!("unknown argument {a:?}\n{USAGE}")),
        }
    }
    Ok((cmd, o))
}

fn main() -> ExitCode {
    let code = run();
    signal_done(code);
    ExitCode::from(code)
}

fn run() -> u8 {
    init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve-child") => return ublk_realdev::child::serve_child() as u8,
        Some("run-batch") => return run_batch(&args[1..]),
        _ => {}
    }
    let (cmd, o) = match parse(&args) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let r = match cmd.as_str() {
        "features" => CtrlRing::open()
            .and_then(|mut c| c.get_features(o.timeout))
            .map(|f| {
                emit(
                    "features",
                    json!({"flags": format!("{f:#x}"), "names": feature_names(f)}),
                );
                true
            }),
        "smoke" => smoke(&o),
        "o6" => o6(&o).map(|()| true),
        "twoq" => twoq(&o).map(|()| true),
        "quiesce" => quiesce(&o).map(|()| true),
        _ => {
            eprintln!("{USAGE}");
            return 2;
        }
    };
    match r {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            let code = if matches!(e, Error::NoControl | Error::ControlPermission) {
                3
            } else {
                1
            };
            emit("error", json!({"error": e.to_string()}));
            eprintln!("ublk-realdev: {e}");
            code
        }
    }
}

/// `run-batch FILE [--timeout-ms N] [--kmsg-marks]`: run the programs of FILE (JSON lines), one result line
/// each. Exit 0 when every program conforms (or hangs where the model says it blocks), 1 on
/// a divergence, an unpredicted hang or an error, 3 without /dev/ublk-control.
fn run_batch(args: &[String]) -> u8 {
    let Some(file) = args.first() else {
        eprintln!("usage: ublk-realdev run-batch FILE [--timeout-ms N] [--kmsg-marks]");
        return 2;
    };
    let mut step_timeout = Duration::from_millis(2000);
    let mut kmsg_marks = false;
    let mut rest = args[1..].iter();
    while let Some(f) = rest.next() {
        match f.as_str() {
            "--timeout-ms" => match rest.next().map(|v| v.parse()) {
                Some(Ok(ms)) => step_timeout = Duration::from_millis(ms),
                Some(Err(e)) => {
                    eprintln!("--timeout-ms: {e}");
                    return 2;
                }
                None => {
                    eprintln!("--timeout-ms needs a value");
                    return 2;
                }
            },
            "--kmsg-marks" => kmsg_marks = true,
            other => {
                eprintln!("run-batch: unknown argument '{other}'");
                return 2;
            }
        }
    }
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ublk-realdev: {file}: {e}");
            return 2;
        }
    };
    let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
    let o = ublk_realdev::exec::ExecOpts {
        step_timeout,
        exe,
        kmsg_marks,
    };
    match ublk_realdev::exec::run_batch(&text, &o) {
        Ok(0) => 0,
        Ok(_) => 1,
        Err(e) => {
            emit("error", json!({"error": e.to_string()}));
            eprintln!("ublk-realdev: {e}");
            if matches!(e, Error::NoControl | Error::ControlPermission) {
                3
            } else {
                1
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_options() {
        let a: Vec<String> = [
            "o6",
            "--fixed-file",
            "--mode",
            "close",
            "--timeout-ms",
            "250",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (c, o) = parse(&a).unwrap();
        assert_eq!(c, "o6");
        assert!(o.fixed_file && !o.zero_copy);
        assert_eq!(o.timeout, Duration::from_millis(250));
        assert!(parse(&["smoke".to_string(), "--bogus".to_string()]).is_err());
    }

    #[test]
    fn mode_goes_to_the_named_check() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (c, o) = parse(&args(&["twoq", "--mode", "restart", "--queues", "1"])).unwrap();
        assert_eq!(c, "twoq");
        assert_eq!(o.twoq_queues, 1);
        assert_eq!(o.twoq_mode, ublk_realdev::scenario::TwoqMode::Restart);
        assert_eq!(o.o6_mode, ublk_realdev::scenario::O6Mode::ExitThenClose);
        let (_, o) = parse(&args(&["o6", "--mode", "close"])).unwrap();
        assert_eq!(o.o6_mode, ublk_realdev::scenario::O6Mode::Close);
        assert_eq!(o.twoq_mode, ublk_realdev::scenario::TwoqMode::Close);
        assert!(parse(&args(&["twoq", "--mode", "exit"])).is_err());
        let (_, o) = parse(&args(&["quiesce", "--mode", "idle", "--wait-ms", "500"])).unwrap();
        assert_eq!(o.quiesce_mode, ublk_realdev::scenario::QuiesceMode::Idle);
        assert_eq!(o.quiesce_wait_ms, 500);
    }
}
