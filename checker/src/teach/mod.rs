//! The teaching aid: a trace as prose ([`explain`], with the kernel functions' glosses in
//! [`gloss`]) or as an HTML page ([`view`]), diagrams projected from the state graph
//! ([`graph`]), and the guide's bug zoo ([`zoo`]).

pub mod explain;
pub mod gloss;
pub mod graph;
pub mod view;
pub mod zoo;
