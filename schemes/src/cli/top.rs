//! `wasmd top`: the processes that use the machine, refreshed.
//!
//! Each round reads `ps.json` twice, an interval apart, and shows the
//! live processes sorted by CPU share over that interval, with their
//! rates of fuel, hostcalls and output, their memory and handles. On a
//! terminal the screen is redrawn; `--rounds N` stops after N rounds
//! (what scripts and tests use).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::Value;

use super::commands::{with_client, ClientOpts};
use crate::client::ClientError;
use crate::sys::Client;

/// Options of `wasmd top`.
#[derive(Args, Debug)]
pub struct TopArgs {
    #[command(flatten)]
    pub client: ClientOpts,
    /// Milliseconds between two looks.
    #[arg(long, value_name = "MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub interval: u64,
    /// Stop after this many rounds, at least 1 (default: until interrupted).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub rounds: Option<u64>,
    /// Show at most this many processes.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub lines: usize,
}

/// One process as `ps.json` gives it, the fields `top` uses.
#[derive(Debug, Clone, Default)]
struct Sample {
    name: String,
    state: String,
    cpu_ns: u64,
    fuel_used: u64,
    hostcalls: u64,
    bytes_out: u64,
    memory_pages: u64,
    handles: u64,
}

fn samples(client: &mut Client) -> Result<HashMap<u64, Sample>, ClientError> {
    let all: Vec<Value> = serde_json::from_slice(&client.read_all("/scheme/wasm/ps.json")?)
        .map_err(|_| ClientError::Protocol)?;
    let num = |p: &Value, k: &str| p[k].as_u64().unwrap_or(0);
    Ok(all
        .iter()
        .filter(|p| p["state"] != "exited")
        .map(|p| {
            let s = Sample {
                name: p["name"].as_str().unwrap_or("?").to_string(),
                state: p["state"].as_str().unwrap_or("?").to_string(),
                cpu_ns: num(p, "cpu_ns"),
                fuel_used: num(p, "fuel_used"),
                hostcalls: num(p, "hostcalls"),
                bytes_out: num(p, "bytes_out"),
                memory_pages: num(p, "memory_pages"),
                handles: num(p, "handles"),
            };
            (num(p, "pid"), s)
        })
        .collect())
}

/// The table for the live processes in `now`, with rates against `before`
/// over `elapsed`.
fn table(
    before: &HashMap<u64, Sample>,
    now: &HashMap<u64, Sample>,
    elapsed: Duration,
    lines: usize,
) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let mut rows: Vec<(u64, &Sample, f64, f64, f64, f64)> = now
        .iter()
        .map(|(pid, s)| {
            let b = before.get(pid).cloned().unwrap_or_default();
            let rate = |now: u64, then: u64| now.saturating_sub(then) as f64 / secs;
            let cpu = rate(s.cpu_ns, b.cpu_ns) / 1e7; // percent of one core
            (
                *pid,
                s,
                cpu,
                rate(s.fuel_used, b.fuel_used),
                rate(s.hostcalls, b.hostcalls),
                rate(s.bytes_out, b.bytes_out),
            )
        })
        .collect();
    rows.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
    let mut out = format!(
        "{} live processes\n{:>7} {:<20} {:<9} {:>6} {:>12} {:>10} {:>12} {:>6} {:>7}\n",
        now.len(),
        "PID",
        "NAME",
        "STATE",
        "CPU%",
        "FUEL/s",
        "CALLS/s",
        "OUT B/s",
        "PAGES",
        "HANDLES"
    );
    for (pid, s, cpu, fuel, calls, out_rate) in rows.into_iter().take(lines) {
        let name = super::super::control::render::printable(&s.name);
        let _ = writeln!(
            out,
            "{pid:>7} {name:<20} {:<9} {cpu:>6.1} {fuel:>12.0} {calls:>10.0} {out_rate:>12.0} {:>6} {:>7}",
            s.state, s.memory_pages, s.handles
        );
    }
    out
}

/// `wasmd top`.
pub fn top(args: &TopArgs) -> ExitCode {
    let interval = Duration::from_millis(args.interval);
    let terminal = std::io::stdout().is_terminal();
    with_client(&args.client, |c| {
        let mut before = samples(c)?;
        let mut at = Instant::now();
        let mut round = 0;
        while args.rounds.is_none_or(|n| round < n) {
            std::thread::sleep(interval);
            let now = samples(c)?;
            let elapsed = at.elapsed();
            at = Instant::now();
            let text = table(&before, &now, elapsed, args.lines);
            let mut stdout = std::io::stdout().lock();
            let shown =
                if terminal { write!(stdout, "\x1b[H\x1b[2J{text}") } else { writeln!(stdout, "{text}") };
            if shown.and_then(|()| stdout.flush()).is_err() {
                // The reader went away (`| head`): done.
                return Ok(ExitCode::SUCCESS);
            }
            before = now;
            round += 1;
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_over_the_interval_busiest_first() {
        let s = |name: &str, cpu_ns: u64, hostcalls: u64| Sample {
            name: name.into(),
            state: "ready".into(),
            cpu_ns,
            hostcalls,
            ..Sample::default()
        };
        let before: HashMap<u64, Sample> = [(1, s("idle", 0, 0)), (2, s("busy", 0, 10))].into();
        let now: HashMap<u64, Sample> =
            [(1, s("idle", 1_000_000, 0)), (2, s("busy", 500_000_000, 1010)), (3, s("new", 0, 0))].into();
        let text = table(&before, &now, Duration::from_secs(1), 10);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "3 live processes");
        assert!(
            lines[2].contains("busy") && lines[2].contains(" 50.0 ") && lines[2].contains(" 1000 "),
            "{text}"
        );
        assert!(lines[3].contains("idle") && lines[3].contains(" 0.1 "), "{text}");
        assert!(lines[4].contains("new"), "{text}");
        assert_eq!(table(&before, &now, Duration::from_secs(1), 1).lines().count(), 3);
    }
}
