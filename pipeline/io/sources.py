"""Frame sources behind one iterator of `Frame(index, time_s, image)`: a video file, a camera
index, a stream URL; plus listing the videos of a folder.

Frames whose pixels are not needed (in-between frames when nothing displays them) are skipped
with `grab()`, which demuxes and decodes but does not convert to BGR. Files are shown as their
players show them: upright (a phone's rotation metadata applied) and timed by the container's
timestamps, so variable-frame-rate files keep their real times.
"""
from __future__ import annotations

import errno
import os
import queue
import select
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlsplit

import cv2
import numpy as np

VIDEO_EXTENSIONS = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv"}
STREAM_TIMEOUT_S = 10.0      # a stream that sends no video for this long has failed (or is lost)
_DEFAULT_PORTS = {"http": 80, "https": 443, "rtsp": 554, "rtsps": 322, "rtmp": 1935, "rtmps": 443}


_MAGIC = (b"ftyp", b"RIFF", b"\x1aE\xdf\xa3", b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3", b"OggS",
          b"FLV", b"0&\xb2u")      # MP4/MOV, AVI, Matroska/WebM, MPEG-PS, MPEG-ES, Ogg, FLV, ASF


def decoder_threads() -> int:
    """FFmpeg threads for decoding: every core but one, which is left to the estimator. On two
    cores FFmpeg's default (all of them) made each MediaPipe call 10-15 % slower for no gain in
    throughput (bench/speed.py)."""
    return max(1, (os.cpu_count() or 2) - 1)


def upright(cap: cv2.VideoCapture) -> int:
    """Have `cap` return frames as players show them (a phone's rotation metadata applied); the
    clockwise degrees it rotates them by. Off by default in OpenCV's FFmpeg backend and refused
    as an open parameter, so it is switched on after opening, before the first frame is decoded."""
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    if not cap.get(cv2.CAP_PROP_ORIENTATION_AUTO):
        return 0
    return int(round(cap.get(cv2.CAP_PROP_ORIENTATION_META))) % 360


