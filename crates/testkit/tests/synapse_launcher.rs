//! The Synapse launcher starts a real homeserver that answers /health (asserted by the
//! launcher itself), and brings it back after a restart.

use std::time::Instant;

use parachute_testkit::synapse::Synapse;

#[test]
fn synapse_starts_answers_and_restarts() {
    let started = Instant::now();
    let mut synapse = Synapse::start();
    eprintln!("synapse started in {:?}", started.elapsed());
    let restarted = Instant::now();
    synapse.restart();
    eprintln!("synapse restarted in {:?}", restarted.elapsed());
}
