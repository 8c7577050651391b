// Owned by the client tests (tests/it/clients.rs): drives stepflare with the official `cloudflare` SDK, unchanged.
// Usage: node sdk.mjs <lifecycle|pagination> [account id]. The SDK finds the server through
// CLOUDFLARE_BASE_URL and its token through CLOUDFLARE_API_TOKEN. Prints one JSON report of what
// it observed on stdout; the Rust test asserts on it. On an SDK error it prints
// {"failed": <stage>, "error": ...} and exits with 1.
import Cloudflare from "cloudflare";

const client = new Cloudflare({ maxRetries: 0, timeout: 15_000 });
const account_id = process.argv[3] ?? "local";
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let stage = "start";

/** `instances.get` until the status is one of `want` (or 30 s passed); returns the last details. */
async function waitFor(workflow_name, id, want) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const d = await client.workflows.instances.get(id, { account_id, workflow_name });
    if (want.includes(d.status) || Date.now() > deadline) return d;
    await sleep(25);
  }
}

/** Changes the status through the SDK, then waits for one of `want`. */
async function change(workflow_name, id, body, want) {
  stage = `status ${body.status} ${workflow_name}/${id}`;
  const reply = await client.workflows.instances.status.edit(id, { account_id, workflow_name, ...body });
  const after = await waitFor(workflow_name, id, want);
  return { reply: reply.status, after: after.status };
}

async function lifecycle() {
  stage = "workflows.list";
  const listed = await client.workflows.list({ account_id, per_page: 100 });
  stage = "workflows.get";
  const wf = await client.workflows.get("event-info", { account_id });
  stage = "versions.list";
  const versions = await client.workflows.versions.list("event-info", { account_id });

  stage = "create event-info";
  const created = await client.workflows.instances.create("event-info", {
    account_id,
    instance_id: "sdk-info",
    params: { hello: "sdk", n: [1, 2] },
  });
  stage = "get event-info";
  const info = await waitFor("event-info", created.id, ["complete", "errored", "terminated"]);

  stage = "create slow";
  const slow = await client.workflows.instances.create("slow", {
    account_id,
    instance_id: "sdk-slow",
    params: { steps: 40, stepMs: 150 },
  });
  await waitFor("slow", slow.id, ["running"]);
  const pause = await change("slow", slow.id, { status: "pause" }, ["paused"]);
  const resume = await change("slow", slow.id, { status: "resume" }, ["running"]);
  const terminate = await change("slow", slow.id, { status: "terminate" }, ["terminated"]);
  const restart = await change("slow", slow.id, { status: "restart" }, ["running"]);
  const stop = await change("slow", slow.id, { status: "terminate" }, ["terminated"]);

  stage = "create wait-event";
  const waiter = await client.workflows.instances.create("wait-event", { account_id, params: {} });
  const waiting = await waitFor("wait-event", waiter.id, ["waiting"]);
  stage = "events.create";
  await client.workflows.instances.events.create("approve", {
    account_id,
    workflow_name: "wait-event",
    instance_id: waiter.id,
    body: { approved: true, by: "sdk" },
  });
  const approved = await waitFor("wait-event", waiter.id, ["complete", "errored", "terminated"]);

  stage = "instances.list";
  const page = await client.workflows.instances.list("wait-event", { account_id, per_page: 10 });

  return {
    workflows: listed.result.map((w) => w.name),
    workflow: { id: wf.id, name: wf.name, class_name: wf.class_name, script_name: wf.script_name },
    versions: versions.result.map((v) => v.id),
    created: { id: created.id, status: created.status, version_id: created.version_id, workflow_id: created.workflow_id },
    info: { status: info.status, output: info.output, params: info.params },
    slow: { id: slow.id, pause, resume, terminate, restart, stop },
    waiter: { id: waiter.id, waiting: waiting.status, final: approved.status, output: approved.output },
    waiterListed: page.result.map((i) => ({ id: i.id, status: i.status })),
  };
}

async function pagination() {
  const ids = [];
  for (let i = 0; i < 7; i++) {
    stage = `create pg-${i}`;
    const created = await client.workflows.instances.create("event-info", { account_id, instance_id: `pg-${i}` });
    ids.push(created.id);
  }
  stage = "first page";
  const first = await client.workflows.instances.list("event-info", { account_id, per_page: 3 });
  stage = "auto-pagination";
  const seen = [];
  for await (const instance of client.workflows.instances.list("event-info", { account_id, per_page: 3 })) {
    seen.push(instance.id);
    // A server that ignores `page` would serve page 1 forever.
    if (seen.length > 3 * ids.length) break;
  }
  return { created: ids, firstPage: first.result.map((i) => i.id), firstHasNext: first.hasNextPage(), seen };
}

/** Instances that use 2026's features (structured-clone results, retention, batch create). */
async function features() {
  stage = "create cloned-results";
  const cloned = await client.workflows.instances.create("cloned-results", {
    account_id,
    instance_id: "sdk-cloned",
    instance_retention: { success_retention: "1 hour", error_retention: 60_000 },
  });
  stage = "get cloned-results";
  const details = await waitFor("cloned-results", cloned.id, ["complete", "errored", "terminated"]);
  stage = "instances.bulk";
  const bulk = await client.workflows.instances.bulk("remembered", {
    account_id,
    body: [{ instance_id: "sdk-bulk-1" }, { instance_id: "sdk-bulk-2", instance_retention: { success_retention: 1000 } }],
  });
  stage = "versions.list";
  const versions = await client.workflows.versions.list("cloned-results", { account_id });
  const output = (name) => details.steps.find((s) => s.name === name)?.output;
  return {
    status: details.status,
    outputs: { date: output("date-1"), map: output("map-1"), bigint: output("bigint-1"), secret: output("secret-1") },
    bulk: bulk.result.map((i) => i.id),
    versions: versions.result.length,
  };
}

const scenarios = { lifecycle, pagination, features };
const scenario = scenarios[process.argv[2]];
if (!scenario) {
  console.error(`usage: node sdk.mjs <${Object.keys(scenarios).join("|")}>`);
  process.exit(2);
}
try {
  console.log(JSON.stringify(await scenario()));
} catch (err) {
  const error = { name: err?.name, message: String(err?.message ?? err), status: err?.status ?? null };
  console.log(JSON.stringify({ failed: stage, error }));
  process.exit(1);
}
