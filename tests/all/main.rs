//! End-to-end tests of flicker: one test binary, one module per area.

mod cluster;
mod files;
mod gcs;
mod r#gen;
mod moto;
mod prepare;
mod run;
mod s3;
mod sandbox;
mod spill;
mod support;
mod validation;
