//! A loaded plugin: a compiled component, its operator kind, and a pre-linked instance template.

use crate::bindings::{aggregate, cogroup, format, map, parse};
use crate::instance::{
    AggregateInstance, CoGroupInstance, FormatInstance, Instance, MapInstance, ParseInstance,
};
use crate::sandbox::{SandboxMaker, SandboxState};
use crate::schema::{SchemaFunction, TypeCheckError};
use crate::{HostError, Limits, Sandbox};
use flicker_batch::RowType;
use flicker_protocol::OperatorKind;
pub use flicker_protocol::PluginDigest;
use wasmtime::Engine;
use wasmtime::component::{Component, InstancePre, Linker};

/// The instance template of each operator kind.
enum Template {
    Parse(parse::ParseOperatorPre<SandboxState>),
    Map(map::MapOperatorPre<SandboxState>),
    Aggregate(aggregate::AggregateOperatorPre<SandboxState>),
    CoGroup(cogroup::CogroupOperatorPre<SandboxState>),
    Format(format::FormatOperatorPre<SandboxState>),
}

impl Template {
    /// The pre-linked instance of the component, whatever its kind.
    fn instance_pre(&self) -> &InstancePre<SandboxState> {
        match self {
            Template::Parse(pre) => pre.instance_pre(),
            Template::Map(pre) => pre.instance_pre(),
            Template::Aggregate(pre) => pre.instance_pre(),
            Template::CoGroup(pre) => pre.instance_pre(),
            Template::Format(pre) => pre.instance_pre(),
        }
    }
}

/// A compiled, linked plugin ready to be instantiated many times.
pub struct Plugin {
    digest: PluginDigest,
    kind: OperatorKind,
    sandbox: SandboxMaker,
    template: Template,
    schema: Option<SchemaFunction>,
}

/// The WIT interface names (without their patch version: 0.2.0, 0.2.1 and 0.2.2 are all taken)
/// that make a component an operator of each kind.
const EXPORTS: [(&str, OperatorKind); 5] = [
    ("flicker:operator/parse@0.2.", OperatorKind::Parse),
    ("flicker:operator/map@0.2.", OperatorKind::Map),
    ("flicker:operator/aggregate@0.2.", OperatorKind::Aggregate),
    ("flicker:operator/cogroup@0.2.", OperatorKind::CoGroup),
    ("flicker:operator/format@0.2.", OperatorKind::Format),
];

