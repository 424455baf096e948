"""Playback glyphs drawn in the palette's text colour (the style's own media icons are dark)."""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap, QPolygonF


def media_icon(kind: str, colour: QColor, size: int = 32) -> QIcon:
    """kind: "play", "pause", "stop" or "restart" (|< : back to the start)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(colour)
    s = size / 32
    if kind == "play":
        p.drawPolygon(QPolygonF([QPointF(9 * s, 6 * s), QPointF(26 * s, 16 * s), QPointF(9 * s, 26 * s)]))
    elif kind == "pause":
        p.drawRect(QRectF(8 * s, 7 * s, 6 * s, 18 * s))
        p.drawRect(QRectF(18 * s, 7 * s, 6 * s, 18 * s))
    elif kind == "stop":
        p.drawRoundedRect(QRectF(8 * s, 8 * s, 16 * s, 16 * s), 2 * s, 2 * s)
    elif kind == "restart":
        p.drawRect(QRectF(7 * s, 7 * s, 4 * s, 18 * s))
        p.drawPolygon(QPolygonF([QPointF(25 * s, 7 * s), QPointF(12 * s, 16 * s), QPointF(25 * s, 25 * s)]))
    else:
        raise ValueError(f"no icon {kind!r}")
    p.end()
    return QIcon(pixmap)