def open_ffmpeg(spec: str, timeout_s: float | None = None) -> cv2.VideoCapture:
    """A file or stream through FFmpeg, decoding on `decoder_threads()`; `timeout_s` bounds the
    wait for opening and for each read (streams)."""
    params = [cv2.CAP_PROP_N_THREADS, decoder_threads()]
    if timeout_s is not None:
        ms = int(timeout_s * 1000)
        params += [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
    return cv2.VideoCapture(spec, cv2.CAP_FFMPEG, params)


_HELLO = {"http": "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n",
          "https": "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n",
          "rtsp": "OPTIONS {url} RTSP/1.0\r\nCSeq: 1\r\n\r\n"}


def probe_stream(url: str, timeout_s: float = STREAM_TIMEOUT_S,
                 cancelled: Callable[[], bool] = lambda: False) -> str | None:
    """Why a network stream cannot be used (host unknown, refused, no answer), or None when its
    server answers (or the URL names no server to try). HTTP(S) and RTSP servers are sent a
    request and must begin to answer within `timeout_s`; other protocols must accept a
    connection. Done in Python, in steps of 0.1 s, so `cancelled()` stops it at once: FFmpeg's
    own opening cannot be interrupted, and OpenCV lets only one run at a time.
    Raises SourceError when cancelled."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), parts.hostname
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return f"bad port in {url}"
    if not host or not port or scheme == "udp":
        return None
    deadline = time.monotonic() + timeout_s
    where = f"{host}:{port}"
    try:
        sock = _connect(host, port, deadline, cancelled)
    except socket.gaierror:
        return f"host {host} not found"
    except ConnectionRefusedError:
        return f"connection refused by {where} (nothing listens there)"
    except TimeoutError:
        return f"no answer from {where} after {timeout_s:g} s (the connection was not accepted)"
    except OSError as e:
        return f"cannot connect to {where}: {e.strerror or e}"
    with sock:
        if scheme not in _HELLO:
            return None
        try:
            if scheme == "https":
                import ssl
                context = ssl.create_default_context()
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE   # as FFmpeg
                sock.settimeout(max(deadline - time.monotonic(), 0.1))
                sock = context.wrap_socket(sock, server_hostname=host)
            hello = _HELLO[scheme].format(path=parts.path or "/", host=host, url=url)
            sock.sendall(hello.encode())
            answer = b""
            while b"\r\n" not in answer and len(answer) < 256:     # the status line
                if cancelled():
                    raise SourceError(f"connecting to {url} cancelled")
                sock.settimeout(min(0.1, max(deadline - time.monotonic(), 0.01)))
                try:
                    got = sock.recv(256 - len(answer))
                except (socket.timeout, TimeoutError):
                    if time.monotonic() >= deadline:
                        return None if answer else (f"no answer from {where} after {timeout_s:g} s (it "
                                                    f"accepted the connection but sent nothing)")
                    continue
                if not got:
                    break
                answer += got
            if not answer:
                return f"{where} closed the connection without answering"
            status = answer.split(b"\r\n")[0].split(None, 2)        # HTTP/1.0 404 Not Found
            if len(status) >= 2 and status[0][:5] in (b"HTTP/", b"RTSP/") and status[1].isdigit() \
                    and int(status[1]) >= 400:
                return f"the server answered {b' '.join(status[1:]).decode('latin-1').strip()}"
            return None
        except OSError as e:
            return f"{where}: {e.strerror or e}"


def _connect(host: str, port: int, deadline: float, cancelled: Callable[[], bool]) -> socket.socket:
    """A TCP connection to host:port, tried in steps of 0.1 s until `deadline`."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    try:
        if sock.connect_ex(address) not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            sock.connect(address)                         # raises the error with its message
        while True:
            if cancelled():
                raise SourceError(f"connecting to {host}:{port} cancelled")
            if select.select([], [sock], [], 0.1)[1]:
                if (err := sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)) != 0:
                    raise OSError(err, os.strerror(err)) if err != errno.ECONNREFUSED else \
                        ConnectionRefusedError(err, os.strerror(err))
                sock.setblocking(True)
                return sock
            if time.monotonic() >= deadline:
                raise TimeoutError
    except BaseException:
        sock.close()
        raise


def looks_like_video(path: Path) -> bool:
    """Whether a file starts like a video container (read before blaming the content)."""
    try:
        head = path.read_bytes()[:16] if path.stat().st_size < 16 else path.open("rb").read(16)
    except OSError:
        return False
    return any(m in head[:12] for m in _MAGIC)


_IMAGES = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"BM", "BMP"),
           (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))
_IMAGE_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF"}
_AUDIO_BRANDS = {b"M4A ": "M4A", b"M4B ": "M4B", b"M4P ": "M4P"}
_AUDIO = ((b"fLaC", "FLAC"), (b"ID3", "MP3"), (b"caff", "CAF"), (b"#!AMR", "AMR"))
_MKV_SEGMENT, _MKV_TRACKS, _MKV_CLUSTER, _MKV_ENTRY, _MKV_TYPE = 0x18538067, 0x1654AE6B, 0x1F43B675, 0xAE, 0x83
_MKV_KINDS = {1: "video", 2: "audio", 3: "complex", 0x10: "logo", 0x11: "subtitle", 0x12: "buttons",
              0x20: "control", 0x21: "metadata"}
_MP4_KINDS = {b"vide": "video", b"soun": "audio", b"text": "text", b"sbtl": "subtitle", b"subt": "subtitle",
              b"meta": "metadata", b"hint": "hint", b"tmcd": "timecode"}
VIDEO_HINT = "give a video file (.mp4, .mov, .mkv, .webm, .avi, ...) or a folder of videos"