/// The operator kind a component exports.
fn kind_of(engine: &Engine, component: &Component) -> Result<OperatorKind, HostError> {
    let exports: Vec<String> =
        component.component_type().exports(engine).map(|(name, _)| name.to_owned()).collect();
    let kinds: Vec<OperatorKind> = EXPORTS
        .iter()
        .filter(|(name, _)| exports.iter().any(|e| e.starts_with(name)))
        .map(|(_, kind)| *kind)
        .collect();
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
        linker: &Linker<SandboxState>,
        sandbox: SandboxMaker,
        digest: PluginDigest,
        component: &Component,
    ) -> Result<Self, HostError> {
        let kind = kind_of(&sandbox.engine, component)?;
        let link = |e: wasmtime::Error| HostError::Link { message: format!("{e:#}") };
        let pre = linker.instantiate_pre(component).map_err(link)?;
        let template = match kind {
            OperatorKind::Parse => Template::Parse(parse::ParseOperatorPre::new(pre).map_err(link)?),
            OperatorKind::Map => Template::Map(map::MapOperatorPre::new(pre).map_err(link)?),
            OperatorKind::Aggregate => {
                Template::Aggregate(aggregate::AggregateOperatorPre::new(pre).map_err(link)?)
            }
            OperatorKind::CoGroup => Template::CoGroup(cogroup::CogroupOperatorPre::new(pre).map_err(link)?),
            OperatorKind::Format => Template::Format(format::FormatOperatorPre::new(pre).map_err(link)?),
        };
        let schema = SchemaFunction::find(component, kind);
        Ok(Self { digest, kind, sandbox, template, schema })
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

    /// A new parse operator built from `config`, in a sandbox of the node (waiting for one when
    /// all are in use).
    pub fn parse(
        &self,
        config: &[(String, String)],
        sandbox: impl Into<Sandbox>,
    ) -> Result<ParseInstance, HostError> {
        match &self.template {
            Template::Parse(pre) => Instance::new(&self.sandbox, pre, config, 1, sandbox.into()),
            _ => Err(self.wrong_kind(OperatorKind::Parse)),
        }
    }

    /// A new map operator built from `config`, in a sandbox of the node (waiting for one when
    /// all are in use).
    pub fn map(
        &self,
        config: &[(String, String)],
        sandbox: impl Into<Sandbox>,
    ) -> Result<MapInstance, HostError> {
        match &self.template {
            Template::Map(pre) => Instance::new(&self.sandbox, pre, config, 1, sandbox.into()),
            _ => Err(self.wrong_kind(OperatorKind::Map)),
        }
    }

    /// A new aggregate operator built from `config`, in a sandbox of the node (waiting for one when
    /// all are in use).
    pub fn aggregate(
        &self,
        config: &[(String, String)],
        sandbox: impl Into<Sandbox>,
    ) -> Result<AggregateInstance, HostError> {
        match &self.template {
            Template::Aggregate(pre) => Instance::new(&self.sandbox, pre, config, 1, sandbox.into()),
            _ => Err(self.wrong_kind(OperatorKind::Aggregate)),
        }
    }

    /// A new co-group operator built from `config` for `inputs` inputs, in a sandbox of the node
    /// (waiting for one when all are in use).
    pub fn cogroup(
        &self,
        config: &[(String, String)],
        inputs: u32,
        sandbox: impl Into<Sandbox>,
    ) -> Result<CoGroupInstance, HostError> {
        match &self.template {
            Template::CoGroup(pre) => Instance::new(&self.sandbox, pre, config, inputs, sandbox.into()),
            _ => Err(self.wrong_kind(OperatorKind::CoGroup)),
        }
    }

    /// A new format operator built from `config`, in a sandbox of the node (waiting for one when
    /// all are in use).
    pub fn format(
        &self,
        config: &[(String, String)],
        sandbox: impl Into<Sandbox>,
    ) -> Result<FormatInstance, HostError> {
        match &self.template {
            Template::Format(pre) => Instance::new(&self.sandbox, pre, config, 1, sandbox.into()),
            _ => Err(self.wrong_kind(OperatorKind::Format)),
        }
    }

    /// The row type its operator, built from `config`, outputs for rows of the types `inputs`
    /// (none for a parse operator, which reads lines; one but for a co-group operator; a format
    /// operator only checks its input), run in a sandbox of its own under `limits`. `Ok(None)`
    /// when it cannot say before it sees rows: an operator of dynamic rows, or a component built
    /// for `flicker:operator@0.2.0`, which has no `*-schema` function.
    pub fn output_type(
        &self,
        config: &[(String, String)],
        inputs: &[RowType],
        limits: Limits,
    ) -> Result<Option<RowType>, TypeCheckError> {
        match &self.schema {
            Some(schema) => {
                schema.output_type(&self.sandbox, self.template.instance_pre(), config, inputs, limits)
            }
            None => Ok(None),
        }
    }

    /// Builds the operator once from `config`, for a step of `inputs` inputs, and drops it: checks
    /// that the config (and, for a co-group operator, the number of inputs) is accepted.
    pub fn check_config(
        &self,
        config: &[(String, String)],
        inputs: u32,
        limits: Limits,
    ) -> Result<(), HostError> {
        match self.kind {
            OperatorKind::Parse => self.parse(config, limits).map(drop),
            OperatorKind::Map => self.map(config, limits).map(drop),
            OperatorKind::Aggregate => self.aggregate(config, limits).map(drop),
            OperatorKind::CoGroup => self.cogroup(config, inputs, limits).map(drop),
            OperatorKind::Format => self.format(config, limits).map(drop),
        }
    }
}
