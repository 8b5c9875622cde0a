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

#[actix::test]
async fn the_access_log_says_who_asked_for_what() {
    let synapse = Synapse::start();
    let alice = parachute_testkit::matrix_user::MatrixUser::register(&synapse.url(), "alice").await;
    alice.set_display_name("Alice").await;
    let requests = synapse.requests();
    let by_alice: Vec<_> = requests.iter().filter(|r| r.requester.as_deref() == Some(alice.user_id.as_str())).collect();
    assert!(by_alice.iter().any(|r| r.method == "PUT" && r.path.contains("/profile/")), "{requests:#?}");
    assert!(!requests.iter().any(|r| r.is_media_download()));
}
