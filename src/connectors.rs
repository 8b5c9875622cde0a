//! The platform connectors compiled into this binary (cargo features `matrix`, `telegram`,
//! `discord`). A platform without one reports "not built in" when started.

use std::sync::Arc;

use parachute_runtime::connector::ConnectorFactory;

/// One factory per platform this binary supports.
pub fn factories() -> Vec<Arc<dyn ConnectorFactory>> {
    vec![
        #[cfg(feature = "matrix")]
        Arc::new(parachute_matrix::MatrixFactory),
        #[cfg(feature = "telegram")]
        Arc::new(parachute_telegram::TelegramFactory),
        #[cfg(feature = "discord")]
        Arc::new(parachute_discord::DiscordFactory),
    ]
}
