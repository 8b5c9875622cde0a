//! A connector for benchmarks: hands injected messages to the runtime and reports every
//! delivered reply (with the time it arrived) on a channel.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::future::BoxFuture;
use parachute_core::config::BotsConfig;
use parachute_core::ids::Platform;
use parachute_runtime::connector::{
    Connector, ConnectorEnv, ConnectorError, ConnectorFactory, ConnectorLink, Identity,
};
use parachute_runtime::messages::{Inbound, Reply, SentPart};
use tokio::sync::{mpsc, oneshot};

/// A delivered reply and when it was delivered.
pub type Delivered = (Reply, Instant);

/// The benchmark connector; clones share the link and the reply channel.
#[derive(Clone)]
pub struct BenchConnector {
    link: Arc<Mutex<Option<ConnectorLink>>>,
    connected: Arc<Mutex<Option<oneshot::Sender<()>>>>,
    replies: mpsc::UnboundedSender<Delivered>,
}

impl BenchConnector {
    /// A connector, a receiver of its replies and a signal for "connected".
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Delivered>, oneshot::Receiver<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (up_tx, up_rx) = oneshot::channel();
        let connector =
            Self { link: Arc::new(Mutex::new(None)), connected: Arc::new(Mutex::new(Some(up_tx))), replies: tx };
        (connector, rx, up_rx)
    }

    /// Hands a message to the runtime.
    pub fn inject(&self, inbound: Inbound) {
        if let Some(link) = self.link.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            link.inbound_now(inbound);
        }
    }
}

impl Connector for BenchConnector {
    fn platform(&self) -> Platform {
        Platform::Telegram
    }

    fn test(&self) -> BoxFuture<'static, Result<Identity, ConnectorError>> {
        Box::pin(async { Ok(Identity::default()) })
    }

    fn run(&self, link: ConnectorLink) -> BoxFuture<'static, Result<(), ConnectorError>> {
        let this = self.clone();
        Box::pin(async move {
            link.connected(Identity { user_id: "bench".into(), ..Identity::default() });
            *this.link.lock().unwrap_or_else(|p| p.into_inner()) = Some(link);
            if let Some(up) = this.connected.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let _ = up.send(());
            }
            std::future::pending().await
        })
    }

    fn deliver(
        &self,
        reply: Reply,
    ) -> BoxFuture<'static, Result<parachute_runtime::messages::Delivered, ConnectorError>> {
        // One message per reply, kept by a streamed answer's edits, as a platform's would be.
        let id = reply.shown.first().map_or_else(|| format!("bench-{}", reply.text.len()), |part| part.id.clone());
        let parts = vec![SentPart::new(id, &reply.text)];
        let _ = self.replies.send((reply, Instant::now()));
        Box::pin(async move { Ok(parts) })
    }
}

/// Hands out the one benchmark connector.
pub struct BenchFactory(pub BenchConnector);

impl ConnectorFactory for BenchFactory {
    fn platform(&self) -> Platform {
        Platform::Telegram
    }

    fn build(&self, _: &BotsConfig, _: &ConnectorEnv) -> Result<Arc<dyn Connector>, ConnectorError> {
        Ok(Arc::new(self.0.clone()))
    }
}
