//! The brain in use, rebuilt when the `brain` config section changes (config reloads).

use std::sync::{Arc, Mutex, PoisonError};

use parachute_core::config::BrainConfig;

use super::{Brain, build_brain};

/// Holds either a fixed brain (given by the embedder, e.g. tests) or the one built from the
/// config, rebuilt whenever the `brain` section differs from the one it was built from.
pub struct BrainSlot {
    fixed: Option<Arc<dyn Brain>>,
    built: Mutex<Option<(String, Arc<dyn Brain>)>>,
}

impl BrainSlot {
    /// Always answers with `brain`, whatever the config says.
    pub fn fixed(brain: Arc<dyn Brain>) -> Self {
        Self { fixed: Some(brain), built: Mutex::new(None) }
    }

    /// Builds the brain from the config, following its changes.
    pub fn from_config() -> Self {
        Self { fixed: None, built: Mutex::new(None) }
    }

    /// The brain for `config` (the current `brain` section).
    pub fn get(&self, config: &BrainConfig) -> Arc<dyn Brain> {
        if let Some(brain) = &self.fixed {
            return brain.clone();
        }
        // The serialized section is the identity: any changed key rebuilds the brain.
        let key = serde_json::to_string(config).unwrap_or_default();
        let mut built = self.built.lock().unwrap_or_else(PoisonError::into_inner);
        match &*built {
            Some((current, brain)) if *current == key => brain.clone(),
            _ => {
                let brain = build_brain(config);
                tracing::info!(brain = brain.name(), "brain (re)built from the config");
                *built = Some((key, brain.clone()));
                brain
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::brain::EchoBrain;
    use parachute_core::config::BrainKind;

    #[test]
    fn a_changed_brain_section_rebuilds_the_brain() {
        let slot = BrainSlot::from_config();
        let echo = BrainConfig::default();
        let first = slot.get(&echo);
        assert_eq!(first.name(), "echo");
        assert!(Arc::ptr_eq(&first, &slot.get(&echo)), "unchanged config keeps the brain");
        let command =
            BrainConfig { kind: BrainKind::Command, command: Some("my-agent".into()), ..BrainConfig::default() };
        assert_eq!(slot.get(&command).name(), "command");
        assert_eq!(slot.get(&echo).name(), "echo");
    }

    #[test]
    fn a_fixed_brain_ignores_the_config() {
        let slot = BrainSlot::fixed(Arc::new(EchoBrain));
        let command =
            BrainConfig { kind: BrainKind::Command, command: Some("my-agent".into()), ..BrainConfig::default() };
        assert_eq!(slot.get(&command).name(), "echo");
    }
}
