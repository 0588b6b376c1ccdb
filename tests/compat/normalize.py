#!/usr/bin/env python3
"""Masks what may legitimately differ between two etcd-compatible servers in a
scenario transcript, and nothing else.

A transcript is a sequence of blocks; a block starts with a line "$ <command>" and
holds that command's output (stdout and stderr) and a final "[exit N]".

Masked, everywhere:
  * cluster, member and lease IDs: each distinct ID becomes <ID1>, <ID2>, ... in order
    of first appearance (hex in text, decimal in JSON are the same ID), so a transcript
    that reuses an ID in the wrong place still differs;
  * raft terms (<TERM>);
  * the servers' own client and peer ports (--client-port/--peer-port);
  * etcdctl's client-side log lines, reduced to level, message and gRPC error
    (time stamps, caller and random client ids dropped; the gRPC code is kept);
  * table padding (cells are compared, not column widths).
Masked only in the output of specific commands:
  * endpoint status (and the gateway's /v3/maintenance/status): server version, db
    sizes, raft index and applied index;
  * GET /version: the version strings;
  * endpoint health: how long the proposal took;
  * endpoint hashkv: the hash value;
  * lease timetolive: the remaining TTL if it is within max(5 s, 10%) below the
    granted TTL, and the order of attached keys (etcd lists them in hash-map order);
  * snapshot status: hash, total keys and size (the file layout is the server's own).
Revisions, key versions, counts, keys, values, errors and exit codes are never masked.
A command ending in "  (output sorted)" has its output lines, and the elements of its
JSON "members", "leases" and "keys" arrays, sorted: for outputs whose order depends on
IDs or hash maps (member list with several members, lease list).

usage: normalize.py [--client-port N] [--peer-port N] < raw > normalized
"""
import argparse
import json
import re
import sys

SORTED_MARK = "  (output sorted)"


class IdMap:
    """Maps each distinct non-zero ID to <IDn>, numbered by first appearance."""

    def __init__(self) -> None:
        self.ids: dict[int, str] = {}

    def name(self, value: int) -> str:
        if value not in self.ids:
            self.ids[value] = f"<ID{len(self.ids) + 1}>"
        return self.ids[value]

    def dec(self, text: str) -> str:
        v = int(text)
        if v == 0:
            return "0"
        # `-w fields --hex` prints IDs in hex; one whose hex has no letter looks
        # decimal (about 1 cluster ID in 1000): a known ID read as hex is that ID.
        if v not in self.ids and int(text, 16) in self.ids:
            return self.ids[int(text, 16)]
        return self.name(v)

    def hex(self, text: str) -> str:
        v = int(text, 16)
        return "0" if v == 0 else self.name(v)

    def known_hex(self, text: str) -> str | None:
        v = int(text, 16)
        return self.ids.get(v)


JSON_ID_KEYS = (
    "cluster_id|member_id|ID|id|lease|leader|Leader|ClusterID|MemberID|Lease|LeaseID"
)
# etcdctl 3.5+ `-w fields --hex` prints the header IDs in hex.
RE_FIELDS_HEX_ID = re.compile(r'^("(?:ClusterID|MemberID|Leader|ID|Lease)" : )([0-9a-f]*[a-f][0-9a-f]*)$')
RE_JSON_ID = re.compile(r'("(?:' + JSON_ID_KEYS + r')"\s*:\s*"?)(\d+)')
RE_TERM = re.compile(r'("(?:raft_term|raftTerm|RaftTerm)"\s*:\s*"?)(\d+)')
RE_LEASE_TEXT = re.compile(
    r"^(lease )([0-9a-f]+)( (?:granted|revoked|keepalived|already expired|expired or revoked|not found))"
)
# "Member %16x added to cluster %16x": IDs space-padded to 16 characters
RE_MEMBER_MSG = re.compile(r"\b(Member|cluster) +([0-9a-f]{1,16})\b")
RE_MEMBER_SIMPLE = re.compile(r"^([0-9a-f]+)(, (?:started|unstarted), )")
RE_FOUND_LEASES = re.compile(r"^found \d+ leases$")
RE_HEX_LINE = re.compile(r"^[0-9a-f]{1,16}$")
RE_HEX_TOKEN = re.compile(r"\b([0-9a-f]{8,16})\b")
RE_DEC_TOKEN = re.compile(r"\b(\d{10,20})\b")
# Tables: ASCII (etcdctl 3.4-3.6: +---+ and |) or box drawing (etcdctl 3.7: ┌─┬─┐, │).
RE_TABLE_BORDER = re.compile(r"^(?:\+[-+]+\+|[┌├└][─┬┼┴]+[┐┤┘])\s*$")
RE_TABLE_ROW = re.compile(r"^[|│](.*)[|│]\s*$")
RE_HOSTPORT = re.compile(r"\b(127\.\d+\.\d+\.\d+|localhost|\[::1\]):(\d+)\b")
RE_REMAINING = re.compile(r"TTL\((\d+)s\), remaining\((-?\d+)s\)")
RE_REMAINING_JSON = re.compile(r'"ttl":(-?\d+),"granted-ttl":(\d+)')
# the JSON gateway's LeaseTimeToLive (sorted keys): "TTL":"59","grantedTTL":"60"
RE_REMAINING_GW = re.compile(r'"TTL":"(-?\d+)","grantedTTL":"(\d+)"')


