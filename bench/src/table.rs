//! The one results table: numbered sections as row groups, each row a measurement beside its
//! reference and goal.

use crate::wrk::Load;

/// The table's columns.
const HEADERS: [&str; 7] = [
    "measurement",
    "result",
    "p50 ms",
    "p99 ms",
    "vs reference",
    "goal",
    "notes",
];

/// A group of rows under a numbered title ("3. /getOne").
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub title: String,
    pub rows: Vec<Row>,
}

impl Section {
    pub fn new(title: impl Into<String>) -> Section {
        Section {
            title: title.into(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }
}

/// One measurement; empty cells print as "-".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub what: String,
    pub result: String,
    pub p50_ms: String,
    pub p99_ms: String,
    pub vs: String,
    pub goal: String,
    pub notes: String,
}

impl Row {
    pub fn new(what: impl Into<String>, result: impl Into<String>) -> Row {
        Row {
            what: what.into(),
            result: result.into(),
            ..Row::default()
        }
    }

    /// A wrk run: requests/s and latency; answers other than `expect` go to the notes.
    pub fn load(what: impl Into<String>, load: &Load, expect: u16) -> Row {
        Row {
            what: what.into(),
            result: format!("{} req/s", thousands(load.rate())),
            p50_ms: format!("{:.2}", load.p50_ms),
            p99_ms: format!("{:.2}", load.p99_ms),
            notes: load.unexpected_note(expect),
            ..Row::default()
        }
    }

    /// `value / reference` against the reference called `name`, and whether it meets
    /// `goal` (a ratio), if there is one.
    #[must_use]
    pub fn versus(mut self, value: f64, reference: f64, name: &str, goal: Option<f64>) -> Row {
        self.vs = match ratio(value, reference) {
            Some(r) => format!("{r:.2}x {name}"),
            None => String::new(),
        };
        if let Some(goal) = goal {
            self.goal = format!(">= {goal:.2}x: {}", met(value, goal * reference));
        }
        self
    }

    #[must_use]
    pub fn note(mut self, note: impl AsRef<str>) -> Row {
        let note = note.as_ref();
        if !note.is_empty() {
            if !self.notes.is_empty() {
                self.notes.push_str("; ");
            }
            self.notes.push_str(note);
        }
        self
    }

    fn cells(&self) -> [&str; HEADERS.len()] {
        [
            &self.what,
            &self.result,
            &self.p50_ms,
            &self.p99_ms,
            &self.vs,
            &self.goal,
            &self.notes,
        ]
    }
}

/// "met" or "missed" for a value against its goal.
pub fn met(value: f64, goal: f64) -> &'static str {
    if value >= goal {
        "met"
    } else {
        "missed"
    }
}

/// `a / b`, if `b` is a number to divide by.
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0 && a.is_finite()).then(|| a / b)
}

/// A count with thousands separators: 1234567.8 -> "1,234,568".
pub fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The sections as one Markdown table; a section is a bold row, its rows follow.
pub fn render(sections: &[Section]) -> String {
    let mut out = format!("| {} |\n", HEADERS.join(" | "));
    out.push_str(&format!("|{}|\n", vec!["---"; HEADERS.len()].join("|")));
    for section in sections {
        let mut title = vec![""; HEADERS.len()];
        let bold = format!("**{}**", cell(&section.title));
        title[0] = &bold;
        out.push_str(&format!("| {} |\n", title.join(" | ")));
        for row in &section.rows {
            let cells: Vec<String> = row
                .cells()
                .iter()
                .map(|c| if c.is_empty() { "-".into() } else { cell(c) })
                .collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
    }
    out
}

/// Text made safe for a table cell: a `|` would start a new column, a newline a new row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_bold_rows_and_empty_cells_are_dashes() {
        let mut ceiling = Section::new("1. HTTP ceiling");
        ceiling.push(Row::new("pingora responder", "100 req/s"));
        let mut drain = Section::new("5. Worker drain");
        drain.push(
            Row::new("worker", "30,000 orders/s")
                .versus(30_000.0, 60_000.0, "raw INSERT", Some(0.4))
                .note("a | b"),
        );
        assert_eq!(
            render(&[ceiling, drain]),
            "| measurement | result | p50 ms | p99 ms | vs reference | goal | notes |\n\
             |---|---|---|---|---|---|---|\n\
             | **1. HTTP ceiling** |  |  |  |  |  |  |\n\
             | pingora responder | 100 req/s | - | - | - | - | - |\n\
             | **5. Worker drain** |  |  |  |  |  |  |\n\
             | worker | 30,000 orders/s | - | - | 0.50x raw INSERT | >= 0.40x: met | a \\| b |\n"
        );
    }

    #[test]
    fn a_goal_below_the_ratio_is_missed() {
        let row = Row::new("success", "x").versus(20.0, 100.0, "ceiling", Some(0.3));
        assert_eq!(row.vs, "0.20x ceiling");
        assert_eq!(row.goal, ">= 0.30x: missed");
    }

    #[test]
    fn no_reference_no_ratio() {
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(Row::new("a", "b").versus(1.0, 0.0, "x", None).vs, "");
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(thousands(-5.0), "0");
    }

    #[test]
    fn notes_are_joined() {
        let row = Row::new("a", "b").note("one").note("").note("two");
        assert_eq!(row.notes, "one; two");
    }

    #[test]
    fn a_wrk_load_becomes_a_row_with_its_unexpected_answers() {
        let load = crate::wrk::parse("RESULT 2010 2.0 0.25 1.5 0\nSTATUS 202 1999\nSTATUS 503 1\n")
            .expect("parses");
        let row = Row::load("success", &load, 202);
        assert_eq!(row.result, "1,000 req/s");
        assert_eq!(row.p50_ms, "0.25");
        assert_eq!(row.p99_ms, "1.50");
        assert_eq!(row.notes, "1 unexpected (503 x1)");
    }
}
