"""The stand-in control plane's state, shared by kubeadm, kubectl and the API server: one
JSON file under a lock."""
import contextlib
import fcntl
import json
import os
import time

STATE = "/var/lib/gpuhost-standin/cluster.json"
LOCK = "/var/lib/gpuhost-standin/lock"
CALLS = "/var/log/gpuhost-standin/calls.jsonl"
MAPS = os.environ.get("GPUHOST_STANDIN_MAPS", "/usr/local/share/gpuhost-standin")


def record(event):
    os.makedirs(os.path.dirname(CALLS), exist_ok=True)
    event = dict(event, at=time.time())
    with open(CALLS, "a") as log:
        log.write(json.dumps(event) + "\n")


@contextlib.contextmanager
def state():
    """The state for reading and changing; written back when the block ends without error."""
    os.makedirs(os.path.dirname(STATE), exist_ok=True)
    with open(LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = {}
        if os.path.exists(STATE):
            with open(STATE) as f:
                current = json.load(f)
        yield current
        with open(STATE + ".new", "w") as f:
            json.dump(current, f)
        os.replace(STATE + ".new", STATE)


def now_rfc3339():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def new_node(version):
    return {"version": version, "unschedulable": False, "created": now_rfc3339()}
