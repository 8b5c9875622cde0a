//! The platform connectors compiled into this binary (cargo features `matrix`, `telegram`,
//! `discord`). A platform without one reports "not built in" when started.

use std::sync::Arc;

use parachute_runtime::connector::ConnectorFactory;

/// One factory per platform this binary supports.
pub fn factories() -> Vec<Arc<dyn ConnectorFactory>> {
    #[allow(unused_mut)]
    let mut factories: Vec<Arc<dyn ConnectorFactory>> = Vec::new();
    factories
}
