//! The results: one [`Figure`] per measured number, printed as a table and
//! written as JSON (`--json FILE`) so runs can be compared.

use std::fmt::Write as _;

/// One measured figure with its baseline and target.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Stable name (the JSON `name`), e.g. `hostcall_ns`.
    pub name: &'static str,
    /// What it is, for the table.
    pub label: String,
    /// The measured value.
    pub value: f64,
    /// Its unit.
    pub unit: &'static str,
    /// The baseline measured in the same run, if the figure has one.
    pub baseline: Option<f64>,
    /// What the baseline is, for the table.
    pub baseline_label: &'static str,
    /// `value / baseline`.
    pub ratio: Option<f64>,
    /// The target, e.g. `ratio <= 1.5`.
    pub target: String,
    /// Whether the target is met (`None`: informational figure).
    pub meets_target: Option<bool>,
}

/// What a figure is held to; the text and the verdict both come from it.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// `value / baseline <= x`.
    RatioAtMost(f64),
    /// `value / baseline >= x`.
    RatioAtLeast(f64),
    /// `value / baseline < x`.
    RatioBelow(f64),
    /// `value <= x`.
    AtMost(f64),
    /// `value >= x`.
    AtLeast(f64),
}

impl Target {
    fn met(self, value: f64, ratio: Option<f64>) -> bool {
        let ratio = ratio.unwrap_or(f64::NAN);
        match self {
            Target::RatioAtMost(x) => ratio <= x,
            Target::RatioAtLeast(x) => ratio >= x,
            Target::RatioBelow(x) => ratio < x,
            Target::AtMost(x) => value <= x,
            Target::AtLeast(x) => value >= x,
        }
    }

    fn text(self, unit: &str) -> String {
        match self {
            Target::RatioAtMost(x) => format!("ratio <= {x}"),
            Target::RatioAtLeast(x) => format!("ratio >= {x}"),
            Target::RatioBelow(x) => format!("ratio < {x}"),
            Target::AtMost(x) => format!("<= {x} {unit}"),
            Target::AtLeast(x) => format!(">= {x} {unit}"),
        }
    }
}

impl Figure {
    /// Measured beside `baseline` (what `label` says it is); the ratio is
    /// `value / baseline`.
    pub fn against(mut self, baseline: f64, label: &'static str) -> Figure {
        self.baseline = Some(baseline);
        self.baseline_label = label;
        self.ratio = Some(self.value / baseline);
        self
    }

    /// Held to `target` (after [`Figure::against`] for ratio targets).
    pub fn target(self, target: Target) -> Figure {
        let text = target.text(self.unit);
        self.target_described(target, text)
    }

    /// Held to `target`, shown as `text`.
    pub fn target_described(mut self, target: Target, text: impl Into<String>) -> Figure {
        self.meets_target = Some(target.met(self.value, self.ratio));
        self.target = text.into();
        self
    }

    /// A figure without baseline or target.
    pub fn info(name: &'static str, label: impl Into<String>, value: f64, unit: &'static str) -> Figure {
        Figure {
            name,
            label: label.into(),
            value,
            unit,
            baseline: None,
            baseline_label: "",
            ratio: None,
            target: String::new(),
            meets_target: None,
        }
    }
}

fn number(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e6 {
        format!("{v:.3e}")
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The table, one figure a row.
pub fn table(figures: &[Figure]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| figure | value | unit | baseline (same run) | ratio | target | met |\n|---|---:|---|---|---:|---|---|"
    );
    for f in figures {
        let baseline = match f.baseline {
            Some(b) => format!("{} ({})", number(b), f.baseline_label),
            None => "—".into(),
        };
        let ratio = f.ratio.map(number).unwrap_or_else(|| "—".into());
        let met = match f.meets_target {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        let target = if f.target.is_empty() { "—" } else { &f.target };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            f.label,
            number(f.value),
            f.unit,
            baseline,
            ratio,
            target,
            met
        );
    }
    out
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_number(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v}"),
        _ => "null".into(),
    }
}

/// The figures as a JSON array of
/// `{"name", "value", "unit", "baseline", "ratio", "target", "meets_target"}`.
pub fn json(figures: &[Figure]) -> String {
    let rows: Vec<String> = figures
        .iter()
        .map(|f| {
            format!(
                "  {{\"name\": {}, \"value\": {}, \"unit\": {}, \"baseline\": {}, \"ratio\": {}, \"target\": {}, \"meets_target\": {}}}",
                json_string(f.name),
                json_number(Some(f.value)),
                json_string(f.unit),
                json_number(f.baseline),
                json_number(f.ratio),
                if f.target.is_empty() { "null".into() } else { json_string(&f.target) },
                match f.meets_target {
                    Some(m) => m.to_string(),
                    None => "null".into(),
                }
            )
        })
        .collect();
    format!("[\n{}\n]\n", rows.join(",\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_every_field_and_nulls_for_missing_ones() {
        let mut with_baseline = Figure::info("hostcall_ns", "null hostcall", 30.5, "ns");
        with_baseline.baseline = Some(29.0);
        with_baseline.ratio = Some(30.5 / 29.0);
        with_baseline.target = "ratio <= 1.5".into();
        with_baseline.meets_target = Some(true);
        let info = Figure::info("spawn_rust17_us", "a \"quoted\" label", 33.0, "µs");
        let json = json(&[with_baseline, info]);
        assert!(json.starts_with(
            "[\n  {\"name\": \"hostcall_ns\", \"value\": 30.5, \"unit\": \"ns\", \"baseline\": 29,"
        ));
        assert!(json.contains("\"target\": \"ratio <= 1.5\", \"meets_target\": true}"), "{json}");
        assert!(json.contains(
            "{\"name\": \"spawn_rust17_us\", \"value\": 33, \"unit\": \"µs\", \"baseline\": null, \"ratio\": null, \"target\": null, \"meets_target\": null}"
        ), "{json}");
        assert!(json.trim_end().ends_with(']'));
    }

    #[test]
    fn the_table_marks_missed_targets() {
        let mut missed = Figure::info("chan4k_gb_per_s", "4 KiB frames", 6.0, "GB/s");
        missed.baseline = Some(36.0);
        missed.baseline_label = "memcpy";
        missed.ratio = Some(6.0 / 36.0);
        missed.target = "ratio >= 0.5".into();
        missed.meets_target = Some(false);
        let table = table(&[missed]);
        assert!(
            table.contains("| 4 KiB frames | 6.00 | GB/s | 36.00 (memcpy) | 0.167 | ratio >= 0.5 | **no** |"),
            "{table}"
        );
    }
}
