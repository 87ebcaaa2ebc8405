//! The engines configured in this process, in preference order, and the choice of one
//! for a request: the engine asked for by name, or the first that can do the task.

use std::sync::Arc;

use crate::engine::{Engine, EngineError};
use crate::request::TaskType;

/// The configured engines.
#[derive(Clone, Default)]
pub struct Engines {
    list: Vec<Arc<dyn Engine>>,
}

impl Engines {
    /// Engines in preference order (the first able to do a task is its default).
    pub fn new(list: Vec<Arc<dyn Engine>>) -> Engines {
        Engines { list }
    }

    /// Every engine, in preference order.
    pub fn all(&self) -> &[Arc<dyn Engine>] {
        &self.list
    }

    /// The engine called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Engine>> {
        self.list.iter().find(|e| e.name() == name)
    }

    /// The name to ask [`Engines::choose`] for when `name` is only preferred: `name` if
    /// that engine can do `task` (or is no engine here, so that `choose` says so),
    /// otherwise none (the first engine that can).
    pub fn preferred<'a>(&self, name: &'a str, task: TaskType) -> Option<&'a str> {
        let able = self
            .get(name)
            .is_none_or(|e| e.capabilities().tasks.contains(&task));
        able.then_some(name)
    }

    /// Names of the engines that can do `task`.
    pub fn capable_of(&self, task: TaskType) -> Vec<String> {
        self.list
            .iter()
            .filter(|e| e.capabilities().tasks.contains(&task))
            .map(|e| e.name().to_owned())
            .collect()
    }

    /// The engine for a request: `requested` by name, or the first that can do `task`
    /// and is available. An engine that cannot do the task gets
    /// [`EngineError::Unsupported`] naming the engines that can; an unknown name gets
    /// [`ChooseError::Unknown`]; an engine that cannot run now (and, without a name, no
    /// capable engine being able to) gets [`ChooseError::Unavailable`].
    pub fn choose(
        &self,
        requested: Option<&str>,
        task: TaskType,
    ) -> Result<&Arc<dyn Engine>, ChooseError> {
        let capable = self.capable_of(task);
        let engine = match requested {
            Some(name) => self.get(name).ok_or_else(|| ChooseError::Unknown {
                name: name.to_owned(),
                known: self.list.iter().map(|e| e.name().to_owned()).collect(),
            })?,
            None => match self
                .list
                .iter()
                .filter(|e| e.capabilities().tasks.contains(&task))
                .find(|e| e.unavailable().is_none())
                .or_else(|| {
                    self.list
                        .iter()
                        .find(|e| e.capabilities().tasks.contains(&task))
                }) {
                Some(engine) => engine,
                None => {
                    return Err(ChooseError::Unsupported(EngineError::Unsupported {
                        engine: "any configured".to_owned(),
                        task: task.to_string(),
                        alternatives: Vec::new(),
                    }));
                }
            },
        };
        if !engine.capabilities().tasks.contains(&task) {
            return Err(ChooseError::Unsupported(EngineError::Unsupported {
                engine: engine.name().to_owned(),
                task: task.to_string(),
                alternatives: capable,
            }));
        }
        if let Some(reason) = engine.unavailable() {
            return Err(ChooseError::Unavailable {
                engine: engine.name().to_owned(),
                reason,
            });
        }
        Ok(engine)
    }
}

/// Why no engine was chosen.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChooseError {
    /// No engine has that name here.
    #[error("there is no engine `{name}` here; configured engines: {}", known.join(", "))]
    Unknown {
        /// The name asked for.
        name: String,
        /// The configured engines.
        known: Vec<String>,
    },
    /// The engine cannot do the task.
    #[error(transparent)]
    Unsupported(EngineError),
    /// The engine cannot run now.
    #[error("the `{engine}` engine cannot run: {reason}")]
    Unavailable {
        /// The engine.
        engine: String,
        /// Why, and how to fix it.
        reason: String,
    },
}

/// Bedrock's id of Titan Image Generator v2.
pub const TITAN_IMAGE_V2: &str = "amazon.titan-image-generator-v2:0";
/// Bedrock's id of Nova Canvas.
pub const NOVA_CANVAS: &str = "amazon.nova-canvas-v1:0";

/// The request rules of a model id, for the models whose request format Easel speaks.
pub fn model_family(model_id: &str) -> Option<crate::request::ModelFamily> {
    match model_id {
        TITAN_IMAGE_V2 => Some(crate::request::ModelFamily::Titan),
        NOVA_CANVAS => Some(crate::request::ModelFamily::Nova),
        _ => None,
    }
}
