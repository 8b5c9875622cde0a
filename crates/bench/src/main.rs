//! Benchmarks, printed as tables with ratios against a reference measured in the same run.
//!
//! - `parachute-bench [CHATS MESSAGES]`: the in-process message pipeline (connector → pairing
//!   → orchestrator with the echo brain → reply, real SQLite in a temp vault) at 1, 100 and
//!   10,000 chats, next to a bare actor hop that only echoes.
//! - `parachute-bench matrix [ROOMS PER_ROOM]`: Matrix end to end on one local Synapse:
//!   parachute vs a matrix-nio echo bot vs a raw `/sync` client (see `matrix.rs`).
//! - `parachute-bench matrix-defaults [MESSAGES]`: the same three bots, one room, one mention
//!   at a time (each sent once the last was answered), parachute on the config a new user gets.
//! - `parachute-bench soak [MESSAGES]`: the pipeline's closed loop at 100 chats for MESSAGES
//!   answers (100,000 by default) in one runtime, with this process's memory every tenth of
//!   the way, so growth would show.
//! - `parachute-bench stream [ANSWERS]`: time to the first visible text of a streamed answer
//!   (the fake model writing 50 tokens/s) vs time to the whole answer, `stream: edit` next to
//!   `stream: off` (see `stream.rs`).
//! - `parachute-bench idle [SECONDS]`: resident memory of the idle server with all three
//!   connectors connected, next to an idle matrix-nio bot (see `idle.rs`).
//!
//! The end-to-end modes start the `parachute` binary next to this one: build both with
//! `cargo build --release -p parachute -p parachute-bench`.

/// The server's allocator (see `src/main.rs`), so the in-process pipeline measures what the
/// server runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod connector;
mod floor;
mod idle;
mod matrix;
mod pipeline;
mod process;
mod stats;
mod stream;

use std::time::Duration;

use stats::Report;

