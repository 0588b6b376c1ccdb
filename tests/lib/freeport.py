#!/usr/bin/env python3
"""Prints N distinct free TCP ports on HOST, one per line.

Ports are drawn at random from 20000-32767, below Linux's ephemeral range
(32768-60999), so outgoing client connections never take them between our pick
and the server's bind; random picks keep parallel runs from colliding. Each
port is checked by binding it (all N at once, so they are distinct).

usage: freeport.py [N] [HOST]
"""
import random
import socket
import sys


def pick(n: int, host: str) -> list[int]:
    rng = random.SystemRandom()
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        for _ in range(2000):
            if len(ports) == n:
                break
            port = rng.randrange(20000, 32768)
            if port in ports:
                continue
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind((host, port))
            except OSError:
                s.close()
                continue
            held.append(s)
            ports.append(port)
    finally:
        for s in held:
            s.close()
    if len(ports) != n:
        sys.exit(f"freeport: found only {len(ports)} of {n} free ports on {host}")
    return ports


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    print("\n".join(str(p) for p in pick(n, host)))


if __name__ == "__main__":
    main()