def not_a_video(path: Path) -> str | None:
    """Why a file is no video although a decoder might open it, read from its first bytes and,
    for MP4/MOV and Matroska/WebM, from its list of tracks: "an image (JPEG)", "no video stream
    (an audio file: WAV)", "no video stream (its tracks: audio)"; None when it may be a video."""
    try:
        with path.open("rb") as f:
            head = f.read(4096)
    except OSError:
        return None
    for magic, name in _IMAGES:
        if head.startswith(magic):
            return f"an image ({name})"
    brand = head[8:12] if head[4:8] == b"ftyp" else b""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" or brand in _IMAGE_BRANDS:
        return f"an image ({'WebP' if head[:4] == b'RIFF' else _IMAGE_BRANDS[brand]})"
    audio = next((name for magic, name in _AUDIO if head.startswith(magic)), None)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        audio = "WAV"
    elif head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        audio = "AIFF"
    elif len(head) > 1 and head[0] == 0xFF and head[1] & 0xF0 == 0xF0:
        audio = "MPEG audio"                              # an MP3 or AAC (ADTS) frame header
    elif head[:4] == b"OggS" and b"theora" not in head and b"\x80theora" not in head:
        audio = "Ogg"
    elif brand in _AUDIO_BRANDS:
        audio = _AUDIO_BRANDS[brand]
    if audio is not None:
        return f"no video stream (an audio file: {audio})"
    kinds = _mp4_tracks(path) if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free") else \
        _mkv_tracks(head + _read_more(path, 4096, 1 << 20)) if head[:4] == b"\x1aE\xdf\xa3" else None
    if kinds and "video" not in kinds:                  # no tracks read: a damaged file, decoded below
        return f"no video stream (its tracks: {', '.join(kinds) or 'none'})"
    return None


def _read_more(path: Path, offset: int, size: int) -> bytes:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read(size)


def _mp4_tracks(path: Path) -> list[str] | None:
    """The kinds of an MP4/MOV file's tracks (handler types), None when its `moov` is not found."""
    import struct
    try:
        with path.open("rb") as f:
            end = path.stat().st_size
            pos = 0
            while pos + 8 <= end:
                f.seek(pos)
                size, kind = struct.unpack(">I4s", f.read(8))
                header = 8
                if size == 1:
                    size, header = struct.unpack(">Q", f.read(8))[0], 16
                elif size == 0:
                    size = end - pos
                if size < header:
                    return None
                if kind == b"moov":
                    return _mp4_handlers(f.read(min(size - header, 64 << 20)))
                pos += size
    except (OSError, struct.error):
        pass
    return None


def _mp4_handlers(moov: bytes) -> list[str]:
    import struct
    kinds = []

    def walk(data: bytes, inside: bytes) -> None:
        off = 0
        while off + 8 <= len(data):
            size, kind = struct.unpack(">I4s", data[off:off + 8])
            header = 8
            if size == 1 and off + 16 <= len(data):
                size, header = struct.unpack(">Q", data[off + 8:off + 16])[0], 16
            elif size == 0:
                size = len(data) - off
            if size < header:
                return
            body = data[off + header:off + size]
            if kind in (b"trak", b"mdia"):
                walk(body, kind)
            elif kind == b"hdlr" and inside == b"mdia" and len(body) >= 12:
                kinds.append(_MP4_KINDS.get(body[8:12], body[8:12].decode("latin-1").strip()))
            off += size

    walk(moov, b"moov")
    return kinds


def _vint(data: bytes, off: int, marker: bool) -> tuple[int, int]:
    """An EBML variable-length integer at `off` (an element ID keeps its marker bit) and the
    offset after it; -1 for a size of all ones (unknown)."""
    first = data[off]
    length = 9 - first.bit_length()
    if not 1 <= length <= 8 or off + length > len(data):
        raise ValueError("bad EBML")
    value = first if marker else first & ((1 << (8 - length)) - 1)
    for b in data[off + 1:off + length]:
        value = value << 8 | b
    if not marker and value == (1 << (7 * length)) - 1:
        value = -1
    return value, off + length


