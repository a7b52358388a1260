"""A misbehaving HTTP target for the bad-input battery, run as its own process.

    python tests/battery/stub_server.py MODE PORT_FILE

MODE: ``html`` (200 with an HTML page for everything), ``hang`` (accepts, never answers),
``close`` (reads the request, closes without a byte), ``midway`` (sends half a response, closes),
``error`` (500 with a JSON error for everything). The first connection (the suite's reachability
probe) gets a plain JSON 404, so the run starts and the misbehaviour is measured, not refused.
Writes the port it listens on to PORT_FILE.
"""

from __future__ import annotations

import itertools
import os
import socket
import sys
import threading

HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


def handle(conn: socket.socket, mode: str, first: bool) -> None:
    try:
        conn.settimeout(60)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        if first:
            body = b'{"statusCode":404,"message":"Cannot GET /"}'
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)  # fmt: skip
            return
        if mode == "hang":
            conn.recv(1)  # blocks until the client gives up
            return
        if mode == "close":
            return
        if mode == "midway":
            conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"tok')
            return
        status, body, kind = (
            (b"200 OK", HTML, b"text/html")
            if mode == "html"
            else (b"500 Internal Server Error", b'{"statusCode":500,"message":"boom"}', b"application/json")
        )
        conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: " + kind + b"\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)  # fmt: skip
    except OSError:
        pass
    finally:
        conn.close()


def main() -> None:
    mode, port_file = sys.argv[1], sys.argv[2]
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(512)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as port_out:
        port_out.write(str(server.getsockname()[1]))
    os.replace(tmp, port_file)
    for number in itertools.count():
        conn, _ = server.accept()
        threading.Thread(target=handle, args=(conn, mode, number == 0), daemon=True).start()


if __name__ == "__main__":
    main()