fn main() {
    // As the server does (src/main.rs): mimalloc's heaps without transparent huge pages.
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    if std::env::args().nth(1).as_deref() == Some("matrix") {
        let numbers: Vec<usize> = std::env::args().skip(2).filter_map(|a| a.parse().ok()).collect();
        let (rooms, per_room) = match numbers.as_slice() {
            [rooms, per_room] => (*rooms, *per_room),
            _ => (100, 20),
        };
        matrix_table(matrix::Load { rooms, per_room, one_at_a_time: false, defaults: false });
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("matrix-defaults") {
        let messages = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(50);
        matrix_table(matrix::Load { rooms: 1, per_room: messages, one_at_a_time: true, defaults: true });
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("soak") {
        let messages = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(100_000);
        soak_table(100, messages);
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("stream") {
        let answers = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(20);
        stream_table(answers, 100);
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("idle") {
        let seconds = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(30);
        idle_table(Duration::from_secs(seconds));
        return;
    }
    // `parachute-bench CHATS MESSAGES` runs one scenario (for profiling); no arguments run all.
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let scenarios: Vec<(usize, usize)> = match args.as_slice() {
        [chats, messages] => vec![(*chats, *messages)],
        // At most 100 messages per chat and 5,000 in all: past those bounds the orchestrator skips
        // messages (by design, see docs/architecture.md), which a burst must not measure.
        _ => vec![(1, 100), (100, 5_000), (1_000, 5_000)],
    };
    println!("parachute pipeline benchmark ({} cores)", std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!(
        "{:<8} {:>9} {:<10} {:>12} {:>10} {:>10} {:>10}",
        "chats", "messages", "run", "msgs/s", "p50", "p99", "max"
    );
    let mut rows = Vec::new();
    for (chats, messages) in scenarios {
        let floor_burst = floor::run(chats, messages);
        let (burst, status) = pipeline::burst(chats, messages);
        let closed = pipeline::closed_loop(chats, messages.min(chats * 20));
        for (label, report) in [("floor", &floor_burst), ("burst", &burst), ("one-by-one", &closed)] {
            print_row(chats, label, report);
        }
        print_row(chats, "status", &status);
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
    println!("(status: GET /api/bots/status asked every millisecond during the burst; msgs/s = answers/s)");
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

fn matrix_table(load: matrix::Load) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let results = runtime.block_on(matrix::run(load));
    let (rooms, per_room) = (load.rooms, load.per_room);
    if load.defaults {
        println!(
            "Matrix end to end on one local Synapse: {per_room} mentions one at a time in {rooms} room; parachute on the default config (mention_only, ack reaction, typing)"
        );
    } else {
        println!("Matrix end to end on one local Synapse: {rooms} rooms x {per_room} messages per bot");
    }
    println!(
        "{:<16} {:>8} {:>5} {:>5} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "bot", "answered", "lost", "dup", "p50", "p99", "RSS MiB", "anon MiB", "file MiB", "peak MiB", "CPU s"
    );
    for r in &results {
        println!(
            "{:<16} {:>8} {:>5} {:>5} {:>8.1}ms {:>8.1}ms {:>9} {:>9} {:>9} {:>9} {:>8}",
            r.name,
            r.report.latencies.len(),
            r.lost,
            r.duplicates,
            r.report.percentile(50.0).as_secs_f64() * 1000.0,
            r.report.percentile(99.0).as_secs_f64() * 1000.0,
            mib(r.memory.rss),
            mib(r.memory.anon),
            mib(r.memory.file),
            mib(r.memory.peak),
            r.cpu.map_or("-".to_owned(), |c| format!("{:.2}", c.as_secs_f64())),
        );
    }
    let find = |name: &str| results.iter().find(|r| r.name == name);
    if let (Some(floor), Some(ours), Some(nio)) = (find("raw /sync floor"), find("parachute"), find("matrix-nio")) {
        let ms = |r: &matrix::BotResult, p: f64| r.report.percentile(p).as_secs_f64() * 1000.0;
        println!();
        println!(
            "parachute vs floor: p50 +{:.1} ms, p99 +{:.1} ms",
            ms(ours, 50.0) - ms(floor, 50.0),
            ms(ours, 99.0) - ms(floor, 99.0)
        );
        println!(
            "parachute / matrix-nio latency: p50 {:.2}x, p99 {:.2}x",
            ms(ours, 50.0) / ms(nio, 50.0),
            ms(ours, 99.0) / ms(nio, 99.0)
        );
        if let (Some(a), Some(b)) = (ours.memory.peak, nio.memory.peak) {
            println!("parachute / matrix-nio peak memory: {:.2}x", a as f64 / b as f64);
        }
        if let (Some(a), Some(b)) = (ours.cpu, nio.cpu) {
            println!("parachute / matrix-nio CPU time: {:.2}x", a.as_secs_f64() / b.as_secs_f64().max(0.001));
        }
    }
}

/// KiB as MiB with one decimal, `-` when unknown.
fn mib(kib: Option<u64>) -> String {
    kib.map_or("-".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
}

fn soak_table(chats: usize, messages: usize) {
    println!("Pipeline soak: {messages} answers, one at a time in each of {chats} chats, in one runtime");
    println!("{:>9} {:>9} {:>9} {:>9}", "answered", "RSS MiB", "anon MiB", "peak MiB");
    let (report, samples) = pipeline::soak(chats, messages);
    for (answered, memory) in samples {
        println!("{answered:>9} {:>9} {:>9} {:>9}", mib(memory.rss), mib(memory.anon), mib(memory.peak));
    }
    println!(
        "throughput {:.0} msgs/s, p50 {:.3} ms, p99 {:.3} ms",
        report.throughput(),
        report.percentile(50.0).as_secs_f64() * 1000.0,
        report.percentile(99.0).as_secs_f64() * 1000.0
    );
}

fn idle_table(idle: Duration) {
    let results = actix::System::new().block_on(idle::run(idle));
    println!("Idle memory after {} s connected", idle.as_secs());
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>9} {:>11}",
        "bot", "RSS MiB", "anon MiB", "file MiB", "peak MiB", "idle CPU s"
    );
    for r in &results {
        println!(
            "{:<28} {:>9} {:>9} {:>9} {:>9} {:>11}",
            r.name,
            mib(r.memory.rss),
            mib(r.memory.anon),
            mib(r.memory.file),
            mib(r.memory.peak),
            r.idle_cpu.map_or("-".to_owned(), |c| format!("{:.2}", c.as_secs_f64()))
        );
    }
    println!("(anon: heap and stacks; file: pages of the program and its libraries, shared with the page cache)");
    if let [ours, nio] = results.as_slice()
        && let (Some(a), Some(b)) = (ours.memory.rss, nio.memory.rss)
    {
        println!("\nparachute (3 connectors) / matrix-nio (1) idle RSS: {:.2}x", a as f64 / b as f64);
    }
}

fn stream_table(answers: usize, words: usize) {
    use parachute_core::config::StreamMode;
    println!("streamed answers: {answers} answers of {words} words, the fake model writing 50 words/s, one at a time");
    let ms = |d: Duration| format!("{:.0}ms", d.as_secs_f64() * 1000.0);
    println!(
        "{:<14} {:>14} {:>14} {:>14} {:>14} {:>12}",
        "stream", "first p50", "first p90", "whole p50", "whole p90", "sends/answer"
    );
    let mut rows = Vec::new();
    for mode in [StreamMode::Off, StreamMode::Edit] {
        let run = stream::run(mode, answers, words);
        println!(
            "{:<14} {:>14} {:>14} {:>14} {:>14} {:>12.1}",
            mode.as_str(),
            ms(run.first_text.percentile(50.0)),
            ms(run.first_text.percentile(90.0)),
            ms(run.full_answer.percentile(50.0)),
            ms(run.full_answer.percentile(90.0)),
            run.deliveries_per_answer
        );
        rows.push(run);
    }
    let (off, edit) = (&rows[0], &rows[1]);
    println!();
    println!(
        "first text with stream: edit at {:.1}% of the whole answer's time with stream: off ({} vs {}); \
         the whole answer at {:.1}% of it",
        100.0 * edit.first_text.percentile(50.0).as_secs_f64() / off.full_answer.percentile(50.0).as_secs_f64(),
        ms(edit.first_text.percentile(50.0)),
        ms(off.full_answer.percentile(50.0)),
        100.0 * edit.full_answer.percentile(50.0).as_secs_f64() / off.full_answer.percentile(50.0).as_secs_f64(),
    );
}
