//! End-to-end tests of flicker: one test binary, one module per area.

mod cluster;
mod prepare;
mod run;
mod sandbox;
mod support;
mod validation;