def _mkv_tracks(data: bytes) -> list[str] | None:
    """The kinds of a Matroska/WebM file's tracks from its start, None when `Tracks` is not there
    (before the first cluster of the first megabyte)."""
    try:
        off = 0
        while off < len(data):
            eid, off = _vint(data, off, True)
            size, off = _vint(data, off, False)
            if eid == _MKV_SEGMENT:
                continue                                  # step into the segment
            if eid == _MKV_CLUSTER or size < 0:
                return None
            if eid == _MKV_TRACKS:
                return [_MKV_KINDS.get(t, f"type {t}") for t in _mkv_types(data[off:off + size])]
            off += size
    except (ValueError, IndexError):
        pass
    return None


def _mkv_types(tracks: bytes) -> list[int]:
    types, off = [], 0
    while off < len(tracks):
        eid, off = _vint(tracks, off, True)
        size, off = _vint(tracks, off, False)
        if eid == _MKV_ENTRY:
            entry, e = tracks[off:off + size], 0
            while e < len(entry):
                cid, e = _vint(entry, e, True)
                csize, e = _vint(entry, e, False)
                if cid == _MKV_TYPE:
                    types.append(int.from_bytes(entry[e:e + csize], "big"))
                e += csize
        off += size
    return types


class SourceError(RuntimeError):
    """A source that cannot be opened or read; the message is meant for the user."""


@dataclass
class Frame:
    index: int
    time_s: float
    image: np.ndarray | None      # (H, W, 3) BGR uint8, None when skipped


def parse_source(spec: str | int | Path) -> str | int:
    """'0' or 0 -> camera 0, unless a file or folder of that name exists (`2024/`: an existing
    path wins); URLs stay strings; everything else is a path."""
    if isinstance(spec, int):
        return spec
    s = str(spec).strip()
    return int(s) if s.isdigit() and not Path(s).exists() else s


def is_stream_url(spec: str | int) -> bool:
    return isinstance(spec, str) and "://" in spec


def list_videos(folder: str | Path, recursive: bool = False, skip: Path | None = None) -> list[Path]:
    """Video files in a folder, by extension, sorted by name; `recursive`: also those in its
    subfolders (not hidden ones, nor `skip`, e.g. the output folder), sorted by path."""
    folder = Path(folder)
    if not recursive:
        return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
    found = []
    for parent, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not _skipped(Path(parent) / d, skip)]
        found += [Path(parent) / n for n in names if Path(n).suffix.lower() in VIDEO_EXTENSIONS
                  and (Path(parent) / n).is_file()]
    return sorted(found, key=lambda p: p.relative_to(folder).parts)


def subfolders(folder: str | Path, skip: Path | None = None) -> list[Path]:
    """The folders directly in `folder` that `list_videos(recursive=True)` would search."""
    return sorted(p for p in Path(folder).iterdir() if p.is_dir() and not _skipped(p, skip))


def _skipped(folder: Path, skip: Path | None) -> bool:
    if folder.name.startswith("."):
        return True
    try:
        return skip is not None and folder.resolve() == skip.resolve()
    except OSError:
        return False


