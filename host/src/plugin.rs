//! A loaded plugin: a compiled component, its operator kind, and a pre-linked instance template.

use crate::bindings::{aggregate, format, map, parse};
use crate::instance::{AggregateInstance, FormatInstance, Instance, MapInstance, ParseInstance};
use crate::runtime::EpochTicker;
use crate::sandbox::SandboxState;
use crate::{HostError, Limits};
use flicker_manifest::OperatorKind;
pub use flicker_protocol::PluginDigest;
use std::sync::Arc;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

/// The instance template of each operator kind.
enum Template {
    Parse(parse::ParsePluginPre<SandboxState>),
    Map(map::MapPluginPre<SandboxState>),
    Aggregate(aggregate::AggregatePluginPre<SandboxState>),
    Format(format::FormatPluginPre<SandboxState>),
}

/// A compiled, linked plugin ready to be instantiated many times.
pub struct Plugin {
    digest: PluginDigest,
    kind: OperatorKind,
    engine: Engine,
    ticker: Arc<EpochTicker>,
    template: Template,
}

/// The WIT interface names that make a component an operator of each kind.
const EXPORTS: [(&str, OperatorKind); 4] = [
    ("flicker:operator/parse@0.2.0", OperatorKind::Parse),
    ("flicker:operator/map@0.2.0", OperatorKind::Map),
    ("flicker:operator/aggregate@0.2.0", OperatorKind::Aggregate),
    ("flicker:operator/format@0.2.0", OperatorKind::Format),
];

/// The operator kind a component exports.
fn kind_of(engine: &Engine, component: &Component) -> Result<OperatorKind, HostError> {
    let exports: Vec<String> =
        component.component_type().exports(engine).map(|(name, _)| name.to_owned()).collect();
    let kinds: Vec<OperatorKind> =
        EXPORTS.iter().filter(|(name, _)| exports.iter().any(|e| e == name)).map(|(_, kind)| *kind).collect();
    match kinds.as_slice() {
        [kind] => Ok(*kind),
        [] => Err(HostError::NoOperator {
            exports: if exports.is_empty() { "nothing".to_owned() } else { exports.join(", ") },
        }),
        several => Err(HostError::SeveralOperators {
            kinds: several.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        }),
    }
}

impl Plugin {
    pub(crate) fn new(
        engine: &Engine,
        linker: &Linker<SandboxState>,
        ticker: Arc<EpochTicker>,
        digest: PluginDigest,
        component: &Component,
    ) -> Result<Self, HostError> {
        let kind = kind_of(engine, component)?;
        let link = |e: wasmtime::Error| HostError::Link { message: format!("{e:#}") };
        let pre = linker.instantiate_pre(component).map_err(link)?;
        let template = match kind {
            OperatorKind::Parse => Template::Parse(parse::ParsePluginPre::new(pre).map_err(link)?),
            OperatorKind::Map => Template::Map(map::MapPluginPre::new(pre).map_err(link)?),
            OperatorKind::Aggregate => {
                Template::Aggregate(aggregate::AggregatePluginPre::new(pre).map_err(link)?)
            }
            OperatorKind::Format => Template::Format(format::FormatPluginPre::new(pre).map_err(link)?),
        };
        Ok(Self { digest, kind, engine: engine.clone(), ticker, template })
    }

    /// The component's sha256.
    pub fn digest(&self) -> PluginDigest {
        self.digest
    }

    /// The operator kind the component exports.
    pub fn kind(&self) -> OperatorKind {
        self.kind
    }

    fn wrong_kind(&self, wanted: OperatorKind) -> HostError {
        HostError::WrongKind { found: self.kind, wanted }
    }

    /// A new parse operator built from `config`.
    pub fn parse(&self, config: &[(String, String)], limits: Limits) -> Result<ParseInstance, HostError> {
        match &self.template {
            Template::Parse(pre) => Instance::new(&self.engine, &self.ticker, pre, config, limits),
            _ => Err(self.wrong_kind(OperatorKind::Parse)),
        }
    }

    /// A new map operator built from `config`.
    pub fn map(&self, config: &[(String, String)], limits: Limits) -> Result<MapInstance, HostError> {
        match &self.template {
            Template::Map(pre) => Instance::new(&self.engine, &self.ticker, pre, config, limits),
            _ => Err(self.wrong_kind(OperatorKind::Map)),
        }
    }

    /// A new aggregate operator built from `config`.
    pub fn aggregate(
        &self,
        config: &[(String, String)],
        limits: Limits,
    ) -> Result<AggregateInstance, HostError> {
        match &self.template {
            Template::Aggregate(pre) => Instance::new(&self.engine, &self.ticker, pre, config, limits),
            _ => Err(self.wrong_kind(OperatorKind::Aggregate)),
        }
    }

    /// A new format operator built from `config`.
    pub fn format(&self, config: &[(String, String)], limits: Limits) -> Result<FormatInstance, HostError> {
        match &self.template {
            Template::Format(pre) => Instance::new(&self.engine, &self.ticker, pre, config, limits),
            _ => Err(self.wrong_kind(OperatorKind::Format)),
        }
    }

    /// Builds the operator once from `config` and drops it: checks that the config is accepted.
    pub fn check_config(&self, config: &[(String, String)], limits: Limits) -> Result<(), HostError> {
        match self.kind {
            OperatorKind::Parse => self.parse(config, limits).map(drop),
            OperatorKind::Map => self.map(config, limits).map(drop),
            OperatorKind::Aggregate => self.aggregate(config, limits).map(drop),
            OperatorKind::Format => self.format(config, limits).map(drop),
        }
    }
}
