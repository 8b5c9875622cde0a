//! The reliability summary: each fault scenario of the suite appends one row to
//! `target/reliability-summary.tsv` (tab separated) and prints it; `.ci/run` prints the table
//! after the tests.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// What one fault scenario measured.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    /// What was done to the system.
    pub scenario: &'static str,
    /// Messages sent by people during the scenario.
    pub sent: usize,
    /// Messages answered at least once.
    pub answered: usize,
    /// Extra answers to an already answered message.
    pub duplicates: usize,
    /// Messages never answered.
    pub lost: usize,
    /// Time from the fault's end until the connector was connected again, where it applies.
    pub recovery: Option<Duration>,
}

impl ScenarioResult {
    /// Counts answered, lost and duplicates from the sent event ids and the ids each answer
    /// replied to.
    pub fn from_answers<'a>(
        scenario: &'static str,
        sent: &[String],
        answered_ids: impl IntoIterator<Item = &'a str>,
        recovery: Option<Duration>,
    ) -> Self {
        let mut answers: HashMap<&str, usize> = HashMap::new();
        for id in answered_ids {
            *answers.entry(id).or_default() += 1;
        }
        let lost = sent.iter().filter(|id| !answers.contains_key(id.as_str())).count();
        let duplicates = sent.iter().filter_map(|id| answers.get(id.as_str())).map(|n| n.saturating_sub(1)).sum();
        ScenarioResult { scenario, sent: sent.len(), answered: sent.len() - lost, duplicates, lost, recovery }
    }

    /// One tab-separated line of the summary.
    pub fn row(&self) -> String {
        let recovery = self.recovery.map_or("-".to_owned(), |d| format!("{:.2}s", d.as_secs_f64()));
        format!("{}\t{}\t{}\t{}\t{}\t{}", self.scenario, self.sent, self.answered, self.duplicates, self.lost, recovery)
    }

    /// Prints the row and appends it to the summary file (one write, so concurrent tests do
    /// not interleave).
    pub fn record(&self) {
        let row = self.row();
        println!("scenario\tsent\tanswered\tduplicates\tlost\trecovery\n{row}");
        let path = summary_path();
        let line = format!("{row}\n");
        if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(&path) {
            let _ = file.write_all(line.as_bytes());
        }
    }
}

/// `target/reliability-summary.tsv` of the workspace.
pub fn summary_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/reliability-summary.tsv")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lost_and_duplicates() {
        let sent = vec!["$a".to_owned(), "$b".to_owned(), "$c".to_owned()];
        let result = ScenarioResult::from_answers("x", &sent, ["$a", "$a", "$b", "$other"], None);
        assert_eq!((result.sent, result.answered, result.duplicates, result.lost), (3, 2, 1, 1));
        assert_eq!(result.row(), "x\t3\t2\t1\t1\t-");
    }
}
