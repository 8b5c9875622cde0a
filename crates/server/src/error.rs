//! API errors as JSON: `{"error": code, "message": text, "field": optional}`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, error};
use parachute_core::config::ConfigError;
use parachute_runtime::messages::ControlError;
use parachute_runtime::pairing::PairingError;
use serde_json::json;

/// An error answer of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// What went wrong, for a person.
    pub message: String,
    /// The config key or request field concerned.
    pub field: Option<String>,
    /// Add `"success": false` (the bot lifecycle endpoints' shape).
    pub with_success: bool,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None, with_success: false }
    }

    /// Names the field concerned.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Adds `"success": false` to the body.
    pub fn with_success(mut self) -> Self {
        self.with_success = true;
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({ "error": self.code, "message": self.message });
        if let Some(field) = &self.field {
            body["field"] = json!(field);
        }
        if self.with_success {
            body["success"] = json!(false);
        }
        HttpResponse::build(self.status).json(body)
    }
}

impl From<ConfigError> for ApiError {
    fn from(err: ConfigError) -> Self {
        match (&err, err.field()) {
            (ConfigError::ChangedOnDisk { .. }, _) => {
                ApiError::new(StatusCode::CONFLICT, "config_changed_on_disk", err.to_string())
            }
            (ConfigError::Io { .. }, _) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "config_write_failed", err.to_string())
            }
            (ConfigError::Refused { field, .. }, _) => {
                ApiError::new(StatusCode::FORBIDDEN, "refused_key", err.to_string()).field(field)
            }
            (_, Some(field)) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_config", err.to_string()).field(field)
            }
            (_, None) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_config", err.to_string()),
        }
    }
}

impl From<ControlError> for ApiError {
    fn from(err: ControlError) -> Self {
        let (status, code) = match &err {
            ControlError::AlreadyRunning(_) => (StatusCode::CONFLICT, "already_running"),
            ControlError::NoToken(_) => (StatusCode::BAD_REQUEST, "no_token"),
            ControlError::NotBuiltIn(_) => (StatusCode::NOT_IMPLEMENTED, "not_built_in"),
            ControlError::Connector(_) => (StatusCode::BAD_GATEWAY, "connector_error"),
            ControlError::Config(inner) => return ApiError::from(inner.clone()),
            ControlError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        };
        ApiError::new(status, code, err.to_string())
    }
}

impl From<PairingError> for ApiError {
    fn from(err: PairingError) -> Self {
        let (status, code) = match &err {
            PairingError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            PairingError::NotPending { .. } => (StatusCode::CONFLICT, "not_pending"),
            PairingError::InvalidChatSetting(invalid) => {
                let field = invalid.field;
                return ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_chat_settings", err.to_string())
                    .field(field);
            }
            PairingError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "store_error"),
        };
        ApiError::new(status, code, err.to_string())
    }
}

impl From<actix::MailboxError> for ApiError {
    fn from(_: actix::MailboxError) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the runtime is not answering")
    }
}

/// Malformed or oversized JSON bodies.
pub fn json_error(err: error::JsonPayloadError, _: &HttpRequest) -> error::Error {
    let api = match &err {
        error::JsonPayloadError::OverflowKnownLength { .. } | error::JsonPayloadError::Overflow { .. } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is too large")
        }
        error::JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_content_type",
            "send JSON with Content-Type: application/json",
        ),
        other => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the request body is not valid JSON: {other}"),
        ),
    };
    api.into()
}

/// Path segments that do not parse (e.g. a non-numeric pairing id).
pub fn path_error(err: error::PathError, _: &HttpRequest) -> error::Error {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no such resource: {err}")).into()
}

/// Query strings that do not parse.
pub fn query_error(err: error::QueryPayloadError, _: &HttpRequest) -> error::Error {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", err.to_string()).into()
}
