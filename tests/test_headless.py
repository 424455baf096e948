"""The headless command on real videos of people, and every bad input it must refuse cleanly."""
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest

from pipeline.config import PipelineConfig, load_refiners
from pipeline.estimators import MediaPipePose
from pipeline.paths import REPO_ROOT, VIDEO_DIR
from pipeline.process import agreement, process_video
from pipeline.skeleton import MEDIAPIPE33
from pipeline.io.sources import VideoSource

CFG = PipelineConfig(k=10)


@pytest.fixture(scope="module")
def refiners():
    return load_refiners(CFG)


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, str(REPO_ROOT / "run_app.py"), "process", *map(str, args), "--quiet"],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT)


def image_columns(df):
    xy = np.stack([df[[f"{j}_x", f"{j}_y"]].to_numpy() for j in MEDIAPIPE33.joints], axis=1)
    return xy.astype(np.float32)                         # (T, 33, 2)


def dense_static(path):
    est = MediaPipePose(static=True)
    with VideoSource(path) as src:
        out = [est.estimate(f.image) for f in src.frames()]
    est.close()
    return np.stack([r.image if r is not None else np.full((33, 2), np.nan, np.float32) for r in out])


# Measured with the shipped K=10 live model (image_k10_q3), against MediaPipe run on every frame,
# mean body-joint error in torso lengths / PCK@0.1: pose2sim cam01 0.031 / 0.99, cam03 0.037 /
# 0.99, carphone 0.026 / 1.00. Holding each keyframe until the next gives 0.093 and 0.107 on the
# two moving views: the bounds (about twice the measured error) fail if the in-between frames
# were not recovered, and leave room for MediaPipe's own frame-to-frame jitter (1-2 % of the
# torso on these clips, docs/noise_calibration.md). The man in the car barely moves, so there
# the bound mainly checks that refinement adds no error of its own.
AGREEMENT = {"pose2sim_single/cam01.mp4": (0.06, 0.95), "pose2sim_single/cam03.mp4": (0.06, 0.95),
             "carphone.mp4": (0.04, 0.98)}


@pytest.mark.parametrize("name", sorted(AGREEMENT))
def test_every_frame_refined_and_close_to_dense_estimates(tmp_path, refiners, name):
    path = VIDEO_DIR / name
    summary = process_video(path, tmp_path, CFG, refiners, progress=False)
    df = pd.read_csv(summary.csv)
    n = int(cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FRAME_COUNT))
    assert len(df) == n and (df.frame == np.arange(n)).all()
    assert (df.keyframe == (df.frame % 10 == 0)).all()
    dense = dense_static(path)
    refined = image_columns(df)
    # keyframe rows carry the estimator's own pose (to the CSV's 0.01 px)
    kf = df.frame.to_numpy() % 10 == 0
    assert np.allclose(refined[kf], dense[kf], atol=0.006, equal_nan=True)
    a = agreement(refined, dense)
    max_err, min_pck = AGREEMENT[name]
    assert a["frames_compared"] >= 0.9 * n
    assert a["error_torso"] < max_err and a["pck01"] >= min_pck, a
    side = json.loads(summary.csv.with_suffix(".json").read_text())
    assert side["k"] == 10 and side["frames"] == n and side["weights"]["image"]["k"] == 10
    assert side["versions"]["mediapipe"] == "0.10.21"


def test_demo_with_a_person_missing_at_first(tmp_path, refiners, demo_video):
    summary = process_video(demo_video, tmp_path, CFG, refiners, progress=False)
    df = pd.read_csv(summary.csv)
    assert len(df) == 230
    found = df[df.keyframe == 1].detected.to_numpy().astype(bool)
    assert 10 <= found.sum() < len(found)                  # MediaPipe misses the first keyframes
    first = df.frame[(df.keyframe == 1) & (df.detected == 1)].min()
    assert df.loc[:first - 1, "nose_x"].isna().all()       # nothing invented before it
    # the woman walks out on the left (last found at frame 180), keyframe 190 finds nobody, the man
    # is found on the right at 200: no pose between them, none sliding across the empty wall
    assert df.loc[181:199, "left_hip_x"].isna().all() and not df.loc[181:199, "detected"].any()
    assert df.loc[180, "left_hip_x"] < 300 and df.loc[200, "left_hip_x"] > 1000
    rest = df.loc[first:].drop(index=range(181, 200))
    assert rest.left_hip_x.notna().mean() > 0.95
    hips = (df.left_hip_x + df.right_hip_x).to_numpy() / 2
    step = np.abs(np.diff(hips))
    assert np.nanmax(step) < 40                            # walking: about 15 px a frame
    assert summary.stats.keyframes == 23 and summary.flops.theoretical_speedup > 9


