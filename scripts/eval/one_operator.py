"""Runs one railyard operator over events through `railyard run`, for the evaluation scripts: a
file source, the operator, a verdicts sink and a dead-letter sink, in a temporary directory."""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

TOPOLOGY = """
name = "{name}"
[sources.events]
type = "file"
path = "{input}"
[operators.op]
inputs = ["events"]
{operator}
[sinks.verdicts]
type = "file"
inputs = ["op"]
path = "{output}"
[sinks.dead_letters]
type = "file"
path = "{dead}"
records = "dead_letters"
"""


def findings_by_event(railyard, name, operator, events):
    """`operator`: the lines of the operator's table (`type = "..."` and its keys); `events`:
    event objects with an `id`. Returns each event's findings by its id; exits with railyard's
    message when the run fails."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
        (tmp / "t.toml").write_text(TOPOLOGY.format(name=name, input=tmp / "events.jsonl", operator=operator,
                                                    output=tmp / "v.jsonl", dead=tmp / "d.jsonl"))
        done = subprocess.run([railyard, "run", str(tmp / "t.toml")], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"railyard run failed ({done.returncode}):\n{done.stderr}")
        return {v["event_id"]: v.get("findings", []) for v in map(json.loads, (tmp / "v.jsonl").read_text().splitlines())}
