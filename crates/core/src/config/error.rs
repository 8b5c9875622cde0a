//! Config errors that name the key path and, when known, the line and column.

use std::fmt;

/// Why a config could not be loaded, validated or saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A value is missing, malformed or not allowed.
    #[error("{}", Invalid::display(field, message, location))]
    Invalid {
        /// Dotted key path, e.g. `matrix.homeserver_url`; empty for the document itself.
        field: String,
        /// What is wrong, for a person.
        message: String,
        /// 1-based line and column in the file, when the error comes from a file.
        location: Option<(usize, usize)>,
    },
    /// A key the API may not change this way (see `check_api_update`); the file is unchanged.
    #[error("{field}: {message}")]
    Refused {
        /// Dotted key path.
        field: String,
        /// Why, and what to do instead.
        message: String,
    },
    /// The file no longer says what the running server read from it (edited by hand, by
    /// another command); saving on top would undo that change, so nothing is saved.
    #[error(
        "{path} was changed since the server read it: reload it (kill -HUP, systemctl reload parachute) or undo \
         that change, then save again; nothing was saved"
    )]
    ChangedOnDisk {
        /// The file concerned.
        path: String,
    },
    /// The file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file concerned.
        path: String,
        /// The operating system's reason.
        message: String,
    },
}

struct Invalid;

impl Invalid {
    fn display(field: &str, message: &str, location: &Option<(usize, usize)>) -> String {
        let mut out = String::new();
        if !field.is_empty() {
            out.push_str(field);
            out.push_str(": ");
        }
        out.push_str(message);
        if let Some((line, column)) = location {
            out.push_str(&format!(" (line {line}, column {column})"));
        }
        out
    }
}

impl ConfigError {
    /// An invalid value at `field`, location unknown.
    pub fn invalid(field: impl Into<String>, message: impl fmt::Display) -> Self {
        ConfigError::Invalid { field: field.into(), message: message.to_string(), location: None }
    }

    /// A refused change of `field`.
    pub fn refused(field: impl Into<String>, message: impl fmt::Display) -> Self {
        ConfigError::Refused { field: field.into(), message: message.to_string() }
    }

    /// The key path the error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { field, .. } | ConfigError::Refused { field, .. } if !field.is_empty() => Some(field),
            _ => None,
        }
    }

    /// Whether the update was refused by policy rather than invalid.
    pub fn is_refusal(&self) -> bool {
        matches!(self, ConfigError::Refused { .. })
    }

    /// The error without its file location (for API answers about a merged document).
    pub fn without_location(self) -> Self {
        match self {
            ConfigError::Invalid { field, message, .. } => ConfigError::Invalid { field, message, location: None },
            other => other,
        }
    }
}
