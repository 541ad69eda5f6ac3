//! Generated configurations that once showed a new finding signature, kept as named
//! scenarios so the default check (which runs only the modest `s1` sweep) keeps
//! exploring them after a deeper sweep (`--scope s2`) found them.
//!
//! The list is data (`found.txt`, one configuration name per line, `#` comments), and
//! `ublksim check --scope s2 --keep-new checker/src/scenarios/found.txt` appends the
//! smallest configuration of every new signature to it; a rebuild makes them part of
//! every default check. Names are the sweep grammar's (`g-d2-zc-perio-r-kill`): a
//! test fails when a kept name no longer names a configuration.

use crate::scenarios::sweep;
use ublk_model::Scenario;

const FOUND: &str = include_str!("found.txt");

/// The kept configuration names, in file order.
pub fn names() -> Vec<&'static str> {
    names_in(FOUND)
}

/// The configuration names listed in `text` (the first word of each line that is not
/// blank or a `#` comment).
pub fn names_in(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next())
        .collect()
}

/// The kept configurations that still exist in the grammar.
pub fn all() -> Vec<Scenario> {
    names().into_iter().filter_map(sweep::by_name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kept_name_is_a_configuration() {
        for n in names() {
            assert!(
                sweep::by_name(n).is_some(),
                "found.txt: {n} is no configuration"
            );
        }
    }

    #[test]
    fn names_skip_comments_and_keep_the_first_word() {
        let t =
            "# kept\n\ng-d1-copy-perio-r-kill  # S7 at ublk_queue_cmd\n  g-d2-zc-perio-r-kill\n";
        assert_eq!(
            names_in(t),
            ["g-d1-copy-perio-r-kill", "g-d2-zc-perio-r-kill"]
        );
        assert!(sweep::by_name("g-d1-copy-perio-r-kill").is_some());
    }
}
