//! The kernel versions the model knows, as one table.
//!
//! Every place that names kernels — `ublksim list`, the "known: …" messages,
//! the command-line help, `--kernel` of `conform`/`replay`, the conformance
//! corpus folder and the VM line `scripts/vm/run.sh` boots — reads
//! [`KERNELS`], so adding a kernel whose behaviour is an existing switch set
//! is one row here, its pin file `scripts/vm/kernel-<line>.pin` (which also
//! tells `run.sh` the Debian suite) and its corpus folder.  The table's order
//! is the order `list` prints (oldest first).

use crate::features::{Features, Sw};
use std::fmt;

/// One kernel version: a named set of switches, and where it runs for real.
#[derive(Debug)]
pub struct Kernel {
    /// `--preset` and trace-header name (`K72`).
    pub name: &'static str,
    /// The version in the command-line help (`7.2`, `≈6.16`).
    pub version: &'static str,
    /// One line for `ublksim list`.
    pub describe: &'static str,
    pub features: Features,
    /// Whether every built-in scenario can run on it (`agree` and the engine
    /// tests iterate these); a kernel without some of the newer code (K612)
    /// refuses scenarios it cannot express (zero copy, per-io daemons, FAIL_IO).
    pub every_scenario: bool,
    /// The real kernel a VM boots for it, if any.
    pub vm: Option<Vm>,
}

/// A kernel the conformance runs boot (`conform --vm`, `replay --vm`).
#[derive(Debug)]
pub struct Vm {
    /// `--kernel` and `UBLK_VM_KERNEL`: the line `scripts/vm/run.sh` boots; its
    /// pinned version and Debian suite are in `scripts/vm/kernel-<line>.pin`.
    pub line: &'static str,
    /// The corpus's traces, relative to the repository (CI replays them).
    pub corpus_dir: &'static str,
    /// Which hand-written program set the corpus holds (`conform/corpus.rs`).
    pub programs: Programs,
}

/// The hand-written corpus program sets, by the device shapes they need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Programs {
    /// Per-io daemons, zero copy, off-daemon buffers (written for 7.2).
    PerIoDaemon,
    /// One daemon per queue, copy and user copy only (written for 6.12).
    PerQueueDaemon,
}

use Sw::*;

/// ≈6.16: the base of the off-daemon series.  It has the unregister
/// zero-copy test that v1 of the series dropped.  B-7's fix (6.15-rc2),
/// 6.16's handling of a bad auto-buf-reg descriptor in FETCH (B-13) and
/// the 6.11 START_USER_RECOVERY check (B-24c; 6.15 rewrote that path).
const PRE: Features = Features::of(&[
    FixB2,
    FixB5,
    FixB6,
    FixB7,
    FixB10,
    FixB13,
    FixB24c,
    V2UnregZc,
    PerIoDaemon,
    ZeroCopy,
    ReleaseWork,
    SyncGetData,
    RecoveryFailIo,
    QuiesceDev,
    UpdateSize,
]);
/// 6.17: the series and its 6.17 fixes; its FETCH parses the auto-buf-reg
/// descriptor after filling the slot again (B-13, "store auto buffer
/// register data into struct ublk_io").
const POST: Features = PRE
    .plus(&[
        PidEqualsOpener,
        FixB8,
        FixB11,
        FixB12,
        P02,
        P03,
        P04,
        P06,
        P09,
        P11,
        P12,
        V2Overflow,
    ])
    .without(FixB13);
/// Debian 7.2.13: POST, B-9's, B-13's, B-17's, B-18's and B-24's fixes and K72's
/// refinements.
const K72: Features = POST.plus(&[
    AsyncPartScan,
    FixB9,
    FixB13,
    FixB17,
    FixB18,
    CancelClaimsCmd,
    FetchClearsCanceled,
    UserCopyDaemonFast,
    UserCopyBvec,
    CancelNoDisk,
    AutoUnregFirst,
    ValidatePid,
]);
/// 6.12.118: the B-6 fix is in stable 6.12 (abort drops the pdu kref); the
/// copy-mode FETCH without a buffer fails (-EINVAL, no B-12); `ublk_cancel_cmd`
/// skips a tag with a started request (B-2's fix, backported to 6.12.y);
/// START_USER_RECOVERY refuses a device with no ready queue (B-24c, 6.11).
/// 6.12 never had B-7's regression (its `ublk_queue_rq` requeues through
/// `__ublk_abort_rq` while canceling), so it runs the fixed path.
const K612: Features = Features::of(&[FixB2, FixB6, FixB7, FixB12, FixB24c]);

