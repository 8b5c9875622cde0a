//! `cargo run --release -p parachute-bench`: measures the in-process message pipeline
//! (connector → pairing → orchestrator with the echo brain → reply, with the real SQLite store
//! in a temp vault) at 1, 100 and 10,000 chats, next to a floor: the same messages through a
//! bare actor hop that only echoes. Prints a table and the ratios.

mod connector;
mod floor;
mod pipeline;
mod stats;

use std::time::Duration;

use stats::Report;

fn main() {
    // `parachute-bench CHATS MESSAGES` runs one scenario (for profiling); no arguments run all.
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let scenarios: Vec<(usize, usize)> = match args.as_slice() {
        [chats, messages] => vec![(*chats, *messages)],
        _ => vec![(1, 5_000), (100, 20_000), (10_000, 50_000)],
    };
    println!("parachute pipeline benchmark ({} cores)", std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!(
        "{:<8} {:>9} {:<10} {:>12} {:>10} {:>10} {:>10}",
        "chats", "messages", "run", "msgs/s", "p50", "p99", "max"
    );
    let mut rows = Vec::new();
    for (chats, messages) in scenarios {
        let floor_burst = floor::run(chats, messages);
        let burst = pipeline::burst(chats, messages);
        let closed = pipeline::closed_loop(chats, messages.min(chats * 20));
        for (label, report) in [("floor", &floor_burst), ("burst", &burst), ("one-by-one", &closed)] {
            print_row(chats, label, report);
        }
        rows.push((chats, floor_burst, burst, closed));
    }
    println!();
    for (chats, floor, burst, _) in &rows {
        println!(
            "{chats:>6} chats: pipeline throughput is {:.1}% of the bare-actor floor ({:.0} vs {:.0} msgs/s)",
            100.0 * burst.throughput() / floor.throughput(),
            burst.throughput(),
            floor.throughput()
        );
    }
}

fn print_row(chats: usize, label: &str, report: &Report) {
    let ms = |d: Duration| format!("{:.3}ms", d.as_secs_f64() * 1000.0);
    println!(
        "{:<8} {:>9} {:<10} {:>12.0} {:>10} {:>10} {:>10}",
        chats,
        report.latencies.len(),
        label,
        report.throughput(),
        ms(report.percentile(50.0)),
        ms(report.percentile(99.0)),
        ms(report.percentile(100.0))
    );
}
