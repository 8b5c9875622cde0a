//! What shapes the companion beyond the model: its persona and memory, read from the vault,
//! and the tools it may call (the vault's own, and those of MCP servers), by the sender's
//! trust level.

pub mod mcp;
pub mod memory;
pub mod persona;
pub mod toolbox;
pub mod vault_path;
pub mod vault_tools;

pub use mcp::{McpServerStatus, McpServers, McpSlot, McpTool};
pub use persona::PersonaFile;
pub use toolbox::{ToolCall, ToolOutcome, ToolSpec, Toolbox};
