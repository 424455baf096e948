"""The mmpose backend: loading and data flow, not accuracy (no pretrained checkpoint can be
downloaded here, so the model is RTMPose-t built from mmpose's own config with random weights,
saved as an mmengine checkpoint). On a real video, the headless command and the app's worker
give every frame a row with the COCO-17 joints, and the readout shows the model's FLOPs."""
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("mmpose", reason="the optional mmpose install (requirements-mmpose*.txt; make test installs it)")

from pipeline.cli import main as process_main  # noqa: E402
from pipeline.estimators import mmpose as mm  # noqa: E402
from pipeline.estimators.person_box import PersonDetector  # noqa: E402
from pipeline.io.export import columns  # noqa: E402
from pipeline.paths import VIDEO_DIR  # noqa: E402
from pipeline.skeleton import BODY12, COCO17  # noqa: E402

N = 40
RTMPOSE_T = "rtmpose-t_8xb256-420e_coco-256x192"          # a config name from mmpose's model index


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A real short clip: the first 40 frames of pose2sim_single/cam01.mp4 (one man walking),
    at half size (540x960)."""
    import cv2
    cap = cv2.VideoCapture(str(VIDEO_DIR / "pose2sim_single" / "cam01.mp4"))
    path = tmp_path_factory.mktemp("clip") / "cam01.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 60, (540, 960))
    for _ in range(N):
        writer.write(cv2.resize(cap.read()[1], (540, 960), interpolation=cv2.INTER_AREA))
    writer.release()
    cap.release()
    return path


def build_rtmpose_t(folder: Path) -> tuple[Path, Path, int]:
    """(config, checkpoint, FLOPs of one model call): RTMPose-t from the config inside the mmpose
    wheel, randomly initialised, saved in `folder` the way mmengine saves checkpoints."""
    import torch
    from mmengine.runner import save_checkpoint
    torch.manual_seed(0)
    config = mm.resolve_config(RTMPOSE_T)
    model = mm.build_model(config)
    ckpt = folder / "rtmpose-t_random.pth"
    save_checkpoint({"state_dict": model.state_dict(), "meta": {"dataset_meta": model.dataset_meta}},
                    str(ckpt))
    return config, ckpt, mm.count_flops(model)


@pytest.fixture(scope="module")
def rtmpose_t(tmp_path_factory) -> tuple[Path, Path, int]:
    return build_rtmpose_t(tmp_path_factory.mktemp("mmpose"))


def test_shims_build_rtmpose_from_mmposes_own_cspnext_and_configs_resolve_by_name_or_alias(rtmpose_t):
    config, _, flops = rtmpose_t
    assert config.is_file() and config.name == RTMPOSE_T + ".py" and ".mim" in config.parts
    assert mm.resolve_config("rtmpose-l").name == "rtmpose-l_8xb256-420e_body8-384x288.py"   # an alias
    assert mm.resolve_config(str(config)) == config
    model = mm.build_model(config)
    assert type(model.backbone).__module__ == "mmpose.models.backbones.cspnext"
    assert mm.input_size(model) == (192, 256)
    assert 0.5e9 < flops < 1.0e9                  # RTMPose-t: 0.36 G multiply-adds at 256x192
    import mmcv.ops                                 # the stub: compiled ops say why they are missing
    with pytest.raises(RuntimeError, match="mmcv-lite has no compiled operators"):
        mmcv.ops.DeformConv2d(1, 1, 3)


def test_headless_mmpose_loads_the_checkpoint_and_writes_a_coco_row_for_every_frame(rtmpose_t, clip, tmp_path, capsys):
    config, ckpt, flops = rtmpose_t
    out = tmp_path / "out"
    rc = process_main([str(clip), "--out", str(out), "--estimator", "mmpose", "--pose-config", str(config),
                       "--pose-checkpoint", str(ckpt), "--quiet"])
    text = capsys.readouterr()
    assert rc == 0, text.err
    df = pd.read_csv(out / "cam01.csv")
    assert list(df.columns) == columns(COCO17, world=False)            # COCO-17 joints, 2D only
    assert len(df) == N and (df.frame == np.arange(N)).all()
    assert (df.keyframe == (df.frame % 10 == 0)).all()
    assert df.detected[df.keyframe == 1].all()                          # the detector found him each time
    xy = df[[f"{j}_{a}" for j in COCO17.joints for a in "xy"]]
    assert xy.notna().all().all()                                       # every frame has every joint
    conf = df[[f"{j}_conf" for j in COCO17.joints]]
    assert ((conf >= 0) & (conf <= 1)).all().all()
    # the refiner's body joints are taken from the COCO ones by name; the others interpolated
    assert set(BODY12.joints) <= set(COCO17.joints)
    meta = json.loads((out / "cam01.json").read_text())
    assert meta["joints"] == list(COCO17.joints)
    assert meta["estimator"]["name"] == "mmpose" and meta["estimator"]["pose_config"] == str(config)
    assert meta["config"]["world"] is False and "mmpose" in meta["versions"] and "mmengine" in meta["versions"]
    per_call = flops + PersonDetector.flops()                        # the model and its person boxes
    assert meta["flops_per_frame"]["estimator"] == pytest.approx(per_call / 10)
    assert f"estimator {per_call / 1e9:.4f} GFLOPs per keyframe" in text.out
    assert "world-space" not in text.out              # no world refiner runs for a 2D model


def test_missing_or_unfit_config_and_checkpoint_are_one_message_and_exit_2(rtmpose_t, clip, tmp_path, capsys):
    config, ckpt, _ = rtmpose_t
    out = tmp_path / "out"
    base = [str(clip), "--out", str(out), "--estimator", "mmpose", "--quiet"]
    cases = [
        (["--pose-config", str(tmp_path / "nope.py"), "--pose-checkpoint", str(ckpt)], "nope.py: no such file"),
        (["--pose-config", "no-such-model", "--pose-checkpoint", str(ckpt)],
         "no such file, nor an mmpose model name or alias"),
        (["--pose-config", str(config), "--pose-checkpoint", str(tmp_path / "nope.pth")], "nope.pth: no such file"),
        (["--pose-config", str(config)], "needs a checkpoint (--pose-checkpoint)"),
        (["--pose-checkpoint", str(ckpt)], "needs a config"),
        (["--pose-config", "rtmpose-s_8xb256-420e_coco-256x192", "--pose-checkpoint", str(ckpt)],
         "does not fit rtmpose-s_8xb256-420e_coco-256x192.py: 36 of its weights are missing"),
    ]
    for extra, message in cases:
        assert process_main(base + extra) == 2
        said = capsys.readouterr()
        err = said.err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
        assert "note:" not in said.out                # nothing said about refiners before it
    import torch
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    key = next(k for k in state["state_dict"] if k.endswith(".weight"))
    state["state_dict"][key] = torch.zeros(1)                  # every weight there, one of a wrong shape
    torch.save(state, tmp_path / "reshaped.pth")
    assert process_main(base + ["--pose-config", str(config), "--pose-checkpoint", str(tmp_path / "reshaped.pth")]) == 2
    assert f"size mismatch for {key}" in capsys.readouterr().err
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    assert process_main(base + ["--pose-config", str(config), "--pose-checkpoint", str(tmp_path / "junk.pth")]) == 2
    assert "not a readable PyTorch checkpoint" in capsys.readouterr().err
    assert not out.exists() or not list(out.iterdir())


def test_app_worker_runs_mmpose_on_a_video_readout_shows_its_flops_and_settings_are_kept(rtmpose_t, clip, qtbot, tmp_path):
    from app.controls import find_data
    from app.readout import flops_text
    from test_app import Recorder, make_window, wait_ended
    config, ckpt, flops = rtmpose_t
    window = make_window(qtbot, tmp_path / "settings.ini")
    try:
        rec = Recorder(window)
        qtbot.waitUntil(lambda: window.session.cfg is not None, timeout=60_000)
        assert find_data(window.controls.estimator_box, ("mmpose", "static")) >= 0     # offered: installed
        window.controls.use_pose_model(tmp_path / "nope.py", ckpt)
        qtbot.waitUntil(lambda: any("nope.py: no such file" in m for m in rec.errors()), timeout=30_000)
        assert window.session.cfg.estimator == "mediapipe"                        # settings not changed
        window.controls.use_pose_model(config, ckpt)
        qtbot.waitUntil(lambda: window.session.cfg.estimator == "mmpose", timeout=60_000)
        assert window.controls.model_button.isVisible() and RTMPOSE_T in window.controls.model_button.text()
        window.open_files([clip])
        result = wait_ended(qtbot, rec, timeout=600_000)

        assert result.error is None and len(result.track) == N
        assert [f.pose.index for f in rec.items] == list(range(N))        # shown or passed, in order
        assert all(f.pose.has_pose and f.pose.image.shape == (17, 2) for f in rec.items)
        assert result.info.skeleton == COCO17 and not result.info.world
        per_call = flops + PersonDetector.flops()
        assert result.info.flops.estimator_per_keyframe == pytest.approx(per_call)
        r = window.readout
        assert r.value("estimator") == flops_text(per_call / 10)
        assert RTMPOSE_T in r._labels["estimator"].toolTip()
        assert float(re.match(r"[\d.]+", r.value("estimator_ms")).group()) > 1
    finally:
        window.close()

    second = make_window(qtbot, tmp_path / "settings.ini")
    try:
        qtbot.waitUntil(lambda: second.session.cfg is not None and second.session.cfg.estimator == "mmpose",
                        timeout=60_000)
        assert second.session.cfg.pose_config == str(config) and second.session.cfg.pose_checkpoint == ckpt
    finally:
        second.close()
