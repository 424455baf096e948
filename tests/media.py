"""Test videos made from the real ones: trimmed, rotated (display-matrix metadata) or with a
variable frame rate, using only OpenCV's writer and a few lines of container editing.

OpenCV's FFmpeg backend cannot set rotation metadata or per-frame timestamps, so the files it
writes are edited afterwards: an MP4's boxes (`tkhd` matrix, `stts` sample durations) or a
WebM's elements (block timestamps, duration). Both layouts are the ones FFmpeg's muxers write
(ISO/IEC 14496-12, the Matroska specification); FFmpeg reads the results like files from a phone
(rotate = 90) or a screen recorder (variable frame rate).
"""
from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np


def read_frames(path: Path, n: int | None = None) -> list[np.ndarray]:
    """The first `n` frames (all when None) of a video, (H, W, 3) BGR."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while n is None or len(frames) < n:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    cap.release()
    return frames


def write_video(path: Path, frames: list[np.ndarray], fps: float = 30.0, fourcc: str = "mp4v") -> Path:
    """Frames -> a video OpenCV can write (mp4v in .mp4/.mov/.avi, VP80 in .webm)."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened(), path
    for f in frames:
        writer.write(f)
    writer.release()
    return path


# --- MP4 (ISO base media file format) ---------------------------------------------------------

_MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}


def _mp4_parse(data: bytes) -> list[list]:
    """[[type, payload bytes | children], ...] for 32-bit sized boxes."""
    boxes, off = [], 0
    while off < len(data):
        size, kind = struct.unpack(">I4s", data[off:off + 8])
        assert size >= 8, "64-bit or open-ended boxes are not expected in OpenCV's files"
        body = data[off + 8:off + size]
        boxes.append([kind, _mp4_parse(body) if kind in _MP4_CONTAINERS else body])
        off += size
    return boxes


def _mp4_build(boxes: list[list]) -> bytes:
    out = b""
    for kind, body in boxes:
        payload = _mp4_build(body) if isinstance(body, list) else body
        out += struct.pack(">I4s", 8 + len(payload), kind) + payload
    return out


def _find(boxes: list[list], *path: bytes) -> list:
    for box in boxes:
        if box[0] == path[0]:
            return box if len(path) == 1 else _find(box[1], *path[1:])
    raise KeyError(path)


def _edit_mp4(path: Path, edit) -> None:
    boxes = _mp4_parse(path.read_bytes())
    kinds = [k for k, _ in boxes]
    # moov after mdat: resizing moov moves no sample, so the chunk offsets stay valid
    assert kinds.index(b"moov") > kinds.index(b"mdat"), kinds
    edit(boxes)
    path.write_bytes(_mp4_build(boxes))


def set_mp4_rotation(path: Path, degrees: int) -> Path:
    """Tag an MP4 to be shown rotated clockwise by `degrees` (0/90/180/270), as phones do: the
    track header's display matrix, written as FFmpeg's muxer writes `-metadata:s:v rotate=`."""
    def edit(boxes):
        tkhd = _find(boxes, b"moov", b"trak", b"tkhd")
        body = bytearray(tkhd[1])
        assert body[0] == 0, "version 0 tkhd expected"
        w, h = struct.unpack(">II", body[76:84])
        w, h = w >> 16, h >> 16
        a, b, c, d, tx, ty = {0: (1, 0, 0, 1, 0, 0), 90: (0, 1, -1, 0, h, 0),
                              180: (-1, 0, 0, -1, w, h), 270: (0, -1, 1, 0, 0, w)}[degrees]
        body[40:76] = struct.pack(">9i", a << 16, b << 16, 0, c << 16, d << 16, 0,
                                  tx << 16, ty << 16, 1 << 30)
        tkhd[1] = bytes(body)
    _edit_mp4(path, edit)
    return path


