"""The headless command on Ray (a local Ray with 2 CPUs, started once for the module): the same
CSVs as the sequential command, a corrupt video reported and skipped, a worker killed mid-video
retried without a duplicated or partial output, Ctrl-C cancelling the running videos, and a
non-shared --out refused."""
import json
import os
import signal

import numpy as np
import pandas as pd
import pytest

ray = pytest.importorskip("ray", reason="Ray is an optional install: pip install -r requirements-ray.txt")

from media import read_frames, write_video  # noqa: E402
from pipeline import cli, cluster  # noqa: E402
from pipeline.config import PipelineConfig, load_refiners  # noqa: E402
from pipeline.paths import VIDEO_DIR  # noqa: E402
from pipeline.process import output_names  # noqa: E402

CFG = PipelineConfig(k=10)
TIMINGS = ("measured", "config")      # sidecar keys that differ between two runs (timings)


@pytest.fixture(scope="module")
def local_ray():
    previous = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"              # no token written under the home folder
    for attempt in range(2):       # Ray gives its services 30 s to start: a loaded machine may miss it
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
            break
        except Exception:
            ray.shutdown()
            if attempt:
                raise
    yield
    ray.shutdown()
    if previous is None:
        os.environ.pop("RAY_AUTH_MODE", None)
    else:
        os.environ["RAY_AUTH_MODE"] = previous


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Three short real clips (two people scenes, two sizes, 30 and 60 fps) and a corrupt one."""
    d = tmp_path_factory.mktemp("videos")
    write_video(d / "demo.mp4", read_frames(VIDEO_DIR / "sports2d_demo.mp4", 70))
    write_video(d / "cam01.mp4", read_frames(VIDEO_DIR / "pose2sim_single" / "cam01.mp4", 50), fps=60)
    write_video(d / "carphone.mp4", read_frames(VIDEO_DIR / "carphone.mp4", 40))
    (d / "broken.mp4").write_bytes((d / "demo.mp4").read_bytes()[:5000])      # truncated
    return d


@pytest.fixture(scope="module")
def refiners():
    return load_refiners(CFG)


def partials(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial") or p.name.startswith(".ray"))


def test_ray_writes_what_the_sequential_command_writes(local_ray, folder, tmp_path, capsys):
    seq, dist = tmp_path / "seq", tmp_path / "ray"
    for d in (seq, dist):                                 # an earlier run's CSV of the corrupt video
        d.mkdir()
        (d / "broken.csv").write_text("frame\n0\n")
    assert cli.main([str(folder), "--out", str(seq), "--quiet"]) == 1
    sequential_err = capsys.readouterr().err
    assert cli.main([str(folder), "--out", str(dist), "--quiet", "--ray", "--workers", "2"]) == 1
    out, err = capsys.readouterr()
    # the corrupt video: reported with the sequential command's own lines, and skipped
    for start in ("error: broken.mp4", "note: "):
        line = next(x for x in err.splitlines() if x.startswith(start))
        assert line.replace(str(dist), str(seq)) in sequential_err
    assert "broken.csv is from an earlier run" in err
    assert "1 of 4 videos failed: broken.mp4" in err
    assert "written to" in out and "demo.csv" in out
    assert sorted(p.name for p in dist.iterdir()) == sorted(p.name for p in seq.iterdir()) == [
        "broken.csv", "cam01.csv", "cam01.json", "carphone.csv", "carphone.json", "demo.csv", "demo.json"]
    assert (dist / "broken.csv").read_text() == "frame\n0\n"
    for name in ("demo", "cam01", "carphone"):
        a = pd.read_csv(seq / f"{name}.csv", dtype=str, keep_default_na=False)
        b = pd.read_csv(dist / f"{name}.csv", dtype=str, keep_default_na=False)
        assert len(a) == len(read_frames(folder / f"{name}.mp4")) and (a["keyframe"] == "1").sum() > 0
        pd.testing.assert_frame_equal(a, b)               # every pose column, to the last digit
        sa, sb = (json.loads((d / f"{name}.json").read_text()) for d in (seq, dist))
        assert {k: v for k, v in sa.items() if k not in TIMINGS} == {k: v for k, v in sb.items() if k not in TIMINGS}
    assert partials(dist) == []


def test_recursive_folders_on_ray_give_the_sequential_tree(local_ray, tmp_path, capsys):
    """--recursive with --ray: each subfolder's videos written to the same subfolder of --out,
    with the same CSVs, as without --ray."""
    videos = tmp_path / "in"
    (videos / "sub").mkdir(parents=True)
    frames = read_frames(VIDEO_DIR / "carphone.mp4", 45)
    write_video(videos / "a.mp4", frames[:20])
    write_video(videos / "sub" / "a.mp4", frames[20:])                # same name, another folder
    seq, dist = tmp_path / "seq", tmp_path / "ray"
    assert cli.main([str(videos), "--out", str(seq), "--quiet", "--recursive"]) == 0
    assert cli.main([str(videos), "--out", str(dist), "--quiet", "--recursive", "--ray", "--workers", "2"]) == 0, \
        capsys.readouterr().err
    tree = sorted(str(p.relative_to(dist)) for p in dist.rglob("*"))
    assert tree == sorted(str(p.relative_to(seq)) for p in seq.rglob("*")) == [
        "a.csv", "a.json", "sub", "sub/a.csv", "sub/a.json"]
    for csv, n in (("a.csv", 20), ("sub/a.csv", 25)):
        a = pd.read_csv(seq / csv, dtype=str, keep_default_na=False)
        assert len(a) == n
        pd.testing.assert_frame_equal(a, pd.read_csv(dist / csv, dtype=str, keep_default_na=False))
    assert partials(dist) == [] and partials(dist / "sub") == []


def test_mmpose_runs_on_the_workers_with_the_users_config_and_checkpoint(local_ray, folder, tmp_path, capsys):
    """The workers build the mmpose estimator from --pose-config and --pose-checkpoint (paths on
    storage every node sees) and write the sequential command's poses."""
    pytest.importorskip("mmpose", reason="the optional mmpose install (requirements-mmpose*.txt)")
    from test_mmpose import build_rtmpose_t
    config, ckpt, _ = build_rtmpose_t(tmp_path)
    args = [str(folder / "cam01.mp4"), "--quiet", "--estimator", "mmpose", "--pose-config", str(config),
            "--pose-checkpoint", str(ckpt)]
    assert cli.main(args + ["--out", str(tmp_path / "seq")]) == 0
    assert cli.main(args + ["--out", str(tmp_path / "ray"), "--ray", "--workers", "1"]) == 0, capsys.readouterr().err
    a, b = (pd.read_csv(tmp_path / d / "cam01.csv") for d in ("seq", "ray"))
    assert len(a) == len(b) == 50 and a.detected.sum() > 0
    assert list(a.columns) == list(b.columns) and "nose_x" in a.columns      # COCO-17 joints
    num = a.select_dtypes("number").columns
    np.testing.assert_allclose(b[num].to_numpy(float), a[num].to_numpy(float), atol=1e-3)   # threads may round differently
    meta = json.loads((tmp_path / "ray" / "cam01.json").read_text())
    assert meta["estimator"]["name"] == "mmpose" and meta["estimator"]["pose_config"] == str(config)


