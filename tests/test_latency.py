"""Latency modes: which keyframes each frame's pose may depend on, and the causal baselines."""
import numpy as np
import pytest
import torch

from pipeline.interpolate import extrapolate_keyframes, fill_causal
from pipeline.refiner.latency import causal_window_index, latency_frames, stitch
from pipeline.refiner.model import LATENCIES, MixSynthFormer, ModelConfig
from pipeline.refiner.runtime import ModelCard, Refiner
from pipeline.skeleton import BODY12


def random_refiner(latency: str, k: int = 5, q: int = 3) -> Refiner:
    """A refiner whose weights are all random (no zero head): every output frame depends on
    every input keyframe of its window, so any leak from the future would show."""
    cfg = ModelConfig(pose_dim=24, k=k, q=q, dropout=0.0, latency=latency)
    torch.manual_seed(0)
    model = MixSynthFormer(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    card = ModelCard(name=f"random-{latency}", space="image", skeleton=BODY12.name,
                     joints=list(BODY12.joints), model=cfg.to_dict())
    return Refiner(model, card)


def test_windows_deliver_the_frames_their_mode_promises():
    for latency, window, emitted in (("window", 31, (0, 31)), ("keyframe", 31, (20, 31)), ("zero", 40, (30, 40))):
        cfg = ModelConfig(pose_dim=24, k=10, q=3, latency=latency)
        assert cfg.window == window and (cfg.emitted.start, cfg.emitted.stop) == emitted
        assert MixSynthFormer(cfg).refine_keyframes(torch.zeros(2, 4, 24)).shape == (2, window, 24)
    assert [latency_frames(m, 10, 3) for m in LATENCIES] == [30, 10, 0]
    with pytest.raises(ValueError, match="zero"):
        ModelConfig(pose_dim=24, latency="instant")


@pytest.mark.parametrize("latency", ["keyframe", "zero"])
def test_a_frames_pose_uses_no_keyframe_after_the_time_it_is_shown(latency):
    """Zero latency: the pose of frame n is computed from keyframes at frames <= n. Keyframe
    latency: from keyframes up to the first one at or after n (shown K frames late at most)."""
    k, n_frames = 5, 61
    r = random_refiner(latency, k)
    rng = np.random.default_rng(1)
    kf = (rng.normal(size=(13, 12, 2)) * 30 + 300).astype(np.float32)
    base = r.refine_sequence(kf, n_frames)
    assert base.shape == (n_frames, 12, 2) and np.isfinite(base).all()
    for i in range(1, 13):
        changed = kf.copy()
        changed[i:] += rng.normal(size=changed[i:].shape).astype(np.float32) * 40
        out = r.refine_sequence(changed, n_frames)
        # frames that cannot see keyframe i (keyframe mode: frame 0 waits for keyframe 1)
        known = k * i if latency == "zero" else k * (i - 1) + 1 if i > 1 else 0
        np.testing.assert_array_equal(out[:known], base[:known])
        assert not np.allclose(out[known], base[known])           # ... and the next frame does


def test_extrapolation_baselines_by_hand():
    f, v = np.array([0, 10, 20]), np.array([[0.0], [1.0], [3.0]])
    frames = np.array([0, 5, 10, 15, 20, 25, 30])
    hold = extrapolate_keyframes(f, v, frames, "hold last keyframe")[:, 0]
    vel = extrapolate_keyframes(f, v, frames, "constant velocity")[:, 0]
    np.testing.assert_allclose(hold, [0, 0, 1, 1, 3, 3, 3])
    np.testing.assert_allclose(vel, [0, 0, 1, 1.5, 3, 4, 5])
    np.testing.assert_array_equal(fill_causal(np.arange(5.0), np.array([0, 1, 0, 0, 1], bool)), [1, 1, 1, 1, 4])


def test_keyframe_blocks_continue_where_one_window_hands_over_to_the_next():
    """Keyframe latency: block i+1 starts from the pose already given for keyframe i (its own
    re-estimate of that frame differs), the difference fading to none at keyframe i+1, which
    keeps the estimate of the window that ends there."""
    np.testing.assert_allclose(stitch(np.array([[4.0]]), np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])),
                               [[4.0], [4.0], [4.0], [4.0]])     # shown 4, re-estimated 0: offset 4, 3, 2, 1, 0 x 1
    k, q = 5, 3
    r = random_refiner("keyframe", k, q)
    kf = mediapipe_motion(14 * k)[::k][:, :12]
    out = r.refine_sequence(kf, 13 * k + 1)
    windows = r.refine_windows(kf[causal_window_index(np.arange(1, len(kf)), q)])[:, k * (q - 1):]
    for i, w in zip(range(1, len(kf)), windows):
        np.testing.assert_allclose(out[k * i], w[-1], atol=1e-4)          # keyframe i: window i's
        if i > 1:                                                          # the handover: continuous
            np.testing.assert_allclose(out[k * (i - 1) + 1:k * i + 1],
                                       w[1:] + (1 - np.arange(1, k + 1) / k)[:, None, None]
                                       * (out[k * (i - 1)] - w[0]), atol=1e-4)
    jumps = np.abs(np.diff(out, axis=0)).max(axis=(1, 2))
    unstitched = np.abs(windows[1:, 1] - windows[:-1, -1]).max(axis=(1, 2))   # without it
    assert jumps[k::k].max() < unstitched.mean()


