//! The labelled lines and the summary table.

use std::sync::Mutex;

pub struct Row {
    pub figure: String,
    pub value: String,
    pub goal: String,
    pub met: Option<bool>,
}

static ROWS: Mutex<Vec<Row>> = Mutex::new(Vec::new());

/// Prints one labelled figure now and keeps it for the summary.
pub fn figure(figure: &str, value: impl Into<String>, goal: &str, met: Option<bool>) {
    let value = value.into();
    let mark = match met {
        Some(true) => "  [goal met]",
        Some(false) => "  [goal MISSED]",
        None => "",
    };
    println!("FIGURE {figure}: {value}{mark}");
    if let Ok(mut rows) = ROWS.lock() {
        rows.push(Row {
            figure: figure.into(),
            value,
            goal: goal.into(),
            met,
        });
    }
}

pub fn note(text: impl AsRef<str>) {
    println!("  {}", text.as_ref());
}

pub fn section(title: &str) {
    println!("\n=== {title} ===");
}

/// The summary as a Markdown table (pasted into docs/benchmarks.md, "Latest figures").
pub fn summary() {
    let rows = ROWS
        .lock()
        .map(|r| {
            r.iter()
                .map(|r| (r.figure.clone(), r.value.clone(), r.goal.clone(), r.met))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    println!("\n=== Summary ===\n");
    println!("| Figure | Measured | Goal | |");
    println!("|---|---|---|---|");
    for (figure, value, goal, met) in rows {
        let verdict = match met {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "",
        };
        println!("| {figure} | {value} | {goal} | {verdict} |");
    }
}

/// p-th percentile (nearest rank) of durations, in milliseconds.
pub fn percentile_ms(samples: &mut [std::time::Duration], p: u32) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort();
    let n = samples.len();
    let rank = (usize::try_from(p).unwrap_or(100) * n)
        .div_ceil(100)
        .clamp(1, n);
    samples[rank - 1].as_secs_f64() * 1000.0
}
