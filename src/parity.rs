//! What stepflare does not reproduce of production, one line each: `stepflare dev --strict`
//! prints the list at start, and `docs/compatibility.md` shows it (a test keeps the two the
//! same). A line goes when the behaviour is built.

/// Production behaviours stepflare does not reproduce.
pub const NOT_REPRODUCED: &[&str] = &[
    "Persisted state per instance is not limited (production: 1 GB).",
    "A ReadableStream step output is limited to 32 MiB, held in memory whole; production streams it and only the instance's state limit applies.",
    "The account's concurrency is --max-concurrent (default 100), not production's 50,000 running instances.",
    "Cron-created instances wait for a concurrency slot; production lets them run up to an hour outside the limit.",
    "Workflow code runs on QuickJS, not V8: CPU time is QuickJS's, and engine-specific behaviour (error stacks, timing) differs.",
    "limits.subrequests is checked, not enforced.",
    "The binding types other than KV, D1, R2, queues, service bindings and Durable Objects are not in env (each is reported at start).",
    "A Durable Object serves one call at a time until the call settles; production's input gate lets another call in while one awaits I/O other than storage, so an object that calls itself (directly or through a workflow it waits for) waits forever here.",
    "Durable Objects: the WebSocket API (acceptWebSocket, hibernation), stubs and RpcTarget callbacks passed over RPC, and the storage options allowConcurrency, allowUnconfirmed and noCache are not emulated (the options are accepted; every write commits at once).",
    "Event triggers (/accounts/{id}/triggers/{script}) are not served; version DAGs and graphs are null.",
    "locationHint and location_hint are accepted and ignored: everything runs on this machine.",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The list between the markers of `docs/compatibility.md`, one `- ` item per line.
    #[test]
    fn the_compatibility_doc_shows_the_same_list() {
        let doc = include_str!("../docs/compatibility.md");
        let start = doc.find("<!-- not-reproduced:start -->").expect("the start marker");
        let end = doc.find("<!-- not-reproduced:end -->").expect("the end marker");
        let shown: Vec<&str> = doc[start..end].lines().filter_map(|line| line.strip_prefix("- ")).collect();
        assert_eq!(shown, NOT_REPRODUCED, "docs/compatibility.md and src/parity.rs disagree");
    }
}
