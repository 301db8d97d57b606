//! Asking a plugin, before a job runs, the row type of its operator: the `*-schema` interfaces of
//! `flicker:operator@0.2.1` (and `cogroup-schema`, since 0.2.2). A component built for 0.2.0
//! exports none: it cannot say, and its rows are checked when they come.

use crate::bindings::types;
use crate::sandbox::{SandboxMaker, SandboxState, arm_deadline, classify, creation_failed};
use crate::{CallError, HostError, Limits};
use flicker_batch::{RowType, TypeMismatch};
use flicker_protocol::OperatorKind;
use wasmtime::component::{Component, ComponentExportIndex, InstancePre};

type Pairs = Vec<(String, String)>;
type Answer = Result<Option<types::RowType>, types::TypeMismatch>;

/// The `*-schema` function a component exports for its operator, if it exports one.
#[derive(Clone)]
pub(crate) struct SchemaFunction {
    kind: OperatorKind,
    index: ComponentExportIndex,
}

/// Why asking a plugin for a row type failed.
#[derive(Debug, thiserror::Error)]
pub enum TypeCheckError {
    /// The operator cannot take rows of the input type.
    #[error("{0}")]
    Mismatch(TypeMismatch),
    /// The call failed (a trap or a limit).
    #[error("its row type check failed: {0}")]
    Call(#[from] CallError),
    /// No sandbox could be made for the check (the node's sandboxes were all in use).
    #[error("its row type could not be checked: {0}")]
    Sandbox(HostError),
}

impl SchemaFunction {
    /// The schema function of `component`, whose operator is of `kind`, if it exports one.
    pub(crate) fn find(component: &Component, kind: OperatorKind) -> Option<Self> {
        let (interface, function) = match kind {
            OperatorKind::Parse => ("flicker:operator/parse-schema@0.2.2", "output-type"),
            OperatorKind::Map => ("flicker:operator/map-schema@0.2.2", "output-type"),
            OperatorKind::Aggregate => ("flicker:operator/aggregate-schema@0.2.2", "output-type"),
            OperatorKind::CoGroup => ("flicker:operator/cogroup-schema@0.2.2", "output-type"),
            OperatorKind::Format => ("flicker:operator/format-schema@0.2.2", "check-input"),
        };
        let interface = component.get_export_index(None, interface)?;
        let index = component.get_export_index(Some(&interface), function)?;
        Some(Self { kind, index })
    }

    /// Asks the plugin, in a sandbox of its own under `limits`, the row type its operator built
    /// from `config` outputs for rows of the types `inputs` (none for a parse operator; one but
    /// for a co-group operator; a format operator only checks its input and answers `None`).
    pub(crate) fn output_type(
        &self,
        maker: &SandboxMaker,
        pre: &InstancePre<SandboxState>,
        config: &[(String, String)],
        inputs: &[RowType],
        limits: Limits,
    ) -> Result<Option<RowType>, TypeCheckError> {
        let mut given = inputs.iter().map(|input| types::RowType::from(input.clone()));
        let input = match (self.kind, inputs.len()) {
            (OperatorKind::Parse, _) => Input::Lines,
            (OperatorKind::CoGroup, _) => Input::Several(given.collect()),
            (_, 1) => Input::One(given.next().expect("one input type")),
            // Rows of an unknown type: nothing to check before they come, no sandbox to make.
            (_, _) => return Ok(None),
        };
        let mut store = maker.store(limits.into()).map_err(TypeCheckError::Sandbox)?;
        arm_deadline(&mut store);
        let instance = match pre.instantiate(&mut store) {
            Ok(instance) => instance,
            Err(error) => return Err(TypeCheckError::Sandbox(creation_failed(&store, error))),
        };
        let called = (|| {
            let config = config.to_vec();
            match (self.kind, input) {
                (OperatorKind::Format, Input::One(input)) => {
                    let f = instance
                        .get_typed_func::<(Pairs, types::RowType), (Result<(), types::TypeMismatch>,)>(
                            &mut store,
                            &self.index,
                        )?;
                    Ok(f.call(&mut store, (config, input))?.0.map(|()| None))
                }
                (_, Input::One(input)) => {
                    let f = instance
                        .get_typed_func::<(Pairs, types::RowType), (Answer,)>(&mut store, &self.index)?;
                    Ok(f.call(&mut store, (config, input))?.0)
                }
                (_, Input::Several(inputs)) => {
                    let f = instance
                        .get_typed_func::<(Pairs, Vec<types::RowType>), (Answer,)>(&mut store, &self.index)?;
                    Ok(f.call(&mut store, (config, inputs))?.0)
                }
                (_, Input::Lines) => {
                    let f = instance.get_typed_func::<(Pairs,), (Answer,)>(&mut store, &self.index)?;
                    Ok(f.call(&mut store, (config,))?.0)
                }
            }
        })();
        match called {
            Ok(answer) => {
                answer.map(|rows| rows.map(Into::into)).map_err(|m| TypeCheckError::Mismatch(m.into()))
            }
            Err(error) => Err(TypeCheckError::Call(classify(&store, error))),
        }
    }
}

/// What a schema function is asked about.
enum Input {
    /// A parse operator's lines: no row type.
    Lines,
    /// The rows of the step's one input.
    One(types::RowType),
    /// The rows of each input of a co-group step.
    Several(Vec<types::RowType>),
}

flicker_batch::wit_row_type_conversions!(types);
