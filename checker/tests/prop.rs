//! Property tests: random walks over enabled steps never panic, under any
//! switch combination; applying a step is deterministic.

use proptest::prelude::*;
use ublk_checker::scenarios;
use ublk_model::{Features, Model, Outcome, Sw};

fn enabled(m: &Model, s: &ublk_model::State) -> Vec<u8> {
    (0..m.actors.len() as u8)
        .filter(|&a| {
            m.may_step(s, a) && !matches!(m.apply(&mut s.clone(), a), Ok(Outcome::Blocked))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_walks_never_panic_and_apply_is_deterministic(
        sc in 0usize..64,
        mask in any::<u64>(),
        choices in proptest::collection::vec(any::<u8>(), 1..120),
    ) {
        let all = scenarios::all();
        let sc = &all[sc % all.len()];
        let feat = Features(mask & Features::all().0);
        // a switch set without zero copy / per-io daemons (6.12's) refuses the scenarios it
        // cannot express (any other error is a bug): then walk it with those switches on
        let m = match Model::new(sc, feat) {
            Ok(m) => m,
            Err(e) => {
                prop_assert!(e.starts_with("n/a: "), "{}", e);
                let newer = [Sw::PerIoDaemon, Sw::ZeroCopy, Sw::RecoveryFailIo];
                Model::new(sc, newer.iter().fold(feat, |f, &w| f.with(w))).unwrap()
            }
        };
        let mut s = m.init();
        for c in choices {
            let en = enabled(&m, &s);
            if en.is_empty() {
                break;
            }
            let a = en[c as usize % en.len()];
            let mut twin = s.clone();
            let r1 = m.apply(&mut s, a);
            let r2 = m.apply(&mut twin, a);
            prop_assert_eq!(&s, &twin);
            match (r1, r2) {
                (Ok(Outcome::Stepped(i1)), Ok(Outcome::Stepped(i2))) => prop_assert_eq!(i1, i2),
                (Err(v1), Err(v2)) => { prop_assert_eq!(v1, v2); break; }
                (a, b) => prop_assert!(false, "diverged: {:?} vs {:?}", a.is_ok(), b.is_ok()),
            }
        }
    }
}