class VideoSource:
    """Frames of a file, camera or stream. `live` sources (camera, stream) are paced by the
    device, so a consumer that is too slow should drop frames rather than queue them.

    After `open()`: `size` (width, height) of the frames as delivered, i.e. upright;
    `rotation` the clockwise degrees applied to the stored frames to make them so (a phone's
    display-matrix metadata; 0 when none); `fps` the nominal rate and `frame_count` the header's
    count, which for some containers (WebM, Matroska) is only duration x rate, an estimate."""

    def __init__(self, spec: str | int | Path, loop: bool = False, timeout_s: float = STREAM_TIMEOUT_S):
        """`live` is True for a camera or stream until `open()` finds that a stream is a
        finite file on a web server (then it is read like a file: no frame dropped)."""
        self.spec = parse_source(spec)
        self.loop = loop
        self.timeout_s = timeout_s              # streams: opening and each read
        self.kind = "camera" if isinstance(self.spec, int) else "stream" if is_stream_url(self.spec) else "file"
        self.live = self.kind != "file"
        self.name = f"camera {self.spec}" if self.kind == "camera" else (
            self.spec if self.kind == "stream" else Path(self.spec).name)
        self._cap: cv2.VideoCapture | None = None
        self.fps = 30.0
        self.frame_count: int | None = None
        self.size = (0, 0)
        self.rotation = 0

    def open(self, cancelled: Callable[[], bool] = lambda: False) -> "VideoSource":
        """Open the source (SourceError with the reason if it cannot be); `cancelled()` stops a
        stream's connection attempt (see `probe_stream`)."""
        if self.kind == "file":
            path = Path(self.spec)
            if not path.exists():
                raise SourceError(f"{path}: no such file")
            if path.is_dir():
                raise SourceError(f"{path} is a folder, not a video")
            if path.stat().st_size == 0:
                raise SourceError(f"{path.name}: empty file (0 bytes)")
            if (why := not_a_video(path)) is not None:     # FFmpeg opens images (one frame)
                raise SourceError(f"{path.name}: {why}, not a video; {VIDEO_HINT}"
                                  if why.startswith("an image") else f"{path.name}: {why}; {VIDEO_HINT}")
            cap = open_ffmpeg(str(path))
            if not cap.isOpened():           # not for FFmpeg: OpenCV's other backends may know it
                cap.release()
                cap = cv2.VideoCapture(str(path))
        elif self.kind == "camera":
            cap = cv2.VideoCapture(self.spec)
        else:
            if (why := probe_stream(self.spec, self.timeout_s, cancelled)) is not None:
                raise SourceError(f"stream {self.spec} could not be opened: {why}")
            started = time.monotonic()
            cap = open_ffmpeg(self.spec, self.timeout_s)
            if not cap.isOpened() and time.monotonic() - started >= 0.9 * self.timeout_s:
                cap.release()
                raise SourceError(f"stream {self.spec} could not be opened: no video from "
                                  f"{urlsplit(self.spec).netloc} after {self.timeout_s:g} s (the "
                                  f"server answered but sent no video)")
        if not cap.isOpened():
            cap.release()
            raise SourceError(self._cannot_open())
        if self.kind != "camera":
            self.rotation = upright(cap)
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise SourceError(f"{self.name}: no frame could be decoded (empty, truncated or corrupt)"
                              if self.kind == "file" else
                              f"{self.name}: opened but delivers no frames")
        self.size = (first.shape[1], first.shape[0])
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and np.isfinite(fps) and 1 <= fps <= 1000 else 30.0
        if self.kind == "stream" and self._finite(cap):
            self.live = False                    # a file on a web server: read it all, drop nothing
        if not self.live:
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            self.frame_count = n if n > 0 else None
        self._first, self._first_time = first, self._timestamp(cap)
        self._cap = cap
        return self

    def _finite(self, cap: cv2.VideoCapture) -> bool:
        """Whether an opened HTTP(S) stream is a file of known length rather than a live feed:
        FFmpeg knows its frame count (from the container's index, which a server giving the
        length and byte ranges lets it read), or its path ends in a video extension (a live
        feed is a playlist, MJPEG or a bare path, not `clip.mp4`)."""
        parts = urlsplit(str(self.spec))
        if parts.scheme.lower() not in ("http", "https"):
            return False
        return cap.get(cv2.CAP_PROP_FRAME_COUNT) > 0 or Path(parts.path).suffix.lower() in VIDEO_EXTENSIONS

    @staticmethod
    def _timestamp(cap: cv2.VideoCapture) -> float | None:
        """The container's time of the frame just read, in seconds (None when it has none)."""
        t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000
        return t if np.isfinite(t) and t >= 0 else None

    def _cannot_open(self) -> str:
        if self.kind == "camera":
            found = sorted(Path("/dev").glob("video*"))
            hint = "no camera devices found" if not found else f"devices: {', '.join(map(str, found))}"
            return f"camera {self.spec} could not be opened ({hint})"
        if self.kind == "stream":
            return f"stream {self.spec} could not be opened"
        path = Path(self.spec)
        if looks_like_video(path):
            return f"{path.name}: a video file with no decodable frames (empty, truncated or corrupt)"
        return f"{path.name}: not a video file"

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self) -> "VideoSource":
        return self.open() if self._cap is None else self

    def __exit__(self, *exc) -> None:
        self.close()

    def frames(self, need_pixels: Callable[[int], bool] = lambda i: True) -> Iterator[Frame]:
        """Frames in order; `need_pixels(index)` False skips the BGR conversion for that frame.

        `time_s`: a file's frames carry the container's timestamps (variable frame rates
        included; index / fps where the container has none), a live source's the time since the
        start. A file that ends well before both the frame count and the duration in its header
        raises SourceError (truncated); a live source that stops delivering raises SourceError
        (lost)."""
        if self._cap is None:
            self.open()
        cap = self._cap
        start = time.monotonic()
        index = 0
        last_t = -1.0
        first = self._first
        while True:
            stamp = None
            if first is not None:
                image, first, stamp = first, None, self._first_time
                ok = True
            elif need_pixels(index):
                ok, image = cap.read()
            else:
                ok, image = cap.grab(), None
            if not ok:
                if self.kind == "file" and self.loop and index > 0:
                    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    ok, image = cap.read()
                    if ok:
                        image = image if need_pixels(index) else None
                if not ok:
                    break
            if self.live:
                t = time.monotonic() - start
            elif self.loop:
                t = index / self.fps
            else:
                t = stamp if index == 0 else self._timestamp(cap)
                if t is None or t <= last_t:          # no usable timestamp: one nominal frame on
                    t = index / self.fps if index == 0 else last_t + 1 / self.fps
                last_t = t
            yield Frame(index, t, image)
            index += 1
        self._check_end(index, last_t)

    def _check_end(self, decoded: int, last_t: float) -> None:
        if self.live:
            raise SourceError(f"{self.name}: stream lost after {decoded} frames")
        if not self.frame_count or self.loop or decoded >= 0.95 * self.frame_count - 2:
            return
        # The count may be an estimate (duration x nominal rate: WebM, Matroska), too high for
        # a variable frame rate; the file is whole if its frames reach the end of its duration.
        duration = self.frame_count / self.fps
        end = last_t + 1 / self.fps
        if end < 0.95 * duration - 2 / self.fps:
            raise SourceError(f"{self.name}: truncated or corrupt, decoding stopped at frame "
                              f"{decoded} ({end:.1f} s) of {self.frame_count} ({duration:.1f} s)")