def split_top(text: str) -> list[str]:
    """Splits the inside of a JSON array at its top-level commas."""
    parts, depth, cur, in_str, esc = [], 0, "", False, False
    for ch in text:
        if in_str:
            cur += ch
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    if cur:
        parts.append(cur)
    return parts


RE_SORTABLE_ARRAY = re.compile(r'"(members|leases|keys)":\[')


def sort_json_arrays(line: str) -> str:
    """Sorts the elements of "members", "leases" and "keys" arrays (text order)."""
    out, pos = "", 0
    for m in RE_SORTABLE_ARRAY.finditer(line):
        if m.start() < pos:
            continue
        start = m.end()
        depth, i = 1, start
        while i < len(line) and depth:
            if line[i] == '"':
                i += 1
                while i < len(line) and line[i] != '"':
                    i += 2 if line[i] == "\\" else 1
            elif line[i] in "[{":
                depth += 1
            elif line[i] in "]}":
                depth -= 1
            i += 1
        inner = line[start:i - 1]
        out += line[pos:start] + ",".join(sorted(split_top(inner))) + "]"
        pos = i
    return out + line[pos:]


def near_granted(remaining: int, granted: int) -> bool:
    """A remaining TTL that a lease granted moments ago may show (slow runs included)."""
    return max(0, granted - max(5, granted // 10)) <= remaining <= granted


def client_log(line: str) -> str | None:
    """etcdctl's zap JSON log line -> '[etcdctl LEVEL] msg: error', or None."""
    if not line.startswith('{"level":'):
        return None
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    out = f"[etcdctl {rec.get('level', '?')}] {rec.get('msg', '')}"
    if "error" in rec:
        out += f": {rec['error']}"
    return out


class Normalizer:
    def __init__(self, ports: dict[int, str]) -> None:
        self.ids = IdMap()
        self.ports = ports

    def common(self, line: str) -> str:
        line = RE_HOSTPORT.sub(
            lambda m: f"{m.group(1)}:{self.ports.get(int(m.group(2)), m.group(2))}", line
        )
        line = RE_FIELDS_HEX_ID.sub(lambda m: m.group(1) + self.ids.hex(m.group(2)), line)
        line = RE_JSON_ID.sub(lambda m: m.group(1) + self.ids.dec(m.group(2)), line)
        line = RE_TERM.sub(lambda m: m.group(1) + "<TERM>", line)
        line = RE_LEASE_TEXT.sub(
            lambda m: m.group(1) + self.ids.hex(m.group(2)) + m.group(3), line
        )
        line = RE_MEMBER_SIMPLE.sub(lambda m: self.ids.hex(m.group(1)) + m.group(2), line)
        line = RE_MEMBER_MSG.sub(lambda m: m.group(1) + " " + self.ids.hex(m.group(2)), line)
        # any other mention of an ID we have already seen (e.g. a leader field)
        line = RE_HEX_TOKEN.sub(lambda m: self.ids.known_hex(m.group(1)) or m.group(1), line)
        line = RE_DEC_TOKEN.sub(lambda m: self.ids.ids.get(int(m.group(1)), m.group(1)), line)
        return line

    def command(self, line: str) -> str:
        # lease IDs passed as arguments (--lease=ID, lease revoke ID, ...)
        line = RE_HOSTPORT.sub(
            lambda m: f"{m.group(1)}:{self.ports.get(int(m.group(2)), m.group(2))}", line
        )
        return RE_HEX_TOKEN.sub(lambda m: self.ids.known_hex(m.group(1)) or m.group(1), line)

    def table(self, rows: list[list[str]], cmd: str) -> list[str]:
        header = rows[0]
        masks: dict[str, str] = {"RAFT TERM": "<TERM>"}
        if "endpoint status" in cmd:
            masks.update({"VERSION": "<VERSION>", "DB SIZE": "<SIZE>",
                          "RAFT INDEX": "<INDEX>", "RAFT APPLIED INDEX": "<INDEX>",
                          "DB SIZE IN USE": "<SIZE>", "IN USE": "<SIZE>",
                          "PERCENTAGE NOT IN USE": "<PERCENT>"})
        if "hashkv" in cmd:
            masks["HASH"] = "<HASH>"
        if "endpoint health" in cmd:
            masks["TOOK"] = "<DURATION>"
        if "snapshot status" in cmd:
            masks.update({"HASH": "<HASH>", "TOTAL KEYS": "<KEYS>", "TOTAL SIZE": "<SIZE>"})
        out = ["| " + " | ".join(header) + " |"]
        for row in rows[1:]:
            cells = []
            for i, cell in enumerate(row):
                col = header[i] if i < len(header) else ""
                if col in ("ID", "LEADER") and RE_HEX_LINE.match(cell):
                    cell = self.ids.hex(cell)
                elif col in masks:
                    cell = masks[col]
                else:
                    cell = self.common(cell)
                cells.append(cell)
            out.append("| " + " | ".join(cells) + " |")
        return out

    def specific(self, line: str, cmd: str) -> str:
        if "endpoint status" in cmd or "/v3/maintenance/status" in cmd:
            line = re.sub(r'("version"\s*:\s*)"[^"]*"', r'\1"<VERSION>"', line)
            line = re.sub(r'("Version" : )"[^"]*"', r'\1"<VERSION>"', line)
            line = re.sub(r'("(?:dbSize|dbSizeInUse|DBSize|DBSizeInUse)"\s*:\s*"?)\d+', r"\1<SIZE>", line)
            line = re.sub(r'("(?:raftIndex|raftAppliedIndex|RaftIndex|RaftAppliedIndex)"\s*:\s*"?)\d+',
                          r"\1<INDEX>", line)
            # simple: endpoint, ID, version, db size, is leader, is learner, term, index, applied, errors
            parts = line.split(", ")
            if len(parts) == 16 and parts[0].startswith(("127.", "localhost", "http")):
                # etcdctl 3.6: endpoint, ID, version, storage version, db size, in use,
                # percentage not in use, quota, leader, learner, term, index, applied,
                # errors, downgrade target, downgrade enabled
                if RE_HEX_LINE.match(parts[1]):
                    parts[1] = self.ids.hex(parts[1])
                parts[2] = "<VERSION>"
                parts[4] = parts[5] = "<SIZE>"
                parts[6] = "<PERCENT>"
                parts[10] = "<TERM>"
                parts[11] = parts[12] = "<INDEX>"
                line = ", ".join(parts)
            elif len(parts) >= 9 and parts[0].startswith(("127.", "localhost", "http")):
                if RE_HEX_LINE.match(parts[1]):
                    parts[1] = self.ids.hex(parts[1])
                parts[2] = "<VERSION>"
                parts[3] = "<SIZE>"
                parts[6] = "<TERM>"
                parts[7] = parts[8] = "<INDEX>"
                line = ", ".join(parts)
        if "defrag" in cmd:
            # etcdctl 3.6 reports how long defragmenting took
            line = re.sub(r"(Finished defragmenting etcd member\[[^]]*\])\. took \S+$", r"\1", line)
        if cmd.startswith("$ http GET /version"):
            line = re.sub(r'("etcd(?:server|cluster)"\s*:\s*)"[^"]*"', r'\1"<VERSION>"', line)
        if "endpoint health" in cmd:
            line = re.sub(r"took = \S+", "took = <DURATION>", line)
            line = re.sub(r'("took"\s*:\s*)"[^"]*"', r'\1"<DURATION>"', line)
            line = re.sub(r'^("Took" : )\S+$', r"\1<DURATION>", line)
        if "hashkv" in cmd:
            line = re.sub(r'("hash"\s*:\s*"?)\d+', r"\1<HASH>", line)
            # etcdctl 3.6 adds the hash revision after the hash
            line = re.sub(r"^((?:127\.|localhost)\S*, )\d+((?:, \d+)?)$", r"\1<HASH>\2", line)
        if "timetolive" in cmd:
            # etcd lists a lease's attached keys in map order: compare them as a set
            line = re.sub(r"attached keys\(\[([^]]*)\]\)",
                          lambda m: "attached keys([" + " ".join(sorted(m.group(1).split())) + "])", line)
            line = re.sub(r'("keys":\[)([^]]*)(\])',
                          lambda m: m.group(1) + ",".join(sorted(m.group(2).split(","))) + m.group(3), line)
            line = RE_REMAINING.sub(
                lambda m: f"TTL({m.group(1)}s), remaining("
                + ("<NEAR-GRANTED>" if near_granted(int(m.group(2)), int(m.group(1))) else m.group(2) + "s")
                + ")", line)
            line = RE_REMAINING_JSON.sub(
                lambda m: '"ttl":'
                + ('"<NEAR-GRANTED>"' if near_granted(int(m.group(1)), int(m.group(2))) else m.group(1))
                + ',"granted-ttl":' + m.group(2), line)
            line = RE_REMAINING_GW.sub(
                lambda m: '"TTL":'
                + ('"<NEAR-GRANTED>"' if near_granted(int(m.group(1)), int(m.group(2))) else '"%s"' % m.group(1))
                + ',"grantedTTL":"' + m.group(2) + '"', line)
        if "snapshot status" in cmd:
            line = re.sub(r'("(?:hash|totalKey|totalSize)"\s*:\s*)\d+', r"\1<MASKED>", line)
            parts = line.split(", ")
            if len(parts) == 4 and re.fullmatch(r"[0-9a-f]+", parts[0]):
                line = ", ".join(["<HASH>", parts[1], "<KEYS>", "<SIZE>"])
        return line

    def block(self, lines: list[str]) -> list[str]:
        cmd = self.command(lines[0])
        out = [cmd]
        body = lines[1:]
        i = 0
        after_found = False
        while i < len(body):
            line = body[i]
            if RE_TABLE_BORDER.match(line) or RE_TABLE_ROW.match(line):
                rows = []
                while i < len(body) and (RE_TABLE_BORDER.match(body[i]) or RE_TABLE_ROW.match(body[i])):
                    m = RE_TABLE_ROW.match(body[i])
                    if m:
                        rows.append([c.strip() for c in re.split(r"[|│]", m.group(1))])
                    i += 1
                if rows:
                    out.extend(self.table(rows, cmd))
                continue
            log = client_log(line)
            if log is not None:
                out.append(self.common(log))
            elif after_found and RE_HEX_LINE.match(line):
                out.append(self.ids.hex(line))
            else:
                out.append(self.specific(self.common(line), cmd))
                after_found = bool(RE_FOUND_LEASES.match(line))
            i += 1
        if cmd.endswith(SORTED_MARK):
            out = [out[0]] + [sort_json_arrays(l) for l in out[1:]]
            tail = [l for l in out[1:] if l.startswith("[exit ")]
            rest = sorted(l for l in out[1:] if not l.startswith("[exit "))
            out = [out[0]] + rest + tail
        return out

    def run(self, text: str) -> str:
        blocks: list[list[str]] = [[]]
        for line in text.splitlines():
            if line.startswith("$ "):
                blocks.append([line])
            else:
                blocks[-1].append(line)
        out = [self.common(l) for l in blocks[0]]
        for b in blocks[1:]:
            out.extend(self.block(b))
        return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--client-port", type=int, action="append", default=[])
    ap.add_argument("--peer-port", type=int, action="append", default=[])
    a = ap.parse_args()
    ports = {p: "CLIENT_PORT" for p in a.client_port}
    ports.update({p: "PEER_PORT" for p in a.peer_port})
    text = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    sys.stdout.write(Normalizer(ports).run(text))


if __name__ == "__main__":
    main()
