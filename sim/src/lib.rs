//! Deterministic simulation of the ublk model (grows in issue 5).
