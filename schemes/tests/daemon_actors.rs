//! Names and links in the control tree: `name/` lists the
//! registered names (each file gives its pid; a name goes with its
//! process), `PID/links` and `PID/monitors` show a process's links and
//! monitors.

mod common;

use common::{eventually, text, Daemon};
use wasmd_tests::guest;

#[test]
fn names_and_links_in_the_tree() {
    let daemon = Daemon::start(&[]);
    let sup = guest("supervision").display().to_string();
    let pid =
        text(&daemon.cli(&["spawn", "cap=stdio,time,spawn", &sup, "named", "tree-test"])).trim().to_string();
    eventually("the name appears", || {
        text(&daemon.cli(&["ls", "/scheme/wasm/name"])).lines().any(|l| l == "tree-test")
    });
    assert_eq!(text(&daemon.cli(&["cat", "/scheme/wasm/name/tree-test"])).trim(), pid);
    let status = text(&daemon.cli(&["status", &pid]));
    assert!(status.contains("mailbox: 0"), "{status}");
    assert_eq!(text(&daemon.cli(&["cat", &format!("/scheme/wasm/{pid}/links")])), "");
    // A chain of linked actors shows its links both ways; a monitor both
    // ends.
    let actors = guest("actors").display().to_string();
    let head = text(&daemon.cli(&["spawn", "cap=stdio,time,spawn", &actors, "chain", "2", "hold"]))
        .trim()
        .to_string();
    let next = (head.parse::<u32>().unwrap() + 1).to_string();
    eventually("the chain forms", || {
        text(&daemon.cli(&["cat", &format!("/scheme/wasm/{head}/links")])).trim() == next
    });
    assert!(text(&daemon.cli(&["cat", &format!("/scheme/wasm/{next}/links")])).lines().any(|l| l == head));
    assert!(daemon.cli(&["kill", &pid]).status.success());
    eventually("the name goes with its process", || {
        !text(&daemon.cli(&["ls", "/scheme/wasm/name"])).contains("tree-test")
    });
    let o = daemon.cli(&["cat", "/scheme/wasm/name/tree-test"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(daemon.cli(&["kill", &next]).status.success());
    eventually("the link took the head along", || {
        text(&daemon.cli(&["status", &head])).contains("status: killed")
    });
}

#[test]
fn tree_shows_supervisors_their_children_links_and_names() {
    let daemon = Daemon::start(&[]);
    let sup = guest("supervision").display().to_string();
    let pid = text(&daemon.cli(&["spawn", "cap=stdio,time,spawn", &sup, "serve"])).trim().to_string();
    let child = (pid.parse::<u32>().unwrap() + 1).to_string();
    eventually("the child registers", || {
        text(&daemon.cli(&["cat", "/scheme/wasm/name/served-child"])).trim() == child
    });
    let tree = text(&daemon.cli(&["tree"]));
    let expected = format!(
        "{pid} supervision blocked  supervisor, linked: {child}\n  {child} supervision blocked  linked: {pid}, names: served-child\n"
    );
    assert_eq!(tree, expected);
    // `ps` names each process's supervisor (SUP).
    let ps = text(&daemon.cli(&["ps"]));
    let column =
        ps.lines().next().unwrap().split_whitespace().position(|c| c == "SUP").expect("a SUP column");
    let sup_of = |p: &str| {
        let line =
            ps.lines().find(|l| l.split_whitespace().next() == Some(p)).unwrap_or_else(|| panic!("{ps}"));
        line.split_whitespace().nth(column).unwrap().to_string()
    };
    assert_eq!(sup_of(&child), pid, "{ps}");
    assert_eq!(sup_of(&pid), "-", "{ps}");
    assert!(daemon.cli(&["kill", &child]).status.success());
    eventually("restarted under the supervisor", || {
        let tree = text(&daemon.cli(&["tree"]));
        tree.lines().count() == 2 && !tree.contains(&format!("  {child} "))
    });
    // The supervisor reaped the old child; ended processes nobody reaps
    // show with --all.
    let hello = guest("hello").display().to_string();
    let ended = text(&daemon.cli(&["spawn", &hello])).trim().to_string();
    eventually("hello ends", || text(&daemon.cli(&["status", &ended])).contains("status: "));
    assert!(!text(&daemon.cli(&["tree"])).contains(&format!("{ended} hello")));
    let all = text(&daemon.cli(&["tree", "--all"]));
    assert!(all.contains(&format!("{ended} hello exited  exited(0)")), "{all}");
}
