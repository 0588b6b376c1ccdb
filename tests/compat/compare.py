#!/usr/bin/env python3
"""Compares two normalized transcripts command by command.

Prints every block (a "$ command" line and its output) that differs, with both
sides, then "NAME: N/M identical". Blocks listed in the known-differences file are
reported as known and do not fail the comparison.

usage: compare.py NAME REF_NORM SUT_NORM [--ref-label L] [--sut-label L]
                  [--known FILE] [--result FILE] [--max-diffs N]
--max-diffs N prints at most N differing blocks (default 40), then a count.
--result FILE receives one line "identical total known" for the caller's totals.
Exit status: 0 if every block is identical or known, 1 otherwise.
"""
import argparse
import re
import sys


def blocks(path: str) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("$ "):
                out.append((line, []))
            elif out:
                out[-1][1].append(line)
    return out


def load_known(path: str | None, name: str) -> list[tuple[re.Pattern[str], str]]:
    """Lines 'SCENARIO<TAB>COMMAND-REGEX<TAB>REASON'; '#' starts a comment."""
    known: list[tuple[re.Pattern[str], str]] = []
    if not path:
        return known
    try:
        with open(path, encoding="utf-8") as f:
            for raw in f:
                if not raw.strip() or raw.lstrip().startswith("#"):
                    continue
                parts = raw.rstrip("\n").split("\t")
                if len(parts) >= 2 and parts[0] in (name, "*"):
                    known.append((re.compile(parts[1]), parts[2] if len(parts) > 2 else ""))
    except FileNotFoundError:
        pass
    return known


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("ref")
    ap.add_argument("sut")
    ap.add_argument("--ref-label", default="etcd")
    ap.add_argument("--sut-label", default="capstan")
    ap.add_argument("--known")
    ap.add_argument("--result")
    ap.add_argument("--max-diffs", type=int, default=40)
    a = ap.parse_args()

    ref, sut = blocks(a.ref), blocks(a.sut)
    known = load_known(a.known, a.name)
    same = known_n = shown = 0
    width = max(len(a.ref_label), len(a.sut_label))
    for i, (cmd, out) in enumerate(ref):
        scmd, sout = sut[i] if i < len(sut) else ("<missing: transcript ended>", [])
        if cmd == scmd and out == sout:
            same += 1
            continue
        reason = next((r for pat, r in known if pat.search(cmd)), None)
        if reason is not None:
            known_n += 1
            print(f"--- {a.name} #{i + 1}: known difference ({reason}): {cmd}")
            continue
        shown += 1
        if shown > a.max_diffs:
            continue
        print(f"--- {a.name} #{i + 1} differs:")
        print(f"  {a.ref_label:<{width}} | {cmd}")
        for line in out:
            print(f"  {a.ref_label:<{width}} | {line}")
        print(f"  {a.sut_label:<{width}} | {scmd}")
        for line in sout:
            print(f"  {a.sut_label:<{width}} | {line}")
    if shown > a.max_diffs:
        print(f"--- {a.name}: {shown - a.max_diffs} more differing block(s) not shown")
    extra = len(sut) - len(ref)
    if extra > 0:
        print(f"--- {a.name}: {a.sut_label} transcript has {extra} extra block(s):")
        for cmd, _ in sut[len(ref):]:
            print(f"  {a.sut_label:<{width}} | {cmd}")
    total = len(ref)
    ok = same + known_n == total and extra <= 0 and total > 0
    note = f" ({known_n} known)" if known_n else ""
    print(f"{a.name}: {same}/{total} identical{note}")
    if a.result:
        with open(a.result, "w", encoding="utf-8") as f:
            f.write(f"{same} {total} {known_n} {'ok' if ok else 'fail'}\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
