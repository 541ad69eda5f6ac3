//! UPDATE_SIZE (`model/src/set_size.rs`): its answer with and without a disk on each
//! kernel, the NULL `ub_disk` of B-17, and the `ub->mutex` it waits for.

use super::*;
use crate::exec::{ENODEV, EOPNOTSUPP};
use crate::invariants::Inv;

/// One copy daemon that FETCHes and waits; control: UPDATE_SIZE, START_DEV, UPDATE_SIZE.
fn resizing(preset: Preset) -> Model {
    model_on(
        preset,
        copy(1),
        vec![
            server("d", vec![fetch(0), wait(0)]),
            control(&[CtrlOp::UpdateSize, CtrlOp::StartDev, CtrlOp::UpdateSize]),
        ],
    )
}

#[test]
fn update_size_answers_enodev_without_a_disk_and_0_with_one() {
    let m = resizing(Preset::K72);
    let mut s = m.init();
    let (d, c) = (id(&m, "d"), id(&m, "control"));
    assert_eq!(until_result(&m, &mut s, c), ENODEV, "before START_DEV");
    run(&m, &mut s, d);
    assert_eq!(until_result(&m, &mut s, c), 0, "START_DEV");
    assert_eq!(
        until_result(&m, &mut s, c),
        0,
        "UPDATE_SIZE on the live disk"
    );
}

#[test]
fn update_size_without_a_disk_dereferences_null_before_the_fix() {
    for preset in [Preset::Pre, Preset::Post] {
        let m = resizing(preset);
        let mut s = m.init();
        let v = m.apply(&mut s, id(&m, "control")).unwrap_err();
        assert_eq!(v.inv, Inv::S12, "{preset:?}");
    }
    // with a disk the old code is fine
    let m = resizing(Preset::Pre);
    let mut s = m.init();
    run(&m, &mut s, id(&m, "d"));
    s.dev.has_disk = true;
    assert_eq!(until_result(&m, &mut s, id(&m, "control")), 0);
}

#[test]
fn update_size_waits_for_ub_mutex_and_is_unknown_to_612() {
    let m = resizing(Preset::K72);
    let mut s = m.init();
    let c = id(&m, "control");
    s.dev.mutex = Some(id(&m, "d"));
    assert_eq!(step(&m, &mut s, c), None, "blocked on ub->mutex");
    s.dev.mutex = None;
    assert_eq!(until_result(&m, &mut s, c), ENODEV);
    let m = resizing(Preset::K612);
    let mut s = m.init();
    assert_eq!(until_result(&m, &mut s, id(&m, "control")), EOPNOTSUPP);
}
