//! What shapes the companion beyond the model: its persona and memory, read from the vault,
//! and the vault tools it may call, by the sender's trust level.

pub mod memory;
pub mod persona;
pub mod toolbox;
pub mod vault_path;
pub mod vault_tools;

pub use persona::PersonaFile;
pub use toolbox::{ToolCall, ToolOutcome, ToolSpec, Toolbox};
