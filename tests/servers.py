"""Tiny local servers for tests: a web server giving one video file (with its length and byte
ranges, as any web server does), and one that accepts connections but never answers (or answers
a little, then hangs)."""
from __future__ import annotations

import re
import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _HttpServer:
    """A threaded HTTP server on a free loopback port, serving `handler` inside a `with` block."""

    def _serve(self, handler: type[BaseHTTPRequestHandler], path: str) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/{path}"

    def __enter__(self):
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class FileServer(_HttpServer):
    """Serves `path` at `http://127.0.0.1:PORT/<name>` (Content-Length, `Range: bytes=`) until
    the block ends. `requests` counts the GET requests answered."""

    def __init__(self, path: Path, name: str | None = None):
        self.path, self.name = Path(path), name or Path(path).name
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self._answer(body=False)

            def do_GET(self):
                server.requests += 1
                self._answer(body=True)

            def _answer(self, body: bool):
                if self.path.split("?")[0] != "/" + server.name:
                    self.send_error(404)
                    return
                size = server.path.stat().st_size
                start, end = 0, size - 1
                m = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
                if m and (m[1] or m[2]):
                    if m[1]:
                        start, end = int(m[1]), min(int(m[2]) if m[2] else size - 1, size - 1)
                    else:
                        start = max(size - int(m[2]), 0)
                    if start >= size:
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{size}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
                else:
                    self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(end - start + 1))
                self.end_headers()
                if body:
                    with server.path.open("rb") as f:
                        f.seek(start)
                        try:
                            shutil.copyfileobj(_Limited(f, end - start + 1), self.wfile)
                        except (BrokenPipeError, ConnectionResetError):
                            pass                     # the client seeks elsewhere: it hangs up

        self._serve(Handler, self.name)


class _Limited:
    def __init__(self, f, n: int):
        self.f, self.n = f, n

    def read(self, size: int = -1) -> bytes:
        size = self.n if size < 0 else min(size, self.n)
        data = self.f.read(size)
        self.n -= len(data)
        return data


class SilentServer:
    """Accepts connections on 127.0.0.1 and never answers; with `reply`, sends those bytes first
    (say, an HTTP status line and headers) and then nothing more. `accepted(n, timeout)` waits
    until n connections have been accepted."""

    def __init__(self, reply: bytes = b"", path: str = "/live"):
        self.reply = reply
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.host = f"127.0.0.1:{self._sock.getsockname()[1]}"
        self.url = f"http://{self.host}{path}"
        self._conns: list[socket.socket] = []
        self._changed = threading.Condition()
        self._closed = False

    def _serve(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            if self.reply:
                try:
                    conn.recv(4096)
                    conn.sendall(self.reply)
                except OSError:
                    pass
            with self._changed:
                self._conns.append(conn)
                self._changed.notify_all()

    def accepted(self, n: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self._conns) >= n, timeout)

    def __enter__(self) -> "SilentServer":
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._closed = True
        self._sock.close()
        for c in self._conns:
            c.close()


class MjpegCamera(_HttpServer):
    """A network camera on loopback: `http://127.0.0.1:PORT/video.mjpg` sends the frames of
    `path` as multipart JPEG (what IP cameras send), paced at `fps`, looping `loops` times, then
    hangs up. `sent` counts the frames sent."""

    def __init__(self, path: Path, fps: float = 30.0, loops: int = 1):
        import cv2
        from media import read_frames
        self.jpegs = [cv2.imencode(".jpg", f)[1].tobytes() for f in read_frames(Path(path))]
        self.sent = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                import time
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace;boundary=frame")
                self.end_headers()
                start = time.perf_counter()
                try:
                    for i, jpeg in enumerate(server.jpegs * loops):
                        time.sleep(max(0.0, start + i / fps - time.perf_counter()))
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n"
                                         + f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
                        server.sent += 1
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._serve(Handler, "video.mjpg")
