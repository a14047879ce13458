"""Reads `clusterctl status --json` from stdin and prints one word per worker.

  status.py workers     id:pid:generation:state for the first app's workers
  status.py snapshot    app/id:pid:generation for every worker of every app
  status.py pids        the pids of the first app's running workers
"""
import json
import sys

status = json.load(sys.stdin)
mode = sys.argv[1]
if mode == "workers":
    print(" ".join("%s:%s:%s:%s" % (w["id"], w["pid"], w["generation"], w["state"])
                   for w in status["apps"][0]["workers"]))
elif mode == "snapshot":
    print(" ".join("%s/%s:%s:%s" % (a["name"], w["id"], w["pid"], w["generation"])
                   for a in status["apps"] for w in a["workers"]))
elif mode == "pids":
    print(" ".join(str(w["pid"]) for w in status["apps"][0]["workers"] if w["state"] == "running"))
else:
    sys.exit(__doc__)
