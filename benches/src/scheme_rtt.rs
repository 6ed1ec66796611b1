//! Guest → guest scheme request round trip: a client guest reads a file
//! of a scheme served by another guest (`scheme_bench`), against a pipe
//! ping-pong between two native processes.

use std::sync::Arc;

use wasmd_abi::Caps;
use wasmd_tests::CapturedOutput;
use wasmhost::ManagerConfig;

use crate::baseline;
use crate::guests::{best_interleaved, field, guest, manager_with, options, stdout};
use crate::report::{Figure, Target};

/// µs per request, measured by the client guest over `n` reads.
pub fn guest_rtt_us(n: u64) -> f64 {
    let out = Arc::new(CapturedOutput::default());
    let mut pm = manager_with(ManagerConfig::default(), out.clone());
    let module = pm.modules().compile(&guest("scheme_bench")).expect("compiles");
    let server = pm
        .spawn(
            module.clone(),
            options("scheme_bench", &["serve", "echo"], Caps::STDIO.union(Caps::SCHEME_PROVIDE)),
        )
        .expect("spawns");
    // The provider registers on its first slice.
    pm.run(16);
    let mut client_opts = options("scheme_bench", &["client", "echo", &n.to_string()], Caps::DEFAULT);
    client_opts.namespace = vec![wasmhost::namespace::parse_grant("echo:").expect("grant")];
    let client = pm.spawn(module, client_opts).expect("spawns");
    while pm.process(client).is_some_and(|p| !p.is_exited()) {
        pm.run(1024);
    }
    let _ = pm.kill(server);
    field(&stdout(&out, client), "ns_per_request") / 1000.0
}

/// `scheme_rtt_us`.
pub fn figures(quick: bool) -> Vec<Figure> {
    let runs = if quick { 3 } else { 5 };
    let n = if quick { 50_000 } else { 500_000 };
    let [ours, pipe] =
        best_interleaved(runs, [&mut || guest_rtt_us(n), &mut || baseline::pipe_ping_pong_us(n / 10)]);
    vec![Figure::info("scheme_rtt_us", "guest → guest scheme request round trip", ours, "µs")
        .against(pipe, "pipe ping-pong, 2 processes")
        .target(Target::RatioBelow(1.0))]
}