def stream(latency_refiner: Refiner, image: np.ndarray, k: int, missed=(), **options) -> tuple[list, list]:
    """Push (N, 33, 2) MediaPipe-shaped poses frame by frame through the streaming refiner of
    the refiner's mode -> (frames emitted by each push, every pose in order)."""
    from pipeline.estimators import PoseEstimate
    from pipeline.skeleton import MEDIAPIPE33
    from pipeline.streaming import make_streamer
    s = make_streamer(latency_refiner, None, MEDIAPIPE33, pin_keyframes=False, world_output=False, **options)
    per_push, poses = [], []
    for i, img in enumerate(image):
        est = PoseEstimate(img, np.ones(len(img), np.float32), None) if i % k == 0 and i not in missed else None
        out = s.push(i, i / 30, est)
        per_push.append([p.index for p in out])
        poses += out
    poses += s.finish()
    return per_push, poses


def mediapipe_motion(n: int, seed: int = 3) -> np.ndarray:
    """(n, 33, 2) a smooth pose track in pixels (every landmark on its own sine)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None, None]
    return (rng.uniform(200, 400, (1, 33, 2)) + rng.uniform(10, 50, (1, 33, 2))
            * np.sin(t / 8 + rng.uniform(0, 6, (1, 33, 2)))).astype(np.float32)


@pytest.mark.parametrize("latency", ["keyframe", "zero"])
def test_a_stream_shows_each_frame_when_its_mode_says_with_the_poses_of_a_file_run(latency):
    """Zero latency: frame n's pose comes out of push(n) itself; keyframe latency: with the next
    keyframe's push, at most K frames later. The poses equal the offline run of the same
    keyframes (`refine_sequence`), so what a camera shows is what a file of it gives."""
    from pipeline.skeleton import MEDIAPIPE33
    k, n = 5, 63
    r = random_refiner(latency, k)
    image = mediapipe_motion(n)
    per_push, poses = stream(r, image, k)
    assert [p.index for p in poses] == list(range(n))
    for i, emitted in enumerate(per_push):
        if latency == "zero":
            assert emitted == [i]
        else:
            assert all(i - k <= e <= i for e in emitted)
            first = 0 if i == k else i - k + 1          # frame 0 comes with keyframe 1, as offline
            assert emitted == (list(range(first, i + 1)) if i % k == 0 and i else [])
    body = [MEDIAPIPE33.index(j) for j in BODY12.joints]
    offline = r.refine_sequence(image[::k][:, body], n)
    got = np.stack([p.image[body] for p in poses])
    np.testing.assert_allclose(got, offline, atol=1e-3)
    # every frame rests on detections, but in keyframe mode the tail after the last keyframe (60)
    # has none after it (zero latency predicts those frames, as every other, from past ones)
    assert [p.index for p in poses if not p.detected] == ([61, 62] if latency == "keyframe" else [])


def test_a_missed_keyframe_at_zero_latency_holds_the_last_detection_and_says_so():
    from pipeline.skeleton import MEDIAPIPE33
    k, n = 5, 40
    r = Refiner.linear("image", k, 3, latency="zero")
    image = mediapipe_motion(n)
    _, poses = stream(r, image, k, missed={15})
    filled = [p.index for p in poses if p.filled]
    assert filled == list(range(15, 20))                     # the frames that rest on the miss
    np.testing.assert_allclose(poses[17].image, image[10], atol=1e-3)   # the last detection, held
    np.testing.assert_allclose(poses[22].image, image[20], atol=1e-3)


def test_the_zero_latency_fallback_holds_the_last_keyframe_and_is_named_so():
    """Without an accepted zero-latency model, frames after a window's last keyframe hold it: the
    refined window equals that keyframe there, and the card (written to the sidecar) says so."""
    r = Refiner.linear("image", 10, 3, latency="zero")
    assert r.card.name == "last keyframe held"
    assert Refiner.linear("image", 10, 3, latency="keyframe").card.name == "linear interpolation"
    rng = np.random.default_rng(0)
    keyframes = rng.normal(size=(2, 4, len(BODY12.joints), 2)) * 50 + 300
    out = r.refine_windows(keyframes)
    np.testing.assert_allclose(out[:, 30:], np.repeat(keyframes[:, -1:], out.shape[1] - 30, 1), atol=1e-3)


def test_the_evaluation_gives_causal_modes_the_keyframes_a_stream_has():
    """A missed keyframe is held from the last detection for a keyframe- or zero-latency model and
    for the baselines it is judged against (a stream cannot fill it from the next detection);
    window models and their baselines get it filled from both sides."""
    from pipeline.training.evaluate import REFINER, EvalSequence, predictions
    k, n = 5, 31
    gt = np.repeat(np.arange(n, dtype=np.float64)[:, None, None], 12, 1).repeat(2, 2)   # x = y = frame
    keyframe_values = gt[::k].copy()
    found = np.ones(len(keyframe_values), bool)
    found[3] = False                                   # frame 15: missed, filled from 10 and 20
    keyframe_values[3] = 15.0
    seq = EvalSequence("ramp", gt, gt, keyframe_values, found)
    for latency, at15 in (("window", 15.0), ("keyframe", 10.0), ("zero", 10.0)):
        out = predictions(seq, Refiner.linear("image", k, 3, latency=latency), k, None)
        assert out["linear"][15, 0, 0] == at15, latency
        if latency == "keyframe":                      # the fallback is exactly its rival
            np.testing.assert_allclose(out[REFINER], out["linear"], atol=1e-4)


@pytest.mark.parametrize("live", [True, False])
def test_missed_keyframes_are_held_live_and_filled_between_detections_in_a_file(live):
    """Keyframe latency: a live stream holds a missed keyframe (the next one is not known yet); a
    file waits for the next detection and fills the misses between the two, as the
    window mode does. Either way the poses are those of the offline run of the same keyframes,
    and the frames resting on a filled or held keyframe are marked so."""
    from pipeline.interpolate import fill_causal, fill_gaps
    from pipeline.skeleton import MEDIAPIPE33
    k, n = 5, 63
    r = random_refiner("keyframe", k)
    image = mediapipe_motion(n)
    missed = (15, 35, 40)                               # keyframe 3 alone, keyframes 7 and 8
    per_push, poses = stream(r, image, k, missed, live=live)
    assert [p.index for p in poses] == list(range(n))
    found = np.array([f not in missed for f in range(0, n, k)])
    body = [MEDIAPIPE33.index(j) for j in BODY12.joints]
    kf = image[::k][:, body].astype(np.float64)
    filled = (fill_causal if live else fill_gaps)(kf, found)
    np.testing.assert_allclose(np.stack([p.image[body] for p in poses]),
                               r.refine_sequence(filled.astype(np.float32), n), atol=1e-3)
    # a keyframe row says whether it was detected itself (20 and 45 were, right after misses);
    # other frames whether both keyframes around them were; the tail after keyframe 60 was not
    assert [p.index for p in poses if not p.detected] == [*range(11, 20), *range(31, 45), 61, 62]
    # live: each block when its keyframe arrives; a file: misses wait for the next detection
    waits = {15: [], 35: [], 40: [], 20: list(range(11, 21)), 45: list(range(31, 46))}
    for f in range(k, n, k):
        expected = list(range(0 if f == k else f - k + 1, f + 1))
        if not live and f in waits:
            expected = waits[f]
        assert per_push[f] == expected, f
