#!/usr/bin/env python3
"""Sends one control request built by hand, bypassing railctl's own checks,
and prints the daemon's answer as `status=N error=TEXT`.

  control_raw.py SOCKET send PEER SIZE COUNT CONCURRENCY
  control_raw.py SOCKET fault RAIL DROP     (DROP: a float, e.g. nan)
"""
import socket
import struct
import sys


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def field_varint(number, value):
    return varint(number << 3) + varint(value)


def field_bytes(number, value):
    return varint(number << 3 | 2) + varint(len(value)) + value


def field_double(number, value):
    return varint(number << 3 | 1) + struct.pack("<d", value)


def read_varint(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def fields(buf):
    out, i = {}, 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        kind = key & 7
        if kind == 0:
            v, i = read_varint(buf, i)
        elif kind == 2:
            n, i = read_varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif kind == 1:
            v, i = buf[i:i + 8], i + 8
        elif kind == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {kind}")
        out[key >> 3] = v
    return out


def main():
    path, kind = sys.argv[1], sys.argv[2]
    if kind == "send":
        peer, size, count, concurrency = sys.argv[3], *map(int, sys.argv[4:7])
        body = field_bytes(14, field_bytes(1, peer.encode()) + field_varint(2, size) + field_varint(3, count) +
                           field_varint(6, concurrency))
    elif kind == "fault":
        body = field_bytes(17, field_bytes(1, sys.argv[3].encode()) + field_double(2, float(sys.argv[4])))
    else:
        sys.exit(f"unknown request kind {kind}")
    request = field_varint(1, 1) + field_varint(2, 7) + body
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(struct.pack(">I", len(request)) + request)
    data = b""
    while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("the daemon closed the connection without an answer")
        data += chunk
    reply = fields(data[4:4 + struct.unpack(">I", data[:4])[0]])
    print(f"status={reply.get(3, 0)} error={reply.get(4, b'').decode()}")


main()