class BackgroundOpen:
    """`source.open()` on its own thread, so that whoever waits for a camera or stream to connect
    can give up (the user pressed Stop) instead of blocking until it times out."""

    def __init__(self, source: VideoSource):
        self.source = source
        self.error: SourceError | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._abandoned = False
        threading.Thread(target=self._open, name="open-source", daemon=True).start()

    def _open(self) -> None:
        try:
            self.source.open(cancelled=lambda: self._abandoned)
        except SourceError as e:
            self.error = e
        except Exception as e:                   # an OpenCV or driver failure: a message, not a crash
            self.error = SourceError(f"{self.source.name} could not be opened: {e}")
        with self._lock:
            self._done.set()
            if self._abandoned:
                self.source.close()

    def wait(self, timeout: float) -> bool:
        """Whether the attempt has ended (opened or failed) within `timeout` seconds."""
        return self._done.wait(timeout)

    def result(self) -> VideoSource:
        """The open source, or the SourceError saying why not (only once `wait` is True)."""
        if self.error is not None:
            raise self.error
        return self.source

    def abandon(self) -> None:
        """Give up: the source is closed now, or as soon as its opening returns."""
        with self._lock:
            self._abandoned = True
            if self._done.is_set():
                self.source.close()


def open_interruptibly(source: VideoSource, step_s: float = 0.1) -> VideoSource:
    """`source.open()`, where Ctrl-C or SIGTERM (a KeyboardInterrupt in the calling thread) stops
    the wait at once: a camera or stream is opened on a daemon thread (`BackgroundOpen`), which
    is abandoned then (FFmpeg's own open cannot be interrupted). SourceError if it cannot open."""
    if not source.live:
        return source.open()
    opening = BackgroundOpen(source)
    try:
        while not opening.wait(step_s):
            pass
    except BaseException:
        opening.abandon()
        raise
    return opening.result()


