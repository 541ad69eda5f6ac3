//! What the measuring examples share: the configuration named on the command line.

use ublk_checker::scenarios;
use ublk_model::{Model, Preset};

/// The model of `[SCENARIO [PRESET]]` in `args` (default: the bench scenario,
/// per-io-daemons-stress on K72), or a one-line error and exit status 2.
pub fn model_of(args: &[String]) -> (String, Preset, Model) {
    let fail = |msg: String| -> ! {
        eprintln!("error: {msg}");
        std::process::exit(2)
    };
    if args.len() > 2 {
        fail(format!("too many arguments: {args:?} (SCENARIO [PRESET])"));
    }
    let name = args.first().map_or("per-io-daemons-stress", |s| s.as_str());
    let preset = match args.get(1) {
        None => Preset::K72,
        Some(p) => (Preset::every().into_iter())
            .find(|x| x.name() == p)
            .unwrap_or_else(|| fail(format!("no preset {p:?}: PRE, POST, K72 or K612"))),
    };
    let Some(sc) = scenarios::by_name(name) else {
        fail(format!("no built-in scenario {name:?} (`ublksim list`)"));
    };
    match Model::new(&sc, preset.features()) {
        Ok(m) => (name.to_string(), preset, m),
        Err(e) => fail(format!("{name} on {}: {e}", preset.name())),
    }
}
