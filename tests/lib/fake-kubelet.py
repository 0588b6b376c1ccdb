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
    Secret volumes (the TLS Secrets) are projected the way kubelet's atomic writer does
    it, into LOGDIR/<pod>-volumes/<volume>/: the files live in a timestamped directory
    `..<time>`, `..data` is a symlink to it and each key is a symlink
    `<key> -> ..data/<key>`; the config file's mount paths are rewritten to point there.
    A pod whose Secret does not exist yet is not started (kubelet: ContainerCreating);
  * running: patches the pod status (kubectl patch --subresource=status) to Running with
    Ready True when GET /readyz answers 200 (on the plain `listen-metrics-urls` listener
    when the config has one, as the operator's probes do with TLS, else on the client
    port), Ready False when it does not;
  * process exited: restarts it after a back-off (restartPolicy Always);
  * pod gone, or replaced by a pod with another UID: kills its process.
Every SECRET_SYNC seconds (env FAKE_KUBELET_SECRET_SYNC, default 2; a real kubelet takes
up to about a minute) the Secrets of running pods are read again and a changed one is
written to a new timestamped directory, `..data` swapped to it with one rename (atomic,
as kubelet does), and the old directory removed.
Events go to stdout, one line each ("<elapsed> <pod> <what>"); capstan's own output to
LOGDIR/<pod>.log.

usage: fake-kubelet.py KUBECTL KUBECONFIG NAMESPACE CLUSTER CAPSTAN_BIN VOLUMES LOGDIR DEADLINE
"""
import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

KUBECTL, KCFG, NS, CLUSTER, CAPSTAN, VOLUMES, LOGDIR, DEADLINE = sys.argv[1:9]
DEADLINE = float(DEADLINE)
POLL = 0.5
SECRET_SYNC = float(os.environ.get("FAKE_KUBELET_SECRET_SYNC", "2"))
T0 = time.time()
# pod name -> {"uid", "proc", "ip", "ready", "started", "restarts", "volume", "exited",
#              "secrets": {mount path: (projected dir, Secret name, data digest)}, "ready_url"}
procs = {}


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


def secret_mounts(pod):
    """[(volume name, Secret name, mount path)] of the pod's Secret volumes."""
    paths = {}
    for c in pod["spec"].get("containers", []):
        for m in c.get("volumeMounts", []):
            paths[m["name"]] = m["mountPath"]
    return [(v["name"], v["secret"]["secretName"], paths[v["name"]])
            for v in pod["spec"].get("volumes", []) if "secret" in v and v["name"] in paths]


def digest(data):
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def project(target, data):
    """Write `data` (base64 values, as the API returns them) into `target` as kubelet's
    atomic writer does: a new ..<time> directory, then one rename of the ..data symlink."""
    os.makedirs(target, exist_ok=True)
    stamp = "..%s.%09d" % (time.strftime("%Y_%m_%d_%H_%M_%S"), time.time_ns() % 1000000000)
    new = os.path.join(target, stamp)
    os.makedirs(new)
    for key, value in data.items():
        path = os.path.join(new, key)
        with open(path, "wb") as f:
            f.write(base64.b64decode(value))
        os.chmod(path, 0o440)
    link = os.path.join(target, "..data")
    old = os.path.realpath(link) if os.path.islink(link) else None
    tmp = os.path.join(target, "..data_tmp")
    if os.path.lexists(tmp):
        os.remove(tmp)
    os.symlink(stamp, tmp)
    os.rename(tmp, link)
    for key in data:
        if not os.path.lexists(os.path.join(target, key)):
            os.symlink(os.path.join("..data", key), os.path.join(target, key))
    if old and os.path.isdir(old) and os.path.basename(old) != stamp:
        shutil.rmtree(old, ignore_errors=True)


def project_secrets(name, pod):
    """Project every Secret volume of the pod afresh: {mount path: (dir, Secret, digest)},
    or None while one of its Secrets does not exist."""
    out = {}
    for vol, secret, mount in secret_mounts(pod):
        obj = get_json("secret", secret)
        if not obj:
            return None
        data = obj.get("data", {})
        target = os.path.join(LOGDIR, name + "-volumes", vol)
        shutil.rmtree(target, ignore_errors=True)
        project(target, data)
        out[mount] = (target, secret, digest(data))
    return out


def sync_secrets():
    """Refresh the projected Secrets that changed (one list of the namespace's Secrets)."""
    if not any(p.get("secrets") for p in procs.values()):
        return
    lst = get_json("secrets")
    if lst is None:
        return
    current = {o["metadata"]["name"]: o.get("data", {}) for o in lst["items"]}
    for pod, p in procs.items():
        for mount, (target, secret, old) in list(p.get("secrets", {}).items()):
            data = current.get(secret)
            if data is None or digest(data) == old:
                continue
            project(target, data)
            p["secrets"][mount] = (target, secret, digest(data))
            say(pod, "secret %s refreshed (..data swapped)" % secret)


def ready_url_of(cfg, ip):
    """Where /readyz is probed: the first listen-metrics-urls URL, else the client port."""
    for line in cfg.splitlines():
        if line.startswith("listen-metrics-urls:"):
            url = line.split(":", 1)[1].strip().strip("'\"").split(",")[0]
            return url.rstrip("/") + "/readyz"
    return "http://%s:2379/readyz" % ip


def start(pod, uid, cm):
    name = pod["metadata"]["name"]
    cfg = (cm or {}).get("data", {}).get(name + ".yaml")
    if not cfg:
        return
    vol = volume_of(pod)
    if not vol:
        return
    secrets = project_secrets(name, pod)
    if secrets is None:
        return
    ip = socket.gethostbyname("%s.%s-peers.%s.svc" % (name, CLUSTER, NS))
    os.makedirs(vol, exist_ok=True)
    cfg = cfg.replace("0.0.0.0", ip).replace("/var/lib/capstan", vol)
    # Longest mount path first, so that no path is rewritten inside another.
    for mount in sorted(secrets, key=len, reverse=True):
        cfg = cfg.replace(mount + "/", secrets[mount][0] + "/")
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
                   "restarts": prev.get("restarts", 0), "volume": vol, "exited": None,
                   "secrets": secrets, "ready_url": ready_url_of(cfg, ip)}
    say(name, "started pid %d on %s, volume %s%s" % (proc.pid, ip, os.path.basename(vol),
                                                     ", secrets %s" % ",".join(sorted(s for (_, s, _) in secrets.values()))
                                                     if secrets else ""))


def ready(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
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


last_sync = time.time()
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
        r = ready(p["ready_url"])
        if r != p["ready"]:
            set_status(name, p, r)
    for name in list(procs):
        if name not in seen:
            stop(name, "pod gone")
    if time.time() - last_sync >= SECRET_SYNC:
        last_sync = time.time()
        sync_secrets()
    time.sleep(POLL)
say("-", "deadline reached")
shutdown()
