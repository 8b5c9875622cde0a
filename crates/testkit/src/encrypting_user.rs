//! A person with a real end-to-end encrypting client (matrix-sdk, keys in memory) on the
//! test homeserver: sends encrypted messages and decrypts what the bot answers.

use std::time::{Duration, Instant};

use matrix_sdk::authentication::matrix::MatrixSession;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::events::room::member::MembershipState;
use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;
use matrix_sdk::ruma::{OwnedDeviceId, OwnedRoomId, OwnedUserId};
use matrix_sdk::store::RoomLoadSettings;
use matrix_sdk::{Client, SessionMeta, SessionTokens};
use serde_json::Value;

use crate::matrix_user::MatrixUser;

/// A user's encrypting client, on the device of their [`MatrixUser`] token.
pub struct EncryptingUser {
    /// The SDK client.
    pub client: Client,
    settings: SyncSettings,
}

impl EncryptingUser {
    /// Logs `user`'s device in and syncs once (which uploads its device keys).
    pub async fn new(base: &str, user: &MatrixUser) -> Self {
        let client = Client::builder().homeserver_url(base).build().await.expect("client");
        let session = MatrixSession {
            meta: SessionMeta {
                user_id: user.user_id.as_str().try_into().expect("user id"),
                device_id: user.device_id.as_str().into(),
            },
            tokens: SessionTokens { access_token: user.access_token.clone(), refresh_token: None },
        };
        client.matrix_auth().restore_session(session, RoomLoadSettings::default()).await.expect("session");
        let mut me = Self { client, settings: SyncSettings::default().timeout(Duration::from_millis(500)) };
        me.sync().await;
        me
    }

    /// One sync; returns the timeline events of `room` it brought, as JSON (decrypted where
    /// the client could).
    async fn sync_room(&mut self, room: Option<&OwnedRoomId>) -> Vec<Value> {
        let response = self.client.sync_once(self.settings.clone()).await.expect("sync");
        self.settings = self.settings.clone().token(response.next_batch.clone());
        let Some(room) = room else { return Vec::new() };
        response
            .rooms
            .joined
            .get(room)
            .into_iter()
            .flat_map(|r| r.timeline.events.iter())
            .filter_map(|event| serde_json::from_str(event.raw().json().get()).ok())
            .collect()
    }

    /// One sync.
    pub async fn sync(&mut self) {
        self.sync_room(None).await;
    }

    /// Syncs until `member` is joined to `room` as this client sees it.
    pub async fn wait_joined(&mut self, room: &str, member: &str, timeout: Duration) {
        let room_id = OwnedRoomId::try_from(room).expect("room id");
        let member = OwnedUserId::try_from(member).expect("user id");
        let deadline = Instant::now() + timeout;
        loop {
            self.sync().await;
            if let Some(joined) = self.client.get_room(&room_id)
                && let Ok(Some(found)) = joined.get_member_no_sync(&member).await
                && *found.membership() == MembershipState::Join
            {
                return;
            }
            assert!(Instant::now() < deadline, "{member} never joined {room} as this client sees it");
        }
    }

    /// Sends an encrypted text (the room must be encrypted and known to the client).
    pub async fn send_text(&self, room: &str, text: &str) -> String {
        let room_id = OwnedRoomId::try_from(room).expect("room id");
        let joined = self.client.get_room(&room_id).expect("a room this client knows");
        assert!(joined.latest_encryption_state().await.expect("encryption state").is_encrypted());
        joined.send(RoomMessageEventContent::text_plain(text)).await.expect("send").response.event_id.to_string()
    }

    /// The bodies of the next `n` messages `sender` posts in `room`, decrypted by this client.
    pub async fn next_messages(&mut self, room: &str, sender: &str, n: usize, timeout: Duration) -> Vec<String> {
        let contents = self.next_message_contents(room, sender, timeout, |contents| contents.len() >= n).await;
        contents.iter().map(|c| c["body"].as_str().unwrap_or_default().to_owned()).collect()
    }

    /// The decrypted contents of `sender`'s next messages in `room` (edits included), synced
    /// until `done` holds for them.
    pub async fn next_message_contents(
        &mut self,
        room: &str,
        sender: &str,
        timeout: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let room_id = OwnedRoomId::try_from(room).expect("room id");
        let deadline = Instant::now() + timeout;
        let mut contents = Vec::new();
        while !done(&contents) {
            assert!(Instant::now() < deadline, "{sender}'s messages not as awaited: {contents:#?}");
            for event in self.sync_room(Some(&room_id)).await {
                if event["type"] == "m.room.message" && event["sender"] == sender {
                    contents.push(event["content"].clone());
                }
            }
        }
        contents
    }

    /// Whether this client sees `user`'s `device` signed by `user`'s own cross-signing
    /// identity (asking the homeserver again until `timeout`).
    pub async fn sees_signed_by_owner(&self, user: &str, device: &str, timeout: Duration) -> bool {
        let user = OwnedUserId::try_from(user).expect("user id");
        let device = OwnedDeviceId::from(device);
        let encryption = self.client.encryption();
        let deadline = Instant::now() + timeout;
        loop {
            let identity = encryption.request_user_identity(&user).await.ok().flatten();
            let signed = identity.is_some()
                && encryption
                    .get_device(&user, &device)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|d| d.is_cross_signed_by_owner());
            if signed || Instant::now() > deadline {
                return signed;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
