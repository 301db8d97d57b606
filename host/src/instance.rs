//! Operator instances: one sandboxed store each, called once per batch.

use crate::bindings::{aggregate, format, map, parse, types};
use crate::sandbox::{SandboxState, arm_deadline, check_output, classify, new_store, stderr};
use crate::{CallError, HostError, Limits, OperatorError};
use wasmtime::component::ResourceAny;
use wasmtime::{Engine, Store};

type Config<'a> = &'a [(String, String)];
type GuestResult<R> = wasmtime::Result<Result<R, types::Error>>;

impl From<types::Error> for OperatorError {
    fn from(error: types::Error) -> Self {
        match error {
            types::Error::InvalidConfig(m) => OperatorError::InvalidConfig(m),
            types::Error::BadRecord(r) => {
                OperatorError::BadRecord { index: r.index, offset: r.offset, message: r.message }
            }
            types::Error::Failed(m) => OperatorError::Failed(m),
        }
    }
}

/// An instance of a component in its own store, holding the operator resource.
struct Sandboxed<B> {
    store: Store<SandboxState>,
    bindings: B,
    resource: ResourceAny,
    poisoned: bool,
}

impl<B> Sandboxed<B> {
    fn create(
        engine: &Engine,
        limits: Limits,
        instantiate: impl FnOnce(&mut Store<SandboxState>) -> wasmtime::Result<B>,
        construct: impl FnOnce(&B, &mut Store<SandboxState>) -> GuestResult<ResourceAny>,
    ) -> Result<Self, HostError> {
        let mut store = new_store(engine, limits);
        arm_deadline(&mut store);
        let bindings = instantiate(&mut store).map_err(|e| HostError::Create(classify(&store, e)))?;
        let resource = match construct(&bindings, &mut store) {
            Ok(Ok(resource)) => resource,
            Ok(Err(error)) => return Err(HostError::Create(CallError::Operator(error.into()))),
            Err(trap) => return Err(HostError::Create(classify(&store, trap))),
        };
        Ok(Self { store, bindings, resource, poisoned: false })
    }

    fn call<R>(
        &mut self,
        call: impl FnOnce(&B, &mut Store<SandboxState>, ResourceAny) -> GuestResult<R>,
    ) -> Result<R, CallError> {
        if self.poisoned {
            return Err(CallError::Poisoned);
        }
        arm_deadline(&mut self.store);
        match call(&self.bindings, &mut self.store, self.resource) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(CallError::Operator(error.into())),
            Err(trap) => {
                self.poisoned = true;
                Err(classify(&self.store, trap))
            }
        }
    }

    fn call_bytes(
        &mut self,
        call: impl FnOnce(&B, &mut Store<SandboxState>, ResourceAny) -> GuestResult<Vec<u8>>,
    ) -> Result<Vec<u8>, CallError> {
        let bytes = self.call(call)?;
        check_output(&self.store, bytes.len())?;
        Ok(bytes)
    }
}

/// What a parse call produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The framed batch of rows.
    pub rows: Vec<u8>,
    /// Records skipped as bad.
    pub skipped: u32,
}

/// A parse operator instance.
pub struct ParseInstance(Sandboxed<parse::ParsePlugin>);

impl ParseInstance {
    pub(crate) fn new(
        engine: &Engine,
        pre: &parse::ParsePluginPre<SandboxState>,
        config: Config<'_>,
        limits: Limits,
    ) -> Result<Self, HostError> {
        Sandboxed::create(
            engine,
            limits,
            |s| pre.instantiate(s),
            |b, s| b.flicker_operator_parse().parser().call_constructor(s, config),
        )
        .map(Self)
    }

    /// Parses a chunk of whole records.
    pub fn parse(&mut self, chunk: &[u8]) -> Result<Parsed, CallError> {
        let parsed = self.0.call(|b, s, r| b.flicker_operator_parse().parser().call_parse(s, r, chunk))?;
        check_output(&self.0.store, parsed.rows.len())?;
        Ok(Parsed { rows: parsed.rows, skipped: parsed.skipped })
    }