def set_mp4_frame_durations(path: Path, durations_s: list[float]) -> Path:
    """Give each frame of an MP4 its own duration in seconds (a variable frame rate): the
    track's time-to-sample table, and the durations in the headers; the edit list is dropped."""
    def edit(boxes):
        mdhd = _find(boxes, b"moov", b"trak", b"mdia", b"mdhd")
        timescale = struct.unpack(">I", mdhd[1][12:16])[0]
        ticks = [max(1, round(d * timescale)) for d in durations_s]
        runs: list[list[int]] = []
        for t in ticks:
            if runs and runs[-1][1] == t:
                runs[-1][0] += 1
            else:
                runs.append([1, t])
        stbl = _find(boxes, b"moov", b"trak", b"mdia", b"minf", b"stbl")[1]
        stsz = _find(stbl, b"stsz")[1]
        count = struct.unpack(">I", stsz[8:12])[0]
        assert count == len(ticks), f"{count} samples, {len(ticks)} durations"
        for box in stbl:
            if box[0] == b"stts":
                box[1] = struct.pack(">II", 0, len(runs)) + b"".join(struct.pack(">II", *r) for r in runs)
        total = sum(ticks)
        mdhd[1] = mdhd[1][:16] + struct.pack(">I", total) + mdhd[1][20:]
        mvhd = _find(boxes, b"moov", b"mvhd")
        movie_scale = struct.unpack(">I", mvhd[1][12:16])[0]
        movie_total = round(total * movie_scale / timescale)
        mvhd[1] = mvhd[1][:16] + struct.pack(">I", movie_total) + mvhd[1][20:]
        tkhd = _find(boxes, b"moov", b"trak", b"tkhd")
        tkhd[1] = tkhd[1][:20] + struct.pack(">I", movie_total) + tkhd[1][24:]
        trak = _find(boxes, b"moov", b"trak")[1]
        trak[:] = [box for box in trak if box[0] != b"edts"]
    _edit_mp4(path, edit)
    return path


# --- WebM / Matroska (EBML) -------------------------------------------------------------------

SEGMENT, CLUSTER, INFO = 0x18538067, 0x1F43B675, 0x1549A966
SEEKHEAD, CUES, VOID = 0x114D9B74, 0x1C53BB6B, 0xEC
TIMECODE, SIMPLEBLOCK, DURATION, TIMECODESCALE = 0xE7, 0xA3, 0x4489, 0x2AD7B1


def _vint(data: bytes, off: int, keep_marker: bool) -> tuple[int, int]:
    first = data[off]
    length = 8 - first.bit_length() + 1
    value = first if keep_marker else first & ((1 << (8 - length)) - 1)
    for b in data[off + 1:off + length]:
        value = (value << 8) | b
    return value, off + length


def _ebml_parse(data: bytes, masters: set[int]) -> list[list]:
    """[[id, payload bytes | children], ...]"""
    out, off = [], 0
    while off < len(data):
        eid, off = _vint(data, off, keep_marker=True)
        size, off = _vint(data, off, keep_marker=False)
        body = data[off:off + size]
        out.append([eid, _ebml_parse(body, masters) if eid in masters else body])
        off += size
    return out


def _ebml_build(elements: list[list]) -> bytes:
    out = b""
    for eid, body in elements:
        payload = _ebml_build(body) if isinstance(body, list) else body
        out += eid.to_bytes((eid.bit_length() + 7) // 8, "big")
        out += (0x01 << 56 | len(payload)).to_bytes(8, "big") + payload     # 8-byte sizes
    return out


def set_webm_frame_durations(path: Path, durations_s: list[float]) -> Path:
    """Give each frame of a WebM written by OpenCV its own duration (a variable frame rate):
    every block's timestamp and the segment's duration; the seek index and cues, which hold
    byte positions, are dropped (FFmpeg reads the file from the start without them)."""
    top = _ebml_parse(path.read_bytes(), {SEGMENT, CLUSTER, INFO})
    segment = next(body for eid, body in top if eid == SEGMENT)
    info = next(body for eid, body in segment if eid == INFO)
    scale = next((int.from_bytes(b, "big") for eid, b in info if eid == TIMECODESCALE), 1_000_000)
    ticks = np.round(np.concatenate([[0], np.cumsum(durations_s)]) * 1e9 / scale).astype(int)
    frame = 0
    for eid, body in segment:
        if eid != CLUSTER:
            continue
        blocks = [el for el in body if el[0] == SIMPLEBLOCK]
        start = int(ticks[frame])
        for el in body:
            if el[0] == TIMECODE:
                el[1] = start.to_bytes(4, "big")
        for el in blocks:
            _, off = _vint(el[1], 0, keep_marker=False)           # track number
            el[1] = el[1][:off] + struct.pack(">h", int(ticks[frame]) - start) + el[1][off + 2:]
            frame += 1
    assert frame == len(durations_s), f"{frame} blocks, {len(durations_s)} durations"
    for el in info:
        if el[0] == DURATION:
            el[1] = struct.pack(">d", float(ticks[-1]))
    segment[:] = [el for el in segment if el[0] not in (SEEKHEAD, CUES, VOID)]
    path.write_bytes(_ebml_build(top))
    return path
