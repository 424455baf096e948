"""The refiner's run time: ONNX Runtime against torch, no torch at run time, FLOPs from the card,
the fallback to torch, and the export command."""
import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from media import read_frames, write_video
from pipeline.config import PipelineConfig, load_refiners
from pipeline.paths import REPO_ROOT, WEIGHTS_DIR
from pipeline.refiner.runtime import Refiner, load_card

CARDS = sorted(WEIGHTS_DIR.glob("*.json"))


def real_windows(refiner: Refiner, mocap_track, n: int = 40) -> np.ndarray:
    """(W, Q+1, 12, D) keyframe windows cut from real motion capture in the refiner's space."""
    image, world = mocap_track
    track = (image if refiner.card.space == "image" else world)[::refiner.k]
    starts = np.linspace(0, len(track) - refiner.q - 1, n).astype(int)
    return np.stack([track[s:s + refiner.q + 1] for s in starts])


@pytest.mark.parametrize("card", CARDS, ids=[c.stem for c in CARDS])
def test_onnx_runtime_matches_torch_to_1e_5(card, mocap_track):
    onnx = Refiner.load(card, runtime="onnx")
    torch_ = Refiner.load(card, runtime="torch")
    assert (onnx.runtime, torch_.runtime) == ("onnx", "torch")
    kf = real_windows(onnx, mocap_track)
    pin = np.zeros(kf.shape[:2], bool)
    pin[:, ::2] = True
    scale = 1000 if onnx.card.space == "image" else 1      # pixels; metres
    for p in (None, pin):
        a, b = onnx.refine_windows(kf, p), torch_.refine_windows(kf, p)
        # the model's output in normalised units (torso lengths) within 1e-5; in pixels of a
        # ~1000 px picture and in metres that is at most 1e-5 of the body's size
        assert np.abs(a - b).max() <= 1e-5 * scale * 2
    from pipeline.refiner.export import parity
    assert parity(torch_.model, (card.with_suffix(".onnx")).read_bytes()) <= 1e-5


def test_headless_run_never_imports_torch(tmp_path, demo_video):
    """A headless run of a short clip, in its own process: the refiners run on ONNX Runtime (or
    are linear interpolation, for a space without an accepted model), and neither torch nor MediaPipe's drawing utilities (matplotlib) are loaded."""
    code = (
        "import sys\n"
        "from pipeline.config import PipelineConfig, load_refiners\n"
        "from pipeline.process import process_video\n"
        "cfg = PipelineConfig(k=10)\n"
        "image, world = load_refiners(cfg)\n"
        "assert {image.runtime, world.runtime} <= {'onnx', 'linear'}, (image.runtime, world.runtime)\n"
        f"process_video({str(tmp_path / 'clip.mp4')!r}, __import__('pathlib').Path({str(tmp_path)!r}), cfg,\n"
        "              (image, world), progress=False)\n"
        "print('loaded:', ' '.join(m for m in ('torch', 'matplotlib') if m in sys.modules))\n")
    write_video(tmp_path / "clip.mp4", read_frames(demo_video, 31))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "loaded:"
    assert len((tmp_path / "clip.csv").read_text().splitlines()) == 32     # header + 31 frames


def test_run_time_flops_come_from_the_card(tmp_path):
    """The card's count is what the pipeline reports: change it and the readout follows (nothing
    is counted at start-up)."""
    from pipeline.process import pipeline_flops
    src = WEIGHTS_DIR / "image_k10_q3"
    for ext in (".json", ".pt", ".onnx"):
        shutil.copy(src.with_suffix(ext), tmp_path / f"m{ext}")
    card = json.loads((tmp_path / "m.json").read_text())
    assert card["export"]["flops_per_window"] > 0
    card["export"]["flops_per_window"] = 3_000_000
    (tmp_path / "m.json").write_text(json.dumps(card))
    r = Refiner.load(tmp_path / "m.json")
    flops = pipeline_flops((r, None), 1, 1.6e9)
    assert flops.refiner_per_frame == 3_000_000 / 10


def test_every_shipped_card_records_its_export():
    for path in CARDS:
        e = load_card(path).export
        assert e["opset"] >= 17 and e["flops_per_window"] > 0 and e["parity_max_abs"] <= 1e-5
        assert Refiner.load(path).runtime == "onnx"


@pytest.mark.parametrize("damage", ["missing", "changed"])
def test_missing_or_changed_onnx_falls_back_to_torch_with_one_warning(tmp_path, capfd, damage,
                                                                     mocap_track):
    src = WEIGHTS_DIR / "world_k10_q3"
    for ext in (".json", ".pt", ".onnx"):
        shutil.copy(src.with_suffix(ext), tmp_path / f"m{ext}")
    if damage == "missing":
        (tmp_path / "m.onnx").unlink()
    else:
        (tmp_path / "m.onnx").write_bytes((tmp_path / "m.onnx").read_bytes() + b"\0")
    capfd.readouterr()
    r = Refiner.load(tmp_path / "m.json")
    err = capfd.readouterr().err.strip().splitlines()
    assert r.runtime == "torch"
    assert len(err) == 1 and err[0].startswith("warning: ") and "m.onnx" in err[0]
    assert ("missing" if damage == "missing" else "differs") in err[0]
    assert "python -m pipeline.refiner.export" in err[0]
    good = Refiner.load(src.with_suffix(".json"))
    kf = real_windows(good, mocap_track, 5)
    assert np.abs(r.refine_windows(kf) - good.refine_windows(kf)).max() < 1e-5


def test_export_command_writes_the_onnx_and_its_card(tmp_path):
    src = WEIGHTS_DIR / "image_k10_q3"
    for ext in (".json", ".pt"):
        shutil.copy(src.with_suffix(ext), tmp_path / f"m{ext}")
    card = json.loads((tmp_path / "m.json").read_text())
    card.pop("export", None)
    (tmp_path / "m.json").write_text(json.dumps(card))
    from pipeline.refiner.export import main
    assert main([str(tmp_path / "m.json")]) == 0
    e = load_card(tmp_path / "m.json").export
    assert e["sha256"] == hashlib.sha256((tmp_path / "m.onnx").read_bytes()).hexdigest()
    assert e["flops_per_window"] == load_card(src.with_suffix(".json")).export["flops_per_window"]
    assert Refiner.load(tmp_path / "m.json").runtime == "onnx"


def test_refiner_threads_reach_onnx_runtime():
    image, world = load_refiners(PipelineConfig(k=10, refiner_threads=1, weights=WEIGHTS_DIR / "image_k10_q3.pt",
                                                world_weights=WEIGHTS_DIR / "world_k10_q3.pt"))
    assert image._session.get_session_options().intra_op_num_threads == 1
    assert world._session.get_session_options().intra_op_num_threads == 1


def test_a_refiner_on_onnx_runtime_pickles_as_it_runs(mocap_track):
    """Ray ships the refiners to its workers by pickling: the session is rebuilt there, same output."""
    import pickle
    r = Refiner.load(WEIGHTS_DIR / "world_k10_q3.json", threads=1)
    copy = pickle.loads(pickle.dumps(r))
    assert copy.runtime == "onnx" and copy._session.get_session_options().intra_op_num_threads == 1
    kf = real_windows(r, mocap_track, 4)
    np.testing.assert_array_equal(copy.refine_windows(kf), r.refine_windows(kf))