class FrameSeeker:
    """Any frame of a video file on demand, for browsing a processed video: the next frame is
    read on, a short way forward is skipped with `grab()`, anything else is a seek (FFmpeg seeks
    to the keyframe before and decodes up to the frame asked for: frame-exact)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._cap = open_ffmpeg(str(path))           # str(path): a URL of a file stays a URL
        if not self._cap.isOpened():
            raise SourceError(f"{self.path.name}: cannot be opened to browse it")
        self.rotation = upright(self._cap)              # as VideoSource read it: poses fit
        self._next = 0

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` (BGR, (H, W, 3)); SourceError if it cannot be decoded."""
        if not 0 <= index - self._next <= 15:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        else:
            for _ in range(index - self._next):
                self._cap.grab()
        ok, image = self._cap.read()
        if not ok or image is None:
            self._next = -1000                    # position unknown: seek next time
            raise SourceError(f"{self.path.name}: frame {index} cannot be decoded")
        self._next = index + 1
        return image

    def close(self) -> None:
        self._cap.release()


class ThreadedReader:
    """Reads a source on its own thread into a bounded queue, so decoding overlaps estimation.

    Live sources (`drop_stale`): when the consumer falls behind, the oldest frames are dropped
    (counted in `dropped`; `drop_times`: seconds after capture started, each) so what it gets is
    fresh, and frames are renumbered in the order they are handed out (`time_s` stays the
    capture time). Files: the reader waits for room instead, so no frame is ever dropped."""

    def __init__(self, source: VideoSource, maxsize: int = 4, drop_stale: bool | None = None,
                 need_pixels: Callable[[int], bool] = lambda i: True):
        self.source = source
        self.drop_stale = source.live if drop_stale is None else drop_stale
        # Dropping renumbers frames, so which ones become keyframes is only known downstream:
        # a live source decodes every frame it hands over.
        self.need_pixels = (lambda i: True) if self.drop_stale else need_pixels
        self.dropped = 0
        self.drop_times: list[float] = []
        self._started = 0.0
        self._queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="capture", daemon=True)

    def _put(self, item: object) -> bool:
        """Hand an item over; False when asked to stop first."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        item: object = None
        try:
            for frame in self.source.frames(self.need_pixels):
                if self._stop.is_set():
                    return
                if not self.drop_stale:
                    if not self._put(frame):
                        return
                    continue
                while True:
                    try:
                        self._queue.put_nowait(frame)
                        break
                    except queue.Full:
                        try:
                            self._queue.get_nowait()
                            self.dropped += 1
                            self.drop_times.append(time.monotonic() - self._started)
                        except queue.Empty:
                            pass
        except SourceError as e:
            item = e
        self._put(item)                          # the end marker is never dropped

    def frames(self) -> Iterator[Frame]:
        """Frames as they are handed over; close() (or closing this generator) stops capture."""
        self._started = time.monotonic()
        self._thread.start()
        index = 0
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                if isinstance(item, SourceError):
                    raise item
                yield Frame(index, item.time_s, item.image) if self.drop_stale else item
                index += 1
        finally:
            self.close()

    def close(self, timeout: float = 2.0) -> None:
        """Stop the capture thread and wait for its current read (the source may then be closed)."""
        self._stop.set()
        while self._thread.is_alive() and timeout > 0:
            try:                                    # make room so a blocked hand-over returns
                self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=0.05)
            timeout -= 0.05
