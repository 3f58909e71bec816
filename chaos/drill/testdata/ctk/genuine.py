"""Writes genuine Chaos Toolkit journals for holdfast's shape test.

Chaos Toolkit cannot be installed from a registry on holdfast's machines, so
this script was run once, by hand, with chaostoolkit-lib's source on
PYTHONPATH (commit 72f814b of github.com/chaostoolkit/chaostoolkit-lib, whose
CHANGELOG's last release is 1.45.0), and its output is kept next to it:

    PYTHONPATH=/path/to/chaostoolkit-lib:. python3 genuine.py

It runs two experiments through chaoslib's own run_experiment, against an HTTP
server of its own on loopback, and writes each journal the way the `chaos run`
command does (experiment["dry"] set, json.dump with indent 2 and datetimes as
isoformat). The script is holdfast's; the journals are chaoslib's.

  deviated.journal.json  the "continuously" hypothesis strategy (so during
                         holds checks); the method breaks the server, an
                         action times out (a failed run with its exception),
                         a probe runs in the method; the hypothesis after the
                         method does not hold: completed, deviated.
  failed.journal.json    the hypothesis's probe cannot connect: failed.
  exploratory.journal.json  no hypothesis (steady states before and after
                         null); a pause before an action.
"""

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# chaoslib reads its version from the installed distribution's metadata; a
# source checkout has none, so give it the release the checkout is.
here = os.path.dirname(os.path.abspath(__file__))
meta = os.path.join(here, "_meta")
os.makedirs(os.path.join(meta, "chaostoolkit_lib-1.45.0.dist-info"), exist_ok=True)
with open(os.path.join(meta, "chaostoolkit_lib-1.45.0.dist-info", "METADATA"), "w") as f:
    f.write("Metadata-Version: 2.1\nName: chaostoolkit-lib\nVersion: 1.45.0\n")
sys.path.insert(0, meta)

from chaoslib.experiment import run_experiment  # noqa: E402
from chaoslib.types import Dry, Schedule, Strategy  # noqa: E402

broken = threading.Event()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/text":
            body = b"all is well"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        status = 500 if broken.is_set() else 200
        body = json.dumps({"ok": not broken.is_set()}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        broken.set()
        self.send_response(204)
        self.end_headers()


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=srv.serve_forever, daemon=True).start()
base = f"http://127.0.0.1:{srv.server_port}"


def write(name, experiment, strategy, schedule=None):
    experiment["dry"] = Dry.from_string(None)
    journal = run_experiment(experiment, settings={}, strategy=strategy, schedule=schedule)
    if "dry" in journal["experiment"]:
        journal["experiment"]["dry"] = None
    with open(os.path.join(here, name), "w") as f:
        json.dump(journal, f, indent=2, ensure_ascii=False, default=lambda o: o.isoformat())
        f.write("\n")


write(
    "deviated.journal.json",
    {
        "version": "1.0.0",
        "title": "The service answers while it is broken",
        "description": "It does not: the hypothesis after the method deviates.",
        "tags": ["holdfast", "shape"],
        "configuration": {"base": base},
        "steady-state-hypothesis": {
            "title": "The service answers 200",
            "probes": [
                {
                    "type": "probe",
                    "name": "the service answers",
                    "tolerance": 200,
                    "provider": {"type": "http", "url": "${base}/", "timeout": 3},
                },
                {
                    "type": "probe",
                    "name": "the status is 2xx",
                    "tolerance": {"type": "range", "range": [200, 299], "target": "status"},
                    "provider": {"type": "http", "url": "${base}/"},
                },
                {
                    "type": "probe",
                    "name": "the text says well",
                    "tolerance": {"type": "regex", "pattern": "is w.ll", "target": "body"},
                    "provider": {"type": "http", "url": "${base}/text"},
                },
                {
                    "type": "probe",
                    "name": "true exits 0",
                    "tolerance": 0,
                    "provider": {"type": "process", "path": "true"},
                },
            ],
        },
        "method": [
            {
                "type": "action",
                "name": "break the service",
                "provider": {
                    "type": "http",
                    "url": "${base}/break",
                    "method": "POST",
                    "headers": {"Content-Type": "application/json"},
                    "arguments": {"why": "a drill"},
                    "timeout": 3,
                },
                "pauses": {"after": 0.5},
            },
            {
                "type": "action",
                "name": "a command that takes too long",
                "provider": {"type": "process", "path": "sleep", "arguments": "5", "timeout": 0.2},
            },
            {
                "type": "probe",
                "name": "read the service",
                "provider": {"type": "http", "url": "${base}/"},
            },
        ],
        "rollbacks": [
            {
                "type": "action",
                "name": "say it is over",
                "provider": {"type": "process", "path": "echo", "arguments": ["rolled", "back"]},
            }
        ],
    },
    Strategy.CONTINUOUS,
    Schedule(continuous_hypothesis_frequency=0.2),
)

write(
    "failed.journal.json",
    {
        "title": "A probe that cannot connect",
        "description": "The hypothesis's probe finds nothing listening: the run fails.",
        "steady-state-hypothesis": {
            "title": "Something answers on port 9",
            "probes": [
                {
                    "type": "probe",
                    "name": "port 9 answers",
                    "tolerance": [200, 204],
                    "provider": {"type": "http", "url": "http://127.0.0.1:9/", "timeout": 1},
                }
            ],
        },
        "method": [
            {"type": "action", "name": "nothing", "provider": {"type": "process", "path": "true"}}
        ],
    },
    Strategy.DEFAULT,
)

write(
    "exploratory.journal.json",
    {
        "title": "Just exploring",
        "description": "No hypothesis: only the method runs.",
        "method": [
            {
                "type": "action",
                "name": "wait, then print",
                "provider": {"type": "process", "path": "echo", "arguments": "hello"},
                "pauses": {"before": 0.1},
            }
        ],
    },
    Strategy.DEFAULT,
)
srv.shutdown()
