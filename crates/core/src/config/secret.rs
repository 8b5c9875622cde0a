//! Serde helpers for secrets: read as `SecretString`, written out only to the config file.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serializer};

/// Serializes an optional secret in clear text. Only the config file writer uses this; the API
/// goes through the masked view, which drops secrets before anything is sent.
pub fn serialize<S: Serializer>(value: &Option<SecretString>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(secret) => serializer.serialize_str(secret.expose_secret()),
        None => serializer.serialize_none(),
    }
}

/// Reads an optional secret; an empty string means "not set".
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<SecretString>, D::Error> {
    let raw: Option<String> = Option::deserialize(deserializer)?;
    Ok(raw.filter(|s| !s.trim().is_empty()).map(|s| SecretString::from(s.trim().to_owned())))
}

/// Whether an optional secret is set.
pub fn is_set(value: &Option<SecretString>) -> bool {
    value.as_ref().is_some_and(|s| !s.expose_secret().is_empty())
}
