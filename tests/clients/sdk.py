# Owned by the client tests (tests/it/clients.rs): drives stepflare with the official Python
# `cloudflare` SDK from PyPI, unchanged. Usage: python3 sdk.py features <account id>. The SDK
# finds the server through CLOUDFLARE_BASE_URL and its token through CLOUDFLARE_API_TOKEN.
# Prints one JSON report on stdout; on an SDK error it prints {"failed": <stage>, "error": ...}
# and exits with 1.
import json
import sys
import time

from cloudflare import Cloudflare

client = Cloudflare(max_retries=0, timeout=15)
account_id = sys.argv[2] if len(sys.argv) > 2 else "local"
stage = "start"


def wait_for(workflow_name, instance_id, want):
    deadline = time.time() + 30
    while True:
        details = client.workflows.instances.get(instance_id, account_id=account_id, workflow_name=workflow_name)
        if details.status in want or time.time() > deadline:
            return details
        time.sleep(0.025)


def features():
    global stage
    stage = "create cloned-results"
    created = client.workflows.instances.create(
        "cloned-results",
        account_id=account_id,
        instance_id="py-cloned",
        instance_retention={"success_retention": "1 hour", "error_retention": 60000},
    )
    stage = "get cloned-results"
    details = wait_for("cloned-results", created.id, ["complete", "errored", "terminated"])
    stage = "instances.bulk"
    bulk = client.workflows.instances.bulk(
        "remembered", account_id=account_id, body=[{"instance_id": "py-bulk-1"}, {"instance_id": "py-bulk-2"}]
    )
    stage = "versions.list"
    versions = list(client.workflows.versions.list("cloned-results", account_id=account_id))
    # Every model the SDK built, as plain JSON: a field it could not read would be missing.
    steps = [step.to_dict() for step in details.steps]
    output = {step["name"]: step.get("output") for step in steps if "name" in step}
    return {
        "status": details.status,
        "outputs": {"date": output.get("date-1"), "map": output.get("map-1"), "bigint": output.get("bigint-1")},
        "steps": len(steps),
        "bulk": [instance.id for instance in bulk],
        "versions": len(versions),
    }


scenarios = {"features": features}
if len(sys.argv) < 2 or sys.argv[1] not in scenarios:
    print(f"usage: python3 sdk.py <{'|'.join(scenarios)}>", file=sys.stderr)
    sys.exit(2)
try:
    print(json.dumps(scenarios[sys.argv[1]](), default=str))
except Exception as error:  # noqa: BLE001 - every SDK error is the report
    print(json.dumps({"failed": stage, "error": {"name": type(error).__name__, "message": str(error)}}))
    sys.exit(1)
