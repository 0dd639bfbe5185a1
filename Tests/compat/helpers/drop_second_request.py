"""An HTTP/1.1 server for the S3 client's connection reuse: on the first connection it answers
the first request (200, keep-alive) and closes the connection after reading the second one,
without answering, as a server does that drops a kept connection just as a request arrives.
Every later connection has all its requests answered. Usage: python3 drop_second_request.py PORT"""
import socket
import sys
import threading


def read_request(conn: socket.socket, buffered: bytes) -> tuple[bytes, bytes] | None:
    """One request (head and Content-Length body) and the bytes after it; None at EOF."""
    while b"\r\n\r\n" not in buffered:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buffered += chunk
    head, rest = buffered.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return head, rest[length:]


def serve(conn: socket.socket, first: bool) -> None:
    buffered = b""
    answered = 0
    with conn:
        while (request := read_request(conn, buffered)) is not None:
            _, buffered = request
            if first and answered == 1:
                return
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            answered += 1


def main() -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", int(sys.argv[1])))
    listener.listen()
    first = True
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, first), daemon=True).start()
        first = False


main()
