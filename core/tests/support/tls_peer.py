"""OpenSSL (through Python's ssl module) as the other end of a TLS 1.3 connection.

Prints one JSON line with what OpenSSL reports for the connection, tls-unique included.

  tls_peer.py client PORT [GROUP]              connect to 127.0.0.1:PORT, no certificate checks
  tls_peer.py server CHAIN_PEM KEY_PEM [GROUP] listen on 127.0.0.1, print {"port": N}, serve once

GROUP (X25519 or X448) restricts OpenSSL to that one key-exchange group.

Both ends send one line and read the peer's line before closing.
"""

import json
import socket
import ssl
import sys


def report(conn, received):
    print(json.dumps({
        "tls_unique": conn.get_channel_binding("tls-unique").hex(),
        "version": conn.version(),
        "cipher": conn.cipher()[0],
        "received": received.decode("utf-8", "replace"),
    }), flush=True)


def read_line(conn):
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def client(port, group):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if group:
        ctx.set_ecdh_curve(group)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        with ctx.wrap_socket(sock, server_hostname="localhost") as conn:
            conn.sendall(b"hello from openssl client\n")
            received = read_line(conn)
            report(conn, received)


def server(chain, key, group):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if group:
        ctx.set_ecdh_curve(group)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(chain, key)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(20)
        print(json.dumps({"port": listener.getsockname()[1]}), flush=True)
        sock, _ = listener.accept()
        sock.settimeout(20)
        with ctx.wrap_socket(sock, server_side=True) as conn:
            received = read_line(conn)
            conn.sendall(b"hello from openssl server\n")
            report(conn, received)


if __name__ == "__main__":
    try:
        if sys.argv[1] == "client":
            client(int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
        else:
            server(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
    except (ssl.SSLError, OSError) as e:
        print(json.dumps({"error": str(e)}), flush=True)
        sys.exit(1)