def test_one_overall_bar_counts_frames_and_videos(local_ray, refiners, folder, tmp_path, capsys):
    """The bar (stderr): frames done of the frames expected, videos done and failed, time left;
    each video's summary on stdout as it finishes."""
    paths = [folder / "carphone.mp4", folder / "broken.mp4"]
    written, failed = cluster.process_videos(paths, output_names(paths), tmp_path / "out", CFG, refiners,
                                             workers=2, progress=True)
    out, err = capsys.readouterr()
    assert [s.csv.name for s in written] == ["carphone.csv"] and len(failed) == 1
    last = err.replace("\r", "\n").strip().splitlines()
    bar = next(line for line in reversed(last) if line.startswith("2 videos"))
    assert "40/40" in bar and "frame" in bar and "videos 2/2 done, 1 failed" in bar, bar
    assert "<" in bar                                            # tqdm's elapsed<remaining
    assert "carphone.mp4: 40 frames" in out and "error: broken.mp4" in err


def test_a_worker_killed_mid_video_is_retried(local_ray, refiners, tmp_path):
    """Two copies of an 800-frame clip, one worker each; the worker of the first is killed
    (SIGKILL) once it has done some frames. Its video is done again by a new worker: one
    complete CSV, no duplicated frame, identical to the copy that was never interrupted."""
    videos = tmp_path / "in"
    videos.mkdir()
    frames = read_frames(VIDEO_DIR / "sports2d_demo.mp4", 200) * 4     # long enough to be caught
    paths = [write_video(videos / "a.mp4", frames), write_video(videos / "b.mp4", frames)]
    out = tmp_path / "out"
    killed, final = {}, {}

    def kill_mid_video(state):
        final.update(state)
        done, total, pid = state.get(0, (0, None, 0))
        if not killed and 0 < done < total:      # reported before its last frame: not yet written
            os.kill(pid, signal.SIGKILL)
            killed.update(pid=pid, at=done)

    written, failed = cluster.process_videos(paths, output_names(paths), out, CFG, refiners,
                                             progress=False, on_progress=kill_mid_video)
    assert killed, "the worker was not caught mid-video"
    assert final[0][2] != killed["pid"], "the video was not done again by another worker"
    assert failed == [] and [s.csv.name for s in written] == ["a.csv", "b.csv"]
    a, b = (pd.read_csv(out / f"{n}.csv", dtype=str, keep_default_na=False) for n in "ab")
    assert a["frame"].astype(int).tolist() == list(range(800))
    pd.testing.assert_frame_equal(a, b)
    assert partials(out) == []


