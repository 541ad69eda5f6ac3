//! The teaching aid: a trace as prose ([`explain`], with the kernel functions' glosses in
//! [`gloss`]), as an HTML page ([`view`]) or a sequence chart ([`chart`]: SVG in
//! [`chart_svg`], mailing-list text in [`chart_text`]), diagrams projected from the state graph
//! ([`graph`]), the guide's bug zoo ([`zoo`]), and a simulation's coverage as a heat map
//! ([`coverage_svg`]).

pub mod chart;
pub mod chart_svg;
pub mod chart_text;
pub mod coverage_svg;
pub mod explain;
pub mod gloss;
pub mod graph;
pub mod view;
pub mod zoo;
