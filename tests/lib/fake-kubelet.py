#!/usr/bin/env python3
"""A fake kubelet for tests/e2e/operator-membership.sh: runs the member pods of one
EtcdCluster as real `capstan` processes on this machine.

Every POLL seconds (until DEADLINE seconds have passed, or SIGTERM) it lists the pods
with label app.kubernetes.io/instance=CLUSTER in NAMESPACE (kubectl, admin kubeconfig)
and, for each pod:
  * not running yet: waits for its volume (the PersistentVolumeClaim named in the pod's
    `data` volume, or the pod itself with emptyDir) and for its config file `<pod>.yaml`
    in the ConfigMap `CLUSTER-config`, then starts `capstan --config-file=...` with that
    file, changed only where a pod's own network namespace and mounts differ from one
    shared machine: listen addresses 0.0.0.0 -> the pod's address (from /etc/hosts: the
    test maps every member's DNS name to its own 127.x address), and the data mount
    /var/lib/capstan -> VOLUMES/<claim UID> (or VOLUMES/pod-<pod UID> for emptyDir), so
    a new claim means an empty data directory and a kept claim keeps the data, as on a
    real node;
  * running: patches the pod status (kubectl patch --subresource=status) to Running with
    Ready True when GET /readyz answers 200, Ready False when it does not;
  * process exited: restarts it after a back-off (restartPolicy Always);
  * pod gone, or replaced by a pod with another UID: kills its process.
Events go to stdout, one line each ("<elapsed> <pod> <what>"); capstan's own output to
LOGDIR/<pod>.log.

usage: fake-kubelet.py KUBECTL KUBECONFIG NAMESPACE CLUSTER CAPSTAN_BIN VOLUMES LOGDIR DEADLINE
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

KUBECTL, KCFG, NS, CLUSTER, CAPSTAN, VOLUMES, LOGDIR, DEADLINE = sys.argv[1:9]
DEADLINE = float(DEADLINE)
POLL = 0.5
T0 = time.time()
procs = {}  # pod name -> {"uid", "proc", "ip", "ready", "started", "restarts", "volume"}


def say(pod, what):
    print("%7.1f %s %s" % (time.time() - T0, pod, what), flush=True)


def kubectl(*args, input=None):
    r = subprocess.run([KUBECTL, "--kubeconfig", KCFG, "--request-timeout=10s", *args],
                       capture_output=True, text=True, timeout=30, input=input)
    return r.returncode, r.stdout, r.stderr


def get_json(*args):
    rc, out, _ = kubectl("get", "-n", NS, "-o", "json", *args)
    return json.loads(out) if rc == 0 else None


def stop(pod, why):
    p = procs.pop(pod, None)
    if p and p["proc"].poll() is None:
        p["proc"].kill()
        p["proc"].wait()
    if p:
        say(pod, "killed (%s)" % why)


def shutdown(*_):
    for pod in list(procs):
        stop(pod, "kubelet stopping")
    sys.exit(0)


signal.signal(signal.SIGTERM, shutdown)
signal.signal(signal.SIGINT, shutdown)


def volume_of(pod):
    """The data directory for the pod's `data` volume, or None while it cannot exist."""
    for v in pod["spec"].get("volumes", []):
        if v["name"] != "data":
            continue
        if "persistentVolumeClaim" in v:
            pvc = get_json("pvc", v["persistentVolumeClaim"]["claimName"])
            if not pvc or pvc["metadata"].get("deletionTimestamp"):
                return None
            return os.path.join(VOLUMES, pvc["metadata"]["uid"])
        return os.path.join(VOLUMES, "pod-" + pod["metadata"]["uid"])
    return None


def start(pod, uid, cm):
    name = pod["metadata"]["name"]
    cfg = (cm or {}).get("data", {}).get(name + ".yaml")
    if not cfg:
        return
    vol = volume_of(pod)
    if not vol:
        return
    ip = socket.gethostbyname("%s.%s-peers.%s.svc" % (name, CLUSTER, NS))
    os.makedirs(vol, exist_ok=True)
    cfg = cfg.replace("0.0.0.0", ip).replace("/var/lib/capstan", vol)
    path = os.path.join(LOGDIR, name + ".yaml")
    with open(path, "w") as f:
        f.write(cfg)
    log = open(os.path.join(LOGDIR, name + ".log"), "a")
    log.write("=== start %s (pod uid %s, volume %s)\n" % (time.strftime("%T"), uid, vol))
    log.flush()
    proc = subprocess.Popen([CAPSTAN, "--config-file=" + path], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, cwd=LOGDIR)
    prev = procs.get(name, {})
    procs[name] = {"uid": uid, "proc": proc, "ip": ip, "ready": None, "started": time.time(),
                   "restarts": prev.get("restarts", 0), "volume": vol, "exited": None}
    say(name, "started pid %d on %s, volume %s" % (proc.pid, ip, os.path.basename(vol)))


def ready(ip):
    try:
        with urllib.request.urlopen("http://%s:2379/readyz" % ip, timeout=2) as r:
            return r.status == 200
    except Exception:
        return False


def set_status(name, p, is_ready):
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    st = "True" if is_ready else "False"
    body = {"status": {"phase": "Running", "podIP": p["ip"], "podIPs": [{"ip": p["ip"]}],
                       "conditions": [{"type": t, "status": st, "lastTransitionTime": now}
                                      for t in ("Ready", "ContainersReady")]
                       + [{"type": "Initialized", "status": "True", "lastTransitionTime": now}]}}
    rc, _, err = kubectl("patch", "pod", name, "-n", NS, "--subresource=status", "--type=merge",
                         "-p", json.dumps(body))
    if rc == 0:
        p["ready"] = is_ready
        say(name, "status Running, Ready=%s" % st)
    else:
        say(name, "status patch failed: %s" % err.strip()[:200])


while time.time() - T0 < DEADLINE:
    pods = get_json("pods", "-l", "app.kubernetes.io/instance=" + CLUSTER)
    if pods is None:
        time.sleep(POLL)
        continue
    cm = None
    seen = set()
    for pod in pods["items"]:
        name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]
        if pod["metadata"].get("deletionTimestamp"):
            stop(name, "pod deleting")
            continue
        seen.add(name)
        p = procs.get(name)
        if p and p["uid"] != uid:
            stop(name, "pod replaced")
            p = None
        if p is None:
            if cm is None:
                cm = get_json("configmap", CLUSTER + "-config") or {}
            start(pod, uid, cm)
            continue
        rc = p["proc"].poll()
        if rc is not None:
            if p["exited"] is None:
                p["exited"] = time.time()
                say(name, "exited with status %d" % rc)
                if p["ready"] is not False:
                    set_status(name, p, False)
            # restartPolicy Always, with a short back-off (2 s, 4 s, ... at most 10 s)
            if time.time() - p["exited"] >= min(10, 2 * (p["restarts"] + 1)):
                if cm is None:
                    cm = get_json("configmap", CLUSTER + "-config") or {}
                p["restarts"] += 1
                restarts = p["restarts"]
                start(pod, uid, cm)
                if name in procs:
                    procs[name]["restarts"] = restarts
            continue
        r = ready(p["ip"])
        if r != p["ready"]:
            set_status(name, p, r)
    for name in list(procs):
        if name not in seen:
            stop(name, "pod gone")
    time.sleep(POLL)
say("-", "deadline reached")
shutdown()
