//! Speech to text for voice messages of every platform: an OpenAI-compatible
//! `POST {base_url}/audio/transcriptions` (multipart `file`, `model`, `response_format`, and
//! `language` when configured), hosted or a local whisper server.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use parachute_core::config::TranscriberConfig;
use reqwest::multipart::{Form, Part};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::messages::VoiceNote;
use crate::service_http::{RetryPolicy, ServiceError, http_client, send_with_retry};

/// Why a voice message has no transcript.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranscribeError {
    /// The server failed, refused or did not answer in time.
    #[error("the transcription service failed: {0}")]
    Service(#[from] ServiceError),
    /// The server heard no words.
    #[error("no words were recognized")]
    NothingHeard,
}

/// A configured transcription server.
#[derive(Clone)]
pub struct Transcriber {
    client: reqwest::Client,
    url: String,
    model: String,
    language: Option<String>,
    api_key: Option<SecretString>,
    timeout: Duration,
    retry: RetryPolicy,
}

#[derive(Deserialize)]
struct TranscriptionResponse {
    text: String,
}

impl Transcriber {
    /// From the `transcriber` section; `Ok(None)` when no `base_url` is configured.
    pub fn from_config(config: &TranscriberConfig) -> Result<Option<Self>, TranscribeError> {
        let Some(base_url) = config.effective_base_url() else {
            return Ok(None);
        };
        Ok(Some(Self {
            client: http_client()?,
            url: format!("{base_url}/audio/transcriptions"),
            model: config.model.trim().to_owned(),
            language: config.language.clone(),
            api_key: config.api_key.clone(),
            timeout: config.timeout.0,
            retry: RetryPolicy::with_retries(config.max_retries),
        }))
    }

    /// The same transcriber waiting between retries as `retry` says (tests use short delays).
    pub fn with_retry_policy(self, retry: RetryPolicy) -> Self {
        Self { retry, ..self }
    }

    /// The words spoken in `note`, trimmed.
    pub async fn transcribe(&self, note: &VoiceNote) -> Result<String, TranscribeError> {
        let build = || {
            let file = Part::bytes(note.data.to_vec())
                .file_name(file_name(note))
                .mime_str(&note.mime_type)
                .map_err(|e| ServiceError::Request(format!("MIME type `{}`: {e}", note.mime_type)))?;
            let mut form =
                Form::new().part("file", file).text("model", self.model.clone()).text("response_format", "json");
            if let Some(language) = &self.language {
                form = form.text("language", language.clone());
            }
            let mut request = self.client.post(&self.url).multipart(form);
            if let Some(key) = &self.api_key {
                request = request.bearer_auth(key.expose_secret());
            }
            Ok(request)
        };
        let body = send_with_retry("transcriber", &self.retry, self.timeout, self.api_key.as_ref(), build).await?;
        let response: TranscriptionResponse = serde_json::from_slice(&body)
            .map_err(|e| ServiceError::Malformed(format!("not a transcription answer: {e}")))?;
        let text = response.text.trim();
        if text.is_empty() {
            return Err(TranscribeError::NothingHeard);
        }
        Ok(text.to_owned())
    }
}

/// The name the file is uploaded under: the platform's, or one the server can guess the
/// format from.
fn file_name(note: &VoiceNote) -> String {
    let name = note.file_name.trim();
    if !name.is_empty() {
        return name.to_owned();
    }
    let extension = match note.mime_type.as_str() {
        "audio/ogg" | "audio/opus" => "ogg",
        "audio/mpeg" | "audio/mp3" => "mp3",
        "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
        "audio/mp4" | "audio/m4a" | "audio/x-m4a" => "m4a",
        "audio/webm" => "webm",
        "audio/flac" => "flac",
        _ => "bin",
    };
    format!("voice.{extension}")
}

/// The transcriber of the current config, rebuilt when the `transcriber` section changes.
#[derive(Default)]
pub struct TranscriberSlot {
    built: Mutex<Option<(String, Option<Arc<Transcriber>>)>>,
}

impl TranscriberSlot {
    /// The transcriber for `config`, or `None` when none is configured (or it cannot be
    /// built, which is logged).
    pub fn get(&self, config: &TranscriberConfig) -> Option<Arc<Transcriber>> {
        // The serialized section is the identity: any changed key rebuilds the transcriber.
        let key = serde_json::to_string(config).unwrap_or_default();
        let mut built = self.built.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((current, transcriber)) = &*built
            && *current == key
        {
            return transcriber.clone();
        }
        let transcriber = match Transcriber::from_config(config) {
            Ok(transcriber) => transcriber.map(Arc::new),
            Err(err) => {
                tracing::error!(error = %err, "cannot build the transcriber; voice messages are not transcribed");
                None
            }
        };
        *built = Some((key, transcriber.clone()));
        transcriber
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_without_a_name_get_one_matching_their_type() {
        let note = |mime: &str, name: &str| VoiceNote {
            mime_type: mime.into(),
            file_name: name.into(),
            data: Arc::from(&b""[..]),
        };
        assert_eq!(file_name(&note("audio/ogg", "voice.ogg")), "voice.ogg");
        assert_eq!(file_name(&note("audio/ogg", " ")), "voice.ogg");
        assert_eq!(file_name(&note("audio/x-wav", "")), "voice.wav");
        assert_eq!(file_name(&note("application/x-unknown", "")), "voice.bin");
    }

    #[test]
    fn the_slot_follows_the_section() {
        let slot = TranscriberSlot::default();
        assert!(slot.get(&TranscriberConfig::default()).is_none());
        let configured =
            TranscriberConfig { base_url: Some("http://127.0.0.1:9/v1/".into()), ..TranscriberConfig::default() };
        let first = slot.get(&configured).unwrap();
        assert_eq!(first.url, "http://127.0.0.1:9/v1/audio/transcriptions");
        assert!(Arc::ptr_eq(&first, &slot.get(&configured).unwrap()));
        assert!(slot.get(&TranscriberConfig::default()).is_none());
    }
}
