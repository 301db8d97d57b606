//! Operator instances: one sandboxed store each, called once per batch.

use crate::bindings::{aggregate, cogroup, format, map, parse, types};
use crate::sandbox::{
    SandboxMaker, SandboxState, begin_call, check_output, classify, creation_failed, end_call,
    operator_failed, output, peak_memory, stderr,
};
use crate::{CallError, HostError, OperatorError, OperatorOutput, Sandbox};
use flicker_protocol::text::{MAX_OPERATOR_TEXT, bounded};
use std::time::Instant;
use wasmtime::Store;
use wasmtime::component::ResourceAny;

type Config<'a> = &'a [(String, String)];
type GuestResult<R> = wasmtime::Result<Result<R, types::Error>>;

/// An operator's error, its texts bounded ([`MAX_OPERATOR_TEXT`]): an operator cannot make a
/// report, a log line or a journal record as large as it likes.
impl From<types::Error> for OperatorError {
    fn from(error: types::Error) -> Self {
        let text = |message| bounded(message, MAX_OPERATOR_TEXT);
        match error {
            types::Error::InvalidConfig(m) => OperatorError::InvalidConfig(text(m)),
            types::Error::BadRecord(r) => {
                OperatorError::BadRecord { index: r.index, offset: r.offset, message: text(r.message) }
            }
            types::Error::Failed(m) => OperatorError::Failed(text(m)),
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
    /// Instantiates the component and creates its operator, both in the sandbox and under the
    /// limits of the step (`create` is a call like any other, metered with the instantiation).
    fn create(
        maker: &SandboxMaker,
        sandbox: Sandbox,
        instantiate: impl FnOnce(&mut Store<SandboxState>) -> wasmtime::Result<B>,
        construct: impl FnOnce(&B, &mut Store<SandboxState>) -> GuestResult<ResourceAny>,
    ) -> Result<Self, HostError> {
        let mut store = maker.store(sandbox)?;
        begin_call(&mut store)?;
        let started = Instant::now();
        let created = instantiate(&mut store)
            .and_then(|bindings| Ok(construct(&bindings, &mut store)?.map(|resource| (bindings, resource))));
        metrics::histogram!(flicker_metrics::OPERATOR_INSTANTIATE).record(started.elapsed());
        // Charged before the failure is classified, which may name the account.
        let charged = end_call(&mut store);
        match created {
            Ok(Ok((bindings, resource))) => {
                charged?;
                Ok(Self { store, bindings, resource, poisoned: false })
            }
            Ok(Err(error)) => Err(HostError::Create(operator_failed(&store, error.into()))),
            Err(trap) => Err(creation_failed(&store, trap)),
        }
    }

    fn call<R>(
        &mut self,
        call: impl FnOnce(&B, &mut Store<SandboxState>, ResourceAny) -> GuestResult<R>,
    ) -> Result<R, CallError> {
        if self.poisoned {
            return Err(CallError::Poisoned);
        }
        begin_call(&mut self.store)?;
        let called = call(&self.bindings, &mut self.store, self.resource);
        let charged = end_call(&mut self.store);
        match called {
            // A call that returned but took its task past its CPU budget fails with the budget.
            Ok(Ok(value)) => charged.map(|()| value),
            Ok(Err(error)) => {
                let failed = operator_failed(&self.store, error.into());
                self.poisoned = matches!(failed, CallError::LimitExceeded(_));
                Err(failed)
            }
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
    /// Records read into rows (more than the rows when the parser combined them per key).
    pub records: u32,
}

/// The bindings of one operator world: how to instantiate it and construct its resource (sealed:
/// implemented for the five worlds of `wit/operator.wit` only).
pub trait World: Sized {
    /// The pre-linked instance template.
    type Pre;
    /// Instantiates the template in `store`.
    fn instantiate(pre: &Self::Pre, store: &mut Store<SandboxState>) -> wasmtime::Result<Self>;
    /// Calls the resource's static `create` function with the step's config (and, for a co-group
    /// operator, the step's number of inputs; every other kind has one).
    fn construct(
        &self,
        store: &mut Store<SandboxState>,
        config: Config<'_>,
        inputs: u32,
    ) -> GuestResult<ResourceAny>;
}

/// Implements [`World`] for the bindings of a world: its instance template, and how its
/// resource's `create` is called.
macro_rules! world {
    ($world:ty, $pre:ty, |$bindings:ident, $store:ident, $config:ident, $inputs:pat_param| $create:expr) => {
        impl World for $world {
            type Pre = $pre;
            fn instantiate(pre: &Self::Pre, store: &mut Store<SandboxState>) -> wasmtime::Result<Self> {
                pre.instantiate(store)
            }
            fn construct(
                &self,
                $store: &mut Store<SandboxState>,
                $config: Config<'_>,
                $inputs: u32,
            ) -> GuestResult<ResourceAny> {
                let $bindings = self;
                $create
            }
        }
    };
}

world!(parse::ParseOperator, parse::ParseOperatorPre<SandboxState>, |b, store, config, _| {
    b.flicker_operator_parse().parser().call_create(store, config)
});
world!(map::MapOperator, map::MapOperatorPre<SandboxState>, |b, store, config, _| {
    b.flicker_operator_map().mapper().call_create(store, config)
});
world!(aggregate::AggregateOperator, aggregate::AggregateOperatorPre<SandboxState>, |b, store, config, _| {
    b.flicker_operator_aggregate().aggregator().call_create(store, config)
});
world!(cogroup::CogroupOperator, cogroup::CogroupOperatorPre<SandboxState>, |b, store, config, inputs| {
    b.flicker_operator_cogroup().cogrouper().call_create(store, config, inputs)
});
world!(format::FormatOperator, format::FormatOperatorPre<SandboxState>, |b, store, config, _| {
    b.flicker_operator_format().formatter().call_create(store, config)
});

/// An operator instance of one kind, in its own sandboxed store.
pub struct Instance<W>(Sandboxed<W>);

/// A parse operator instance.
pub type ParseInstance = Instance<parse::ParseOperator>;
/// A map operator instance.
pub type MapInstance = Instance<map::MapOperator>;
/// An aggregate operator instance.
pub type AggregateInstance = Instance<aggregate::AggregateOperator>;
/// A co-group operator instance.
pub type CoGroupInstance = Instance<cogroup::CogroupOperator>;
/// A format operator instance.
pub type FormatInstance = Instance<format::FormatOperator>;

impl<W: World> Instance<W> {
    pub(crate) fn new(
        maker: &SandboxMaker,
        pre: &W::Pre,
        config: Config<'_>,
        inputs: u32,
        sandbox: Sandbox,
    ) -> Result<Self, HostError> {
        Sandboxed::create(maker, sandbox, |s| W::instantiate(pre, s), |b, s| b.construct(s, config, inputs))
            .map(Self)
    }
}

impl<W> Instance<W> {
    /// What the guest wrote to stderr so far.
    pub fn stderr(&self) -> String {
        stderr(&self.0.store)
    }

    /// The most memory the instance held, in bytes: all its linear memories and tables together,
    /// as they count against its memory limit.
    pub fn peak_memory(&self) -> u64 {
        peak_memory(&self.0.store)
    }

    /// What the guest wrote to stdout and stderr so far (the first and last bytes of each, bounded by
    /// [`Limits::captured`]), after a failed call too.
    pub fn output(&self) -> OperatorOutput {
        output(&self.0.store)
    }
}

impl ParseInstance {
    /// Parses a chunk of whole records.
    pub fn parse(&mut self, chunk: &[u8]) -> Result<Parsed, CallError> {
        let parsed = self.0.call(|b, s, r| b.flicker_operator_parse().parser().call_parse(s, r, chunk))?;
        check_output(&self.0.store, parsed.rows.len())?;
        Ok(Parsed { rows: parsed.rows, skipped: parsed.skipped, records: parsed.records })
    }
}

impl MapInstance {
    /// Maps one batch.
    pub fn map(&mut self, batch: &[u8]) -> Result<Vec<u8>, CallError> {
        self.0.call_bytes(|b, s, r| b.flicker_operator_map().mapper().call_map(s, r, batch))
    }
}

impl AggregateInstance {
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

    /// The bytes of memory the per-key state holds, as the operator counts them: compare with
    /// [`Limits::spill_threshold`](crate::Limits::spill_threshold).
    pub fn state_bytes(&mut self) -> Result<u64, CallError> {
        self.0.call(|b, s, r| b.flicker_operator_aggregate().aggregator().call_state_bytes(s, r).map(Ok))
    }
}

impl CoGroupInstance {
    /// Map side: the rows of input `input` keyed as they are to be shuffled.
    pub fn prepare(&mut self, input: u32, batch: &[u8]) -> Result<Vec<u8>, CallError> {
        self.0.call_bytes(|b, s, r| b.flicker_operator_cogroup().cogrouper().call_prepare(s, r, input, batch))
    }

    /// Broadcast: prepared rows of input `input` that every later `cogroup` call takes as part of
    /// that input.
    pub fn keep(&mut self, input: u32, batch: &[u8]) -> Result<(), CallError> {
        self.0.call(|b, s, r| b.flicker_operator_cogroup().cogrouper().call_keep(s, r, input, batch))
    }

    /// Reduce side: the output rows of the keys of `inputs` (one batch per input, every key with
    /// all its rows).
    pub fn cogroup(&mut self, inputs: &[Vec<u8>]) -> Result<Vec<u8>, CallError> {
        self.0.call_bytes(|b, s, r| b.flicker_operator_cogroup().cogrouper().call_cogroup(s, r, inputs))
    }
}

impl FormatInstance {
    /// Formats one batch into output bytes.
    pub fn format(&mut self, batch: &[u8]) -> Result<Vec<u8>, CallError> {
        self.0.call_bytes(|b, s, r| b.flicker_operator_format().formatter().call_format(s, r, batch))
    }
}
