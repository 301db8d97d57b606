//! End-to-end tests of flicker: one test binary, one module per area.

mod bounds;
mod cluster;
mod control;
mod files;
mod gcs;
mod r#gen;
mod http_api;
mod join;
mod join_cluster;
mod moto;
mod params;
mod policy;
mod prepare;
mod run;
mod s3;
mod sandbox;
mod security;
mod single_file;
mod spill;
mod std_ops;
mod support;
mod tenants;
mod try_op;
mod union;
mod validation;
mod web_ui;
