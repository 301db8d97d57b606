//! End-to-end tests of flicker: one test binary, one module per area.

mod cluster;
mod files;
mod prepare;
mod run;
mod sandbox;
mod support;
mod validation;
