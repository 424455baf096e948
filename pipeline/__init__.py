"""keyframe pose pipeline: everything without Qt (capture, estimators, refiner, export, training)."""
import os

# OpenCV and its FFmpeg back-end print warnings for every bad file or missing camera; the pipeline
# reports those itself, in one line. Set these variables yourself to see the libraries' logs.
os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