    /// What the guest wrote to stderr so far.
    pub fn stderr(&self) -> String {
        stderr(&self.0.store)
    }
}

/// A map operator instance.
pub struct MapInstance(Sandboxed<map::MapPlugin>);

impl MapInstance {
    pub(crate) fn new(
        engine: &Engine,
        pre: &map::MapPluginPre<SandboxState>,
        config: Config<'_>,
        limits: Limits,
    ) -> Result<Self, HostError> {
        Sandboxed::create(
            engine,
            limits,
            |s| pre.instantiate(s),
            |b, s| b.flicker_operator_map().mapper().call_constructor(s, config),
        )
        .map(Self)
    }

    /// Maps one batch.
    pub fn map(&mut self, batch: &[u8]) -> Result<Vec<u8>, CallError> {
        self.0.call_bytes(|b, s, r| b.flicker_operator_map().mapper().call_map(s, r, batch))
    }

    /// What the guest wrote to stderr so far.
    pub fn stderr(&self) -> String {
        stderr(&self.0.store)
    }
}

/// An aggregate operator instance.
pub struct AggregateInstance(Sandboxed<aggregate::AggregatePlugin>);

impl AggregateInstance {
    pub(crate) fn new(
        engine: &Engine,
        pre: &aggregate::AggregatePluginPre<SandboxState>,
        config: Config<'_>,
        limits: Limits,
    ) -> Result<Self, HostError> {
        Sandboxed::create(
            engine,
            limits,
            |s| pre.instantiate(s),
            |b, s| b.flicker_operator_aggregate().aggregator().call_constructor(s, config),
        )
        .map(Self)
    }

    /// Folds a batch of keyed rows into the per-key state.
    pub fn update(&mut self, batch: &[u8]) -> Result<(), CallError> {
        self.0.call(|b, s, r| b.flicker_operator_aggregate().aggregator().call_update(s, r, batch))
    }

    /// Takes the partial state per key.
    pub fn partials(&mut self) -> Result<Vec<u8>, CallError> {
        self.0.call_bytes(|b, s, r| b.flicker_operator_aggregate().aggregator().call_partials(s, r))
    }

    /// Folds a partials batch into the per-key state.
    pub fn merge(&mut self, partials: &[u8]) -> Result<(), CallError> {
        self.0.call(|b, s, r| b.flicker_operator_aggregate().aggregator().call_merge(s, r, partials))
    }

    /// Takes the final value per key.
    pub fn finish(&mut self) -> Result<Vec<u8>, CallError> {
        self.0.call_bytes(|b, s, r| b.flicker_operator_aggregate().aggregator().call_finish(s, r))
    }

    /// What the guest wrote to stderr so far.
    pub fn stderr(&self) -> String {
        stderr(&self.0.store)
    }
}

/// A format operator instance.
pub struct FormatInstance(Sandboxed<format::FormatPlugin>);

impl FormatInstance {
    pub(crate) fn new(
        engine: &Engine,
        pre: &format::FormatPluginPre<SandboxState>,
        config: Config<'_>,
        limits: Limits,
    ) -> Result<Self, HostError> {
        Sandboxed::create(
            engine,
            limits,
            |s| pre.instantiate(s),
            |b, s| b.flicker_operator_format().formatter().call_constructor(s, config),
        )
        .map(Self)
    }

    /// Formats one batch into output bytes.
    pub fn format(&mut self, batch: &[u8]) -> Result<Vec<u8>, CallError> {
        self.0.call_bytes(|b, s, r| b.flicker_operator_format().formatter().call_format(s, r, batch))
    }

    /// What the guest wrote to stderr so far.
    pub fn stderr(&self) -> String {
        stderr(&self.0.store)
    }
}