/// Every kernel, oldest first.  [`Preset`]'s constants index this table.
pub const KERNELS: &[Kernel] = &[
    Kernel {
        name: "K612",
        version: "6.12",
        describe: "Debian 6.12.118: per-queue daemon, kref in the request pdu (USER_COPY only), no zero copy, teardown by cancel fn + timeout (stop/quiesce work)",
        features: K612,
        every_scenario: false,
        vm: Some(Vm { line: "6.12", corpus_dir: "traces/corpus/6.12", programs: Programs::PerQueueDaemon }),
    },
    Kernel {
        name: "PRE",
        version: "≈6.16",
        describe: "≈v6.16, the base of the off-daemon series (refcount in the request pdu, daemon-only REGISTER)",
        features: PRE,
        every_scenario: true,
        vm: None,
    },
    Kernel {
        name: "POST",
        version: "6.17",
        describe: "v6.17: the series plus its 6.17 fixes (B-8, B-11, B-12)",
        features: POST,
        every_scenario: true,
        vm: None,
    },
    Kernel {
        name: "K72",
        version: "7.2",
        describe: "Debian 7.2.13: POST plus K72's cancel claim, per-io CANCELED clear, daemon user-copy fast path",
        features: K72,
        every_scenario: true,
        vm: Some(Vm { line: "7.2", corpus_dir: "traces/corpus", programs: Programs::PerIoDaemon }),
    },
];

/// A kernel version: an index into [`KERNELS`].  The constants name the rows
/// code refers to; a row nothing refers to by name needs none.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Preset(u8);

#[allow(non_upper_case_globals)]
impl Preset {
    /// Debian trixie 6.12.118: per-queue daemon, no zero copy, teardown by
    /// the cancel fn and the timeout handler.
    pub const K612: Preset = Preset(0);
    /// ≈6.16: the tree the series was applied to.
    pub const Pre: Preset = Preset(1);
    /// 6.17: after the series and the 6.17 follow-up fixes.
    pub const Post: Preset = Preset(2);
    /// Debian 7.2.13.
    pub const K72: Preset = Preset(3);

    pub fn kernel(self) -> &'static Kernel {
        &KERNELS[self.0 as usize]
    }
    pub fn name(self) -> &'static str {
        self.kernel().name
    }
    pub fn describe(self) -> &'static str {
        self.kernel().describe
    }
    pub fn features(self) -> Features {
        self.kernel().features
    }
    pub fn from_name(s: &str) -> Option<Preset> {
        Preset::every().find(|p| p.name().eq_ignore_ascii_case(s))
    }
    /// Every preset a command line accepts, in table order.
    pub fn every() -> impl DoubleEndedIterator<Item = Preset> + Clone {
        (0..KERNELS.len() as u8).map(Preset)
    }
    /// The presets every built-in scenario can run on.
    pub fn all() -> impl Iterator<Item = Preset> + Clone {
        Preset::every().filter(|p| p.kernel().every_scenario)
    }
    /// The presets for "known: …" messages: those every scenario runs on,
    /// then the rest ("PRE, POST, K72, K612").
    pub fn known_names() -> String {
        let rest = Preset::every().filter(|p| !p.kernel().every_scenario);
        let v: Vec<_> = Preset::all().chain(rest).map(Preset::name).collect();
        v.join(", ")
    }
    /// `--preset`'s help: "Kernel preset: PRE (≈6.16), POST (6.17), …".
    pub fn help() -> String {
        let rest = Preset::every().filter(|p| !p.kernel().every_scenario);
        let v: Vec<_> = Preset::all()
            .chain(rest)
            .map(|p| format!("{} ({})", p.name(), p.kernel().version))
            .collect();
        format!("Kernel preset: {}", v.join(", "))
    }
    /// The preset a VM line (`7.2`) or preset name (`K72`) runs on, for `--kernel`.
    pub fn for_vm(name: &str) -> Option<(Preset, &'static Vm)> {
        Preset::every().find_map(|p| {
            let vm = p.kernel().vm.as_ref()?;
            (vm.line == name || p.name() == name).then_some((p, vm))
        })
    }
    /// The VM lines, for `--kernel`'s "known: 7.2, 6.12" (newest first).
    pub fn vm_lines() -> String {
        let v: Vec<_> = Preset::every()
            .rev()
            .filter_map(|p| p.kernel().vm.as_ref().map(|vm| vm.line))
            .collect();
        v.join(", ")
    }
}