def test_ctrl_c_cancels_and_leaves_no_partial_csv(local_ray, refiners, tmp_path):
    videos = tmp_path / "in"
    videos.mkdir()
    frames = read_frames(VIDEO_DIR / "sports2d_demo.mp4", 200)
    paths = [write_video(videos / f"{n}.mp4", frames) for n in "abc"]
    out = tmp_path / "out"

    def ctrl_c(state):
        if any(done > 0 for done, _, _ in state.values()):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cluster.process_videos(paths, output_names(paths), out, CFG, refiners, workers=2,
                               progress=False, on_progress=ctrl_c)
    left = sorted(p.name for p in out.iterdir())
    assert partials(out) == [] and "c.csv" not in left    # the third never started
    for csv in (p for p in out.glob("*.csv")):            # one that finished meanwhile is whole
        assert csv.with_suffix(".json").exists() and len(pd.read_csv(csv)) == 200


@pytest.mark.parametrize("sig, status, word", [(signal.SIGINT, 130, "interrupted"),
                                               (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_or_kill_ends_a_ray_run_with_its_status_and_no_partial_file(tmp_path, sig, status, word):
    """The command as a user runs it (its own local Ray), interrupted by a real SIGINT (Ctrl-C) or
    SIGTERM (kill; Ray installs its own handler, which must not stay) while the workers write:
    exit status 130 / 143 with its one line, finished videos kept, nothing partial left."""
    import subprocess
    import sys
    import time
    from pipeline.paths import REPO_ROOT
    videos = tmp_path / "in"
    videos.mkdir()
    frames = read_frames(VIDEO_DIR / "sports2d_demo.mp4", 200) * 3
    for n in "ab":
        write_video(videos / f"{n}.mp4", frames)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(REPO_ROOT / "run_app.py"), "process", str(videos), "--out", str(out),
                             "--ray", "--workers", "2", "--quiet"], cwd=REPO_ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "RAY_AUTH_MODE": "disabled"},
                            # as from a terminal: Ctrl-C not ignored (Ray in this test process
                            # leaves SIGINT ignored, which a child would inherit)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    end = time.monotonic() + 240
    while not (out.exists() and any(p.name.endswith(".partial") for p in out.iterdir())):
        assert proc.poll() is None and time.monotonic() < end, proc.communicate()[1][-3000:]
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == status, err[-3000:]
    assert "Traceback" not in err and f"{word}: no partial CSV is left" in err
    assert partials(out) == []
    for csv in out.glob("*.csv"):                              # one that finished meanwhile is whole
        assert len(pd.read_csv(csv)) == 600 and csv.with_suffix(".json").exists()


def test_a_folder_the_cluster_cannot_see_is_refused(local_ray, refiners, folder, tmp_path, monkeypatch):
    # a cluster node that does not mount --out reads no token there: here, none is written
    monkeypatch.setattr(cluster, "_write_token", lambda path, token: None)
    with pytest.raises(cluster.ClusterError, match="is not shared with the cluster"):
        cluster.process_videos([folder / "demo.mp4"], ["demo"], tmp_path, CFG, refiners, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_an_address_where_nothing_listens_is_refused_at_once():
    import socket
    with socket.socket() as s:                            # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(cluster.ClusterError, match=f"cannot join the Ray cluster at 127.0.0.1:{port}: nothing answers"):
        cluster.check_reachable(f"127.0.0.1:{port}", timeout_s=2)
    with pytest.raises(cluster.ClusterError, match="nothing answers"):
        cluster.check_reachable(f"ray://127.0.0.1:{port}", timeout_s=2)


@pytest.mark.parametrize("args, message", [
    (["0", "--ray"], "a camera or a stream is recorded by the command without --ray"),
    (["VIDEO", "--ray", "--workers", "0"], "--workers must be 1 or more"),
    (["VIDEO", "--workers", "2"], "--workers goes with --ray"),
    (["VIDEO", "--ray", "cluster"], "an address is auto, ray://HOST:PORT or HOST:PORT"),
])
def test_ray_command_line_refusals(folder, tmp_path, capsys, args, message):
    args = [str(folder / "demo.mp4") if a == "VIDEO" else a for a in args]
    try:
        status = cli.main([*args, "--out", str(tmp_path / "out"), "--quiet"])
    except SystemExit as e:                               # argparse's own errors
        status = e.code
    assert status == 2 and message in capsys.readouterr().err
