//! Real-kernel conformance: the model's predictions for sequential programs ([`oracle`]),
//! random programs ([`generate`]) compiled to the host↔guest format ([`compile`]), the corpus
//! of traces ([`corpus`]), and the runner that boots the VM or uses this host's device
//! ([`runner`]).

pub mod choice;
pub mod compile;
pub mod confirm;
pub mod confirm_log;
pub mod corpus;
mod corpus_612;
mod corpus_auto;
mod corpus_pid;
pub mod corpus_recovery;
mod corpus_tags;
mod corpus_ucopy;
mod corpus_wide;
pub mod export_c;
mod gen_phases;
pub mod generate;
pub mod interleave;
pub mod oracle;
pub mod race_plan;
pub mod runner;
pub mod seqsearch;
mod shrink;

#[cfg(test)]
mod choice_tests;
#[cfg(test)]
mod oracle_k612_tests;
#[cfg(test)]
mod tests;
