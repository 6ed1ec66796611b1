//! `wasmd tree`: the processes as the tree they spawned, from `ps.json`:
//! each under its parent, with what makes it a supervisor (it traps exits
//! and is linked with its children), its other links and its names.
//!
//! ```text
//! 1 demo blocked
//!   2 supervision blocked  supervisor, linked: 3 4
//!     3 kvstore blocked  names: kv
//! ```

use std::fmt::Write;
use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use super::commands::{with_client, ClientOpts};
use crate::client::ClientError;

/// `wasmd tree` options.
#[derive(Args, Debug)]
pub struct TreeArgs {
    #[command(flatten)]
    client: ClientOpts,
    /// Also the processes that have ended (kept for inspection).
    #[arg(long)]
    all: bool,
}

/// `wasmd tree`.
pub fn tree(args: &TreeArgs) -> ExitCode {
    with_client(&args.client, |c| {
        let all: Vec<Value> = serde_json::from_slice(&c.read_all("/scheme/wasm/ps.json")?)
            .map_err(|_| ClientError::Protocol)?;
        let shown: Vec<Value> = all.into_iter().filter(|p| args.all || p["state"] != "exited").collect();
        print!("{}", render(&shown));
        Ok(ExitCode::SUCCESS)
    })
}

/// The tree of `processes` (`ps.json` objects): roots are those whose
/// parent is not among them.
pub fn render(processes: &[Value]) -> String {
    let pid = |p: &Value| p["pid"].as_u64().unwrap_or(0);
    let parent = |p: &Value| p["parent"].as_u64().unwrap_or(0);
    let known: std::collections::HashSet<u64> = processes.iter().map(pid).collect();
    let mut out = String::new();
    let mut stack: Vec<(usize, &Value)> =
        processes.iter().filter(|p| !known.contains(&parent(p))).rev().map(|p| (0, p)).collect();
    while let Some((depth, p)) = stack.pop() {
        line(&mut out, depth, p);
        let children = processes.iter().filter(|c| parent(c) == pid(p) && pid(c) != pid(p));
        stack.extend(children.rev().map(|c| (depth + 1, c)));
    }
    out
}

fn line(out: &mut String, depth: usize, p: &Value) {
    let ids = |key: &str| -> Vec<String> {
        p[key]
            .as_array()
            .map(|a| a.iter().map(|v| v.to_string().trim_matches('"').to_string()).collect())
            .unwrap_or_default()
    };
    let _ = write!(
        out,
        "{:indent$}{} {} {}",
        "",
        p["pid"],
        p["name"].as_str().unwrap_or("?"),
        p["state"].as_str().unwrap_or("?"),
        indent = depth * 2
    );
    let mut notes = Vec::new();
    if p["traps_exits"] == true {
        notes.push("supervisor".to_string());
    }
    let links = ids("links");
    if !links.is_empty() {
        notes.push(format!("linked: {}", links.join(" ")));
    }
    let names = ids("names");
    if !names.is_empty() {
        notes.push(format!("names: {}", names.join(" ")));
    }
    if let Some(status) = p["status"].as_str() {
        notes.push(status.to_string());
    }
    if !notes.is_empty() {
        let _ = write!(out, "  {}", notes.join(", "));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_go_under_their_parents_with_their_links_and_names() {
        let ps: Vec<Value> = serde_json::from_str(
            r#"[
            {"pid":1,"parent":0,"name":"demo","state":"blocked","links":[],"traps_exits":false,"names":[],"status":null},
            {"pid":2,"parent":1,"name":"sup","state":"blocked","links":[3,4],"traps_exits":true,"names":[],"status":null},
            {"pid":3,"parent":2,"name":"kv","state":"ready","links":[2],"traps_exits":false,"names":["kv"],"status":null},
            {"pid":4,"parent":2,"name":"w","state":"exited","links":[],"traps_exits":false,"names":[],"status":"killed"},
            {"pid":9,"parent":7,"name":"orphan","state":"ready","links":[],"traps_exits":false,"names":[],"status":null}
        ]"#,
        )
        .unwrap();
        assert_eq!(
            render(&ps),
            "1 demo blocked\n  2 sup blocked  supervisor, linked: 3 4\n    3 kv ready  linked: 2, names: kv\n    4 w exited  killed\n9 orphan ready\n"
        );
    }
}