impl fmt::Debug for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn repo() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
    }

    /// Everything derived from the table agrees with it: a new row that
    /// passes this test is a complete preset.
    #[test]
    fn every_row_is_consistent() {
        let mut names = std::collections::HashSet::new();
        let mut lines = std::collections::HashSet::new();
        for p in Preset::every() {
            let k = p.kernel();
            assert!(
                names.insert(k.name.to_ascii_uppercase()),
                "{} twice",
                k.name
            );
            assert_eq!(Preset::from_name(k.name), Some(p));
            assert_eq!(Preset::from_name(&k.name.to_lowercase()), Some(p));
            assert!(Preset::known_names().split(", ").any(|n| n == k.name));
            assert!(Preset::help().contains(&format!("{} ({})", k.name, k.version)));
            assert!(!k.describe.is_empty() && !k.version.is_empty());
            if let Some(vm) = &k.vm {
                assert!(lines.insert(vm.line), "line {} twice", vm.line);
                assert_eq!(Preset::for_vm(vm.line).map(|x| x.0), Some(p));
                assert_eq!(Preset::for_vm(k.name).map(|x| x.0), Some(p));
                let pin = repo().join(format!("scripts/vm/kernel-{}.pin", vm.line));
                let text = std::fs::read_to_string(&pin)
                    .unwrap_or_else(|e| panic!("{}: {e}", pin.display()));
                let first = text.lines().next().unwrap_or_default();
                assert!(
                    !first.trim().is_empty(),
                    "{}: no kernel version",
                    pin.display()
                );
                for key in ["suite ", "source ", "current "] {
                    assert!(
                        text.lines().any(|l| l.starts_with(key)),
                        "{}: no '{key}' line for scripts/vm/run.sh",
                        pin.display()
                    );
                }
                assert!(repo().join(vm.corpus_dir).is_dir(), "{}", vm.corpus_dir);
            }
        }
        // the named constants point at their rows
        for (p, n) in [
            (Preset::K612, "K612"),
            (Preset::Pre, "PRE"),
            (Preset::Post, "POST"),
            (Preset::K72, "K72"),
        ] {
            assert_eq!(p.name(), n);
        }
    }

    /// The derived messages keep their wording (`check`'s error and help;
    /// a new row extends them, so this lists only what must stay).
    #[test]
    fn derived_messages_keep_their_order() {
        assert!(Preset::known_names().starts_with("PRE, POST, K72"));
        assert!(Preset::help().starts_with("Kernel preset: PRE (≈6.16), POST (6.17), K72 (7.2)"));
        assert!(Preset::vm_lines().ends_with("7.2, 6.12"));
    }

    #[test]
    fn k612_lacks_the_newer_changes() {
        let k = Preset::K612.features();
        for w in [
            Sw::PerIoDaemon,
            Sw::ZeroCopy,
            Sw::ReleaseWork,
            Sw::P02,
            Sw::FixB5,
        ] {
            assert!(!k.has(w), "{}", w.name());
        }
        assert!(k.has(Sw::FixB6) && k.has(Sw::FixB12));
        assert_eq!(Preset::from_name("k612"), Some(Preset::K612));
        for p in Preset::all() {
            assert!(p.features().has(Sw::PerIoDaemon), "{}", p.name());
        }
    }

    #[test]
    fn presets_differ_where_the_series_does() {
        let (pre, post) = (Preset::Pre.features(), Preset::Post.features());
        assert!(!pre.has(Sw::P09) && post.has(Sw::P09));
        assert!(post.diff_from(pre).contains(&"+p02".to_string()));
    }
}