def test_cli_folder_with_a_bad_video_processes_the_others(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(VIDEO_DIR / "carphone.mp4", folder / "a_good.mp4")
    (folder / "b_bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(5000))
    out = tmp_path / "out"
    r = cli(folder, "--out", out, "--dense")
    assert r.returncode == 1
    assert "b_bad.mp4" in r.stderr and "1 of 2 videos failed" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a_good.csv", "a_good.json"]
    assert "theoretical speed-up" in r.stdout and "measured speed-up" in r.stdout
    assert len(pd.read_csv(out / "a_good.csv")) == 120


# --- bad input: one clear line, non-zero exit, no partial output ----------------------------------

def other_joints_weights(tmp_path):
    card = json.loads(next((REPO_ROOT / "weights").glob("image_k10_*.json")).read_text())
    card["joints"] = ["neck", "belly", "face"] + card["joints"][3:]
    (tmp_path / "other.json").write_text(json.dumps(card))
    shutil.copy(REPO_ROOT / "weights" / (card["name"] + ".pt"), tmp_path / "other.pt")
    return tmp_path / "other.json"


def bad_inputs(tmp_path):
    data = (VIDEO_DIR / "sports2d_demo.mp4").read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(data[:len(data) // 2])
    (tmp_path / "notes.mp4").write_text("these are not frames\n")
    (tmp_path / "corrupt.mp4").write_bytes(data[:64] + os.urandom(200_000))
    w = cv2.VideoWriter(str(tmp_path / "empty.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 64))
    w.release()
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    demo = VIDEO_DIR / "carphone.mp4"
    shutil.copy(REPO_ROOT / "weights" / "image_k10_q3.json", tmp_path / "broken.json")
    (tmp_path / "broken.pt").write_bytes(b"PK\x03\x04 half a zip archive")
    return {
        "missing path": ([tmp_path / "nope.mp4"], "no such file"),
        "not a video": ([tmp_path / "notes.mp4"], "not a video file"),
        "truncated": ([tmp_path / "truncated.mp4"], "truncated or corrupt"),
        "corrupt": ([tmp_path / "corrupt.mp4"], "no decodable frames"),
        "zero frames": ([tmp_path / "empty.mp4"], "no decodable frames"),
        "no such camera": (["7"], "camera 7 could not be opened"),
        "unwritable output": ([demo, "--out", blocker / "sub"], "cannot write to"),
        "output is a file": ([demo, "--out", blocker], "it is a file, not a folder"),
        "missing weights": ([demo, "--weights", tmp_path / "nope.pt"], "not found (no such file)"),
        "weights folder": ([demo, "--weights", REPO_ROOT / "weights"], "is a folder"),
        "corrupt weights": ([demo, "--weights", tmp_path / "broken.pt"], "corrupt or truncated"),
        "weights for other joints": ([demo, "--weights", other_joints_weights(tmp_path)],
                                     "are for joints [neck, belly, face"),
    }


CASES = ["missing path", "not a video", "truncated", "corrupt", "zero frames",
         "no such camera", "unwritable output", "output is a file", "missing weights", "weights folder",
         "corrupt weights", "weights for other joints"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gives_one_clear_line_and_no_output(tmp_path, case):
    args, message = bad_inputs(tmp_path)[case]
    out = tmp_path / "out"
    if "--out" not in args:
        args = [*args, "--out", out]
    r = cli(*args)
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode != 0
    assert len(errors) == 1 and message in errors[0], r.stderr
    assert not any(line.startswith("Traceback") for line in r.stderr.splitlines())
    leftovers = [p for p in out.rglob("*")] if out.exists() else []
    assert leftovers == []


def test_an_output_name_taken_by_a_folder_is_refused_before_the_run(tmp_path):
    out = tmp_path / "out"
    (out / "carphone.csv").mkdir(parents=True)
    r = cli(VIDEO_DIR / "carphone.mp4", "--out", out)
    assert r.returncode != 0 and "a folder of that name is in the way" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and sorted(p.name for p in out.iterdir()) == ["carphone.csv"]


def test_a_failed_rerun_says_the_earlier_outputs_are_not_this_runs(tmp_path):
    clip, out = tmp_path / "clip.mp4", tmp_path / "out"
    shutil.copy(VIDEO_DIR / "carphone.mp4", clip)
    assert cli(clip, "--out", out).returncode == 0
    before = (out / "clip.csv").read_bytes()
    clip.write_bytes((VIDEO_DIR / "carphone.mp4").read_bytes()[:20_000])      # now truncated
    r = cli(clip, "--out", out)
    assert r.returncode == 1 and "from an earlier run, not this one" in r.stderr, r.stderr
    assert (out / "clip.csv").read_bytes() == before                          # left as it was


def test_no_world_leaves_the_3d_columns_out(tmp_path):
    r = cli(VIDEO_DIR / "carphone.mp4", "--out", tmp_path, "--no-world")
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(tmp_path / "carphone.csv")
    assert not [c for c in df.columns if c.endswith(("_X", "_Y", "_Z"))]
    assert np.isfinite(image_columns(df)).all()
    side = json.loads((tmp_path / "carphone.json").read_text())
    assert side["weights"]["world"] is None and "_X" not in side["columns"]


def test_world_weights_alone_choose_the_latency_of_their_model(tmp_path):
    r = cli(VIDEO_DIR / "carphone.mp4", "--out", tmp_path, "--world-weights",
            REPO_ROOT / "weights" / "world_k10_q3_zero.pt")
    assert r.returncode == 0, r.stderr
    side = json.loads((tmp_path / "carphone.json").read_text())
    assert side["latency"] == "zero" and side["weights"]["world"]["name"] == "world_k10_q3_zero"


def test_a_video_without_a_person_says_so(tmp_path):
    from media import write_video
    frames = [np.full((240, 320, 3), 40 + i, np.uint8) for i in range(25)]
    r = cli(write_video(tmp_path / "empty_room.mp4", frames), "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert "no person was found on any keyframe" in r.stdout
    assert pd.read_csv(tmp_path / "out" / "empty_room.csv")["nose_x"].isna().all()
