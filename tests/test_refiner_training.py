"""Data, metrics, training and evaluation of the refiner, on the shared motion capture."""
import json

import cv2
import numpy as np
import pytest

from pipeline import metrics
from pipeline.training.evaluate import PINNED, REFINER, SUITES, score, synthetic_test_set
from pipeline.interpolate import fill_gaps, interpolate_keyframes
from pipeline.training.motion import load_deciwatch
from pipeline.refiner.normalize import normalise, window_stats
from pipeline.paths import MOTION_DIR, WEIGHTS_DIR
from pipeline.refiner.runtime import Refiner, WeightsError
from pipeline.skeleton import BODY12, H36M17, JHMDB15, torso_length
from pipeline.training.synth import MotionAugment, NoiseModel, WindowSampler, look_at, random_view, to_space
from pipeline.training.train import MotionBatches, TrainConfig, train


# --- data -------------------------------------------------------------------------------------

def test_motion_clips_are_body_joints_in_metres(motion_clips):
    names = {c.name for c in motion_clips}
    assert "test/walking/01" in names and "train/walking/01" in names and "walk" in names
    gait = {c.name: c for c in motion_clips if c.source == "gaitkit_gait"}
    assert set(gait) == {"healthy", "parkinson", "stroke"}              # legs only: arms completed
    arms = [BODY12.index(n) for n in ("left_elbow", "right_elbow", "left_wrist", "right_wrist")]
    assert not gait["stroke"].measured[arms].any() and gait["stroke"].measured.sum() == 8
    assert gait["healthy"].measured.sum() == 6                          # no shoulders either
    for c in motion_clips:
        assert c.joints.shape[1:] == (12, 3) and np.isfinite(c.joints).all()
        torso = torso_length(c.joints, BODY12)
        assert 0.25 < np.median(torso) < 0.7, c.name                    # metres
    held_out = [c for c in motion_clips if c.split == "test"]
    assert {c.name.split("/")[1] for c in held_out} >= {"walking", "washwindow"}


def test_projection_matches_opencv(motion_clips):
    clip = motion_clips[0]
    joints = clip.joints[:50].astype(np.float64)
    view = random_view(joints[:, 6:8].mean(1), np.random.default_rng(3))
    rot, pos, f, (cx, cy), _ = view
    ours = to_space(joints, view, "image")
    rvec, _ = cv2.Rodrigues(rot)
    theirs, _ = cv2.projectPoints(joints.reshape(-1, 3), rvec, -rot @ pos,
                                  np.array([[f, 0, cx], [0, f, cy], [0, 0, 1]]), None)
    assert np.allclose(ours.reshape(-1, 2), theirs.reshape(-1, 2), atol=1e-6)


def test_world_space_is_hip_centred_with_y_down(motion_clips):
    sampler = WindowSampler([c for c in motion_clips if c.split == "train"], 31, "world",
                            MotionAugment(tumble=0.0))                # upright bodies only
    w = sampler.sample(64, np.random.default_rng(0))[0]
    hips = w[:, :, [BODY12.index("left_hip"), BODY12.index("right_hip")]].mean(2)
    assert np.allclose(hips, 0, atol=1e-5)
    shoulders_y = w[:, :, [BODY12.index("left_shoulder"), BODY12.index("right_shoulder")], 1].mean(2)
    assert (shoulders_y < 0).mean() > 0.9          # shoulders above the hips: y points down


def test_bodies_are_reshaped_along_the_chain_with_constant_bones(motion_clips):
    """Every bone keeps its direction and takes the drawn length in every frame; the feet stay
    near the floor; a batch of windows takes a batch of bodies."""
    from pipeline.training.synth import BodyShape, reshape_body
    clip = next(c for c in motion_clips if c.name == "train/walking/01")
    j = clip.joints[:200]
    body = BodyShape().sample(np.random.default_rng(4))
    out = reshape_body(j, body)
    J = BODY12.index
    for a, b, want in (("left_hip", "left_knee", body["thigh"][0]), ("right_knee", "right_ankle", body["shank"][1]),
                       ("left_elbow", "left_wrist", body["forearm"][0]),
                       ("right_shoulder", "right_elbow", body["upper_arm"][1])):
        length = np.linalg.norm(out[:, J(b)] - out[:, J(a)], axis=-1)
        assert np.allclose(length, want, rtol=1e-4), (a, b)
        d0, d1 = j[:, J(b)] - j[:, J(a)], out[:, J(b)] - out[:, J(a)]
        cos = (d0 * d1).sum(-1) / np.linalg.norm(d0, axis=-1) / np.linalg.norm(d1, axis=-1)
        assert cos.min() > 0.9999                                    # same direction
    assert np.allclose(np.linalg.norm(out[:, J("left_hip")] - out[:, J("right_hip")], axis=-1), body["hip_width"])
    assert np.allclose(torso_length(out, BODY12), body["torso"], rtol=1e-4)
    assert abs(out[:, [J("left_ankle"), J("right_ankle")], 1].min() - j[:, [J("left_ankle"), J("right_ankle")], 1].min()) < 0.1
    many = BodyShape().sample(np.random.default_rng(5), 3)
    batch = reshape_body(np.stack([j[:31]] * 3), many)
    assert np.allclose(torso_length(batch, BODY12).mean(-1), many["torso"], rtol=1e-4)


def test_gait_recordings_get_arms_that_swing_against_the_legs(motion_clips):
    """gaitkit has legs (and shoulders) only: its arms are completed, swing against the leg of the
    same side, and are marked unmeasured so they are never trained on or scored."""
    c = next(c for c in motion_clips if c.name == "parkinson")
    J = BODY12.index
    lh, rh = c.joints[:, J("left_hip")], c.joints[:, J("right_hip")]
    across = (lh - rh) * [1, 0, 1]
    fwd = np.cross(across, [0.0, 1.0, 0.0])
    fwd /= np.linalg.norm(fwd, axis=-1, keepdims=True)
    ahead = lambda n: ((c.joints[:, J(n)] - (lh + rh) / 2) * fwd).sum(-1)
    assert np.corrcoef(ahead("left_wrist"), ahead("left_ankle"))[0, 1] < -0.5
    assert np.corrcoef(ahead("right_wrist"), ahead("right_ankle"))[0, 1] < -0.5
    assert not c.measured[[J("left_wrist"), J("right_elbow")]].any() and c.measured[J("left_knee")]


def test_leaving_a_dataset_out_and_the_loss_on_measured_joints_only():
    cfg = TrainConfig(space="world", k=5, q=2, exclude="gaitkit_gait")
    batches = MotionBatches(cfg, MOTION_DIR, NoiseModel())
    assert "gaitkit" not in ", ".join({c.source for c in batches.sampler.clips})
    assert "left out: gaitkit_gait" in batches.description
    with pytest.raises(ValueError, match="no such motion file"):
        MotionBatches(TrainConfig(exclude="nonexistent"), MOTION_DIR, NoiseModel())
    import torch
    from pipeline.training.train import masked_l1
    pred, target = torch.zeros(2, 3, 4), torch.ones(2, 3, 4)
    target[..., 2:] = 100.0                                # the unmeasured features: ignored
    w = torch.tensor([1.0, 1.0, 0.0, 0.0]).expand(2, 1, 4)
    assert masked_l1(pred, target, w).item() == pytest.approx(1.0)


def test_faster_playback_makes_faster_motion():
    """--speed-max widens the playback speeds drawn: the same clips move further per frame."""
    def motion(speed_max):
        cfg = TrainConfig(space="world", k=10, q=3, speed_max=speed_max)
        b = MotionBatches(cfg, MOTION_DIR, NoiseModel())
        assert b.sampler.augment.speed == (0.5, speed_max)
        clean = b.sampler.sample(512, np.random.default_rng(0))[0]
        return np.linalg.norm(np.diff(clean, axis=1), axis=-1).mean()
    assert motion(3.0) > 1.2 * motion(1.5)                 # ~1.3; 1.0 were the speed ignored


def test_noise_levels_reach_from_clean_to_heavy():
    cfg = TrainConfig(space="image", k=10, q=3, clean_share=0.2, noise_min=0.1, noise_max=3.0)
    batches = MotionBatches(cfg, MOTION_DIR, NoiseModel())
    lv = batches.levels(4000, np.random.default_rng(0))
    assert 0.17 < (lv == 0).mean() < 0.23 and lv.max() <= 3.0 and lv[lv > 0].min() >= 0.1
    kf, clean, _ = batches(64, np.random.default_rng(1))
    assert kf.shape == (64, 4, 12, 2) and clean.shape == (64, 31, 12, 2)
    exact = np.isclose(kf, clean[:, ::10], atol=1e-3).all(axis=(1, 2, 3))
    assert 0 < exact.mean() < 0.5                          # some windows come with perfect keyframes


def test_look_at_is_a_rotation_facing_the_target():
    r = look_at(np.array([0.0, 1.5, 5.0]), np.array([0.0, 1.0, 0.0]))
    assert np.allclose(r @ r.T, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(r), 1)
    assert (r @ (np.array([0.0, 1.0, 0.0]) - [0, 1.5, 5]))[2] > 0   # target in front


def test_noise_model_sizes_are_fractions_of_the_torso(motion_clips):
    sampler = WindowSampler([c for c in motion_clips if c.split == "train"], 31, "image")
    clean = sampler.sample(256, np.random.default_rng(0))[0]
    quiet = NoiseModel(jitter=(0.03, 0.03 + 1e-9), drift=(1e-9, 2e-9), distal_factor=1,
                       outlier_rate=0, swap_rate=0)
    noisy = quiet.corrupt(clean, np.random.default_rng(1), "image")
    err = (noisy - clean) / torso_length(clean, BODY12).mean(1)[:, None, None, None]
    assert abs(err.std() - 0.03) < 0.002
    loud = NoiseModel(outlier_rate=0.2, outlier_scale=1.0, swap_rate=0, jitter=(1e-9, 2e-9),
                      drift=(1e-9, 2e-9))
    e = np.linalg.norm(loud.corrupt(clean, np.random.default_rng(2), "image") - clean, axis=-1)
    e /= torso_length(clean, BODY12).mean(1)[:, None, None]
    assert 0.15 < (e > 0.1).mean() < 0.22          # ~20 % outliers of about a torso


def test_rigid_noise_turns_bones_and_keeps_their_lengths(motion_clips):
    """`rigid` = 1: the detector errs in the body's angles only (every bone of the chain keeps its
    length, `noise_fit.bone_spread` is zero for the clean body and nearly so for the noisy one);
    the joints err about as much as with independent noise, and a share in between lands in
    between (0.5 halves the spread, roughly)."""
    from pipeline.training.noise_fit import bone_spread
    from pipeline.training.synth import CHAIN
    sampler = WindowSampler([c for c in motion_clips if c.split == "train"], 61, "world")
    clean = sampler.sample(64, np.random.default_rng(0))[0]
    base = dict(jitter=(0.03, 0.03 + 1e-9), drift=(0.03, 0.03 + 1e-9), outlier_rate=0, swap_rate=0)
    spread, err = {}, {}
    for rigid in (0.0, 0.5, 1.0):
        noisy = NoiseModel(**base, rigid=rigid).corrupt(clean, np.random.default_rng(1), "world")
        length = lambda x: np.stack([np.linalg.norm(x[..., c, :] - x[..., p, :], axis=-1) for p, c in CHAIN], -1)
        if rigid == 1.0:
            np.testing.assert_allclose(length(noisy), length(clean), rtol=1e-4)
        spread[rigid] = np.median(np.concatenate([bone_spread(n) for n in noisy]))
        err[rigid] = np.linalg.norm(noisy - clean, axis=-1).mean()
    assert np.median(np.concatenate([bone_spread(c) for c in clean])) < 1e-6
    assert spread[1.0] < 0.02 < 0.3 * spread[0.0] and 0.3 * spread[0.0] < spread[0.5] < 0.8 * spread[0.0]
    assert 0.7 < err[1.0] / err[0.0] < 1.3


def test_fill_gaps_interpolates_between_detections():
    v = np.array([[0.0], [9.0], [2.0], [9.0], [4.0], [9.0]])
    filled = fill_gaps(v, np.array([1, 0, 1, 0, 1, 0], bool))
    assert np.allclose(filled[:, 0], [0, 1, 2, 3, 4, 4])


def test_interpolation_baselines_hold_after_the_last_keyframe():
    kf = np.array([0, 10, 20, 30])
    vals = np.array([0.0, 10.0, 20.0, 30.0])[:, None]
    for kind in ("nearest", "linear", "quadratic", "cubic"):
        out = interpolate_keyframes(kf, vals, np.arange(35), kind)[:, 0]
        assert np.allclose(out[:31], np.arange(31), atol=5.01 if kind == "nearest" else 1e-9)
        assert np.allclose(out[30:], 30)


def test_window_normalisation_removes_position_and_scale(mocap_track):
    image, _ = mocap_track
    kf = image[:31:10][None]
    c1, s1 = window_stats(kf, BODY12)
    moved = kf * 3.0 + np.array([500.0, -40.0], np.float32)
    c2, s2 = window_stats(moved, BODY12)
    assert np.allclose(normalise(kf, c1, s1), normalise(moved, c2, s2), atol=1e-4)
    assert np.isclose(s2, 3 * s1, rtol=1e-5).all()


def test_deciwatch_files_are_read_in_their_layout(tmp_path):
    rng = np.random.default_rng(0)
    seqs = [rng.uniform(0, 320, size=(n, 15, 2)) for n in (40, 25)]
    obj = lambda xs: np.array(xs + [None], dtype=object)[:-1]
    np.savez(tmp_path / "jhmdb_gt_test.npz", imgname=obj([np.arange(len(s)) for s in seqs]),
             joints_2d=obj([s.reshape(len(s), -1) for s in seqs]),
             imgshape=obj([np.array([240, 320]) for _ in seqs]),
             bbox=obj([np.tile([10, 20, 110, 220], (len(s), 1)) for s in seqs]))
    np.savez(tmp_path / "jhmdb_simplepose_test.npz", imgname=obj([np.arange(len(s)) for s in seqs]),
             joints_2d=obj([(s + 1).reshape(len(s), -1) for s in seqs]))
    out = load_deciwatch(tmp_path, "jhmdb", "simplepose", "test")
    assert [len(s.gt) for s in out] == [40, 25] and out[0].skeleton is JHMDB15
    assert np.allclose(out[0].gt, seqs[0], atol=1e-3)                       # pixels, as stored
    assert np.allclose(out[0].bbox[0], [10, 20, 110, 220]) and out[0].image_size == (320, 240)

    g3 = [rng.normal(size=(30, 17, 3))]
    np.savez(tmp_path / "h36m_gt_test.npz", imgname=obj([np.arange(30)]), joints_3d=obj([g3[0].reshape(30, -1)]))
    np.savez(tmp_path / "h36m_fcn_test.npz", imgname=obj([np.arange(30)]), joints_3d=obj([g3[0].reshape(30, -1)]))
    h = load_deciwatch(tmp_path, "h36m", "fcn", "test")[0]
    assert h.skeleton is H36M17 and np.allclose(h.gt[:, 0], 0)              # root joint 0 at origin


# --- metrics against hand-computed values ------------------------------------------------------

def test_pck_counts_joints_within_alpha_of_the_box():
    gt = np.zeros((2, 2, 2))
    pred = np.array([[[0.0, 5.0], [0.0, 11.0]], [[3.0, 4.0], [30.0, 0.0]]])
    box = np.array([[0, 0, 100, 50], [0, 0, 20, 100]], float)    # max side 100 both
    assert metrics.pck(pred, gt, box, 0.1) == 0.5                # 5, 11, 5, 30 vs 10
    assert metrics.pck(pred, gt, box, 0.2) == 0.75


def test_mpjpe_and_accel_error_by_hand():
    gt = np.zeros((4, 1, 3))
    pred = np.array([[[0, 0, 0]], [[3, 4, 0]], [[0, 0, 0]], [[0, 0, 0]]], float)
    assert metrics.mpjpe(pred, gt) == pytest.approx(5 / 4)
    # second differences of pred: frame1: 0-2*(3,4)+0 -> |(-6,-8)| = 10; frame2: (3,4) -> 5
    assert metrics.accel_error(pred, gt) == pytest.approx(7.5)


# --- training ----------------------------------------------------------------------------------

def test_a_few_training_steps_lower_the_loss_on_real_motion():
    import torch
    from pipeline.refiner.model import MixSynthFormer
    from pipeline.training.train import to_tensors
    torch.manual_seed(0)
    cfg = TrainConfig(space="image", k=5, q=2, dim=32, depth=2)
    kf, clean, measured = MotionBatches(cfg, MOTION_DIR, NoiseModel())(64, np.random.default_rng(0))
    x, y, _ = to_tensors(kf, clean, measured, BODY12, "cpu")
    model = MixSynthFormer(cfg.model_config(24))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(60):
        loss = (model.refine_keyframes(x) - y).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.9 * np.mean(losses[:5])     # measured: 0.057 -> 0.048


def test_train_command_writes_loadable_weights_and_a_checkpoint(tmp_path):
    cfg = TrainConfig(space="image", k=5, q=2, dim=32, depth=2, steps=30, batch=16, seed=0,
                      val_every=30, ckpt_every=30)
    card = train(cfg, tmp_path / "tiny", MotionBatches(cfg, MOTION_DIR, NoiseModel()), "image",
                 device="cpu")
    assert card.training["val_l1_linear_interpolation"] > 0
    r = Refiner.load(tmp_path / "tiny.json", space="image", k=5, q=2)
    assert r.window == 11 and (tmp_path / "tiny.ckpt").exists()


class _Interrupting:
    """Training batches that raise KeyboardInterrupt (as Ctrl-C would) after `after` batches."""

    def __init__(self, inner, after):
        self.inner, self.after, self.n = inner, after, 0
        self.skeleton, self.description = inner.skeleton, inner.description

    def __call__(self, n, rng):
        if n != 1024:                                  # 1024: the fixed validation draw
            if self.n == self.after:
                raise KeyboardInterrupt
            self.n += 1
        return self.inner(n, rng)


def test_training_resumes_where_it_stopped(tmp_path):
    import torch
    cfg = TrainConfig(space="world", k=5, q=1, dim=16, depth=1, batch=16, steps=20, val_every=10,
                      ckpt_every=10, seed=3)
    batches = MotionBatches(cfg, MOTION_DIR, NoiseModel())
    train(cfg, tmp_path / "full", batches, "world", device="cpu")
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "part", _Interrupting(batches, 10), "world", device="cpu")
    assert torch.load(tmp_path / "part.ckpt", weights_only=False)["step"] == 10
    assert not (tmp_path / "part.pt").exists()
    train(cfg, tmp_path / "part", batches, "world", resume=True, device="cpu")
    a = torch.load(tmp_path / "full.pt", weights_only=True)
    b = torch.load(tmp_path / "part.pt", weights_only=True)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


# --- evaluation --------------------------------------------------------------------------------

def test_every_frame_is_scored_and_the_tail_padded():
    seqs = synthetic_test_set(MOTION_DIR, "world", 10, NoiseModel(), views=1, seed=0)
    assert any(len(s.gt) % 10 != 1 for s in seqs)            # tails that are no full interval
    card = json.loads(sorted(WEIGHTS_DIR.glob("world_k10_*.json"))[0].read_text())
    r = Refiner.load(WEIGHTS_DIR / (card["name"] + ".json"))
    s = seqs[0]
    out = r.refine_sequence(s.keyframes, len(s.gt))
    assert out.shape == s.gt.shape and np.isfinite(out).all()
    res = score(seqs[:2], r, 10, "world")
    assert set(res) == {"dense input", "nearest", "linear", "quadratic", "cubic", REFINER, PINNED}


# --- shipped weights ---------------------------------------------------------------------------

SHIPPED = sorted(WEIGHTS_DIR.glob("*.json"))


def test_weights_are_shipped_for_both_spaces_at_the_default_k():
    cards = [json.loads(p.read_text()) for p in SHIPPED]
    have = {(c["space"], c["model"]["k"], c["model"]["q"]) for c in cards}
    for space in ("image", "world"):
        assert (space, 10, 3) in have                              # the live model of the default K


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_each_shipped_checkpoint_loads_with_its_evaluation(path):
    r = Refiner.load(path)
    card = r.card
    assert card.joints == list(BODY12.joints)
    assert card.training["noise"] and set(card.evaluation["suites"]) >= {"bodies", "gaitkit", "clean", "video"}
    kf = np.random.default_rng(0).normal(size=(2, r.q + 1, 12, card.dims)).astype(np.float32)
    assert r.refine_windows(kf + 5).shape == (2, r.window, 12, card.dims)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_a_cards_verdict_follows_from_its_own_tables(path):
    """A card's "accepted" is what its stored tables say under the suites' own judges: no card can
    claim acceptance its numbers do not show (the pipeline only uses accepted cards)."""
    card = json.loads(path.read_text())
    ev, space, latency = card["evaluation"], card["space"], card["model"].get("latency", "window")
    for name, suite in ev["suites"].items():
        if name in SUITES and "table" in suite:
            assert suite["acceptance"] == SUITES[name].judge(suite["table"], space, latency), name
    counting = [s for s in ev["suites"].values() if s["counts"]]
    assert ev["accepted"] == all(all(s["acceptance"].values()) for s in counting)


def test_weights_for_other_joints_or_config_are_refused_naming_both():
    path = sorted(WEIGHTS_DIR.glob("image_k10_*.json"))[0]
    with pytest.raises(WeightsError) as e:
        Refiner.load(path, joints=list(JHMDB15.joints))
    assert "are for" in str(e.value) and "left_shoulder" in str(e.value) and "neck" in str(e.value)
    with pytest.raises(WeightsError, match="space=image.*space=world"):
        Refiner.load(path, space="world")
    with pytest.raises(WeightsError, match="K=10.*K=5"):
        Refiner.load(path, k=5)


def test_deciwatch_files_train_and_evaluate_end_to_end(tmp_path):
    """3DPW-layout files (14 LSP joints, metres) built from real CMU motion: the --deciwatch path
    of both commands reads them, trains and scores every baseline."""
    from pipeline.training import evaluate, train as train_cmd
    from pipeline.skeleton import LSP14
    d = np.load(MOTION_DIR / "cmu_mocap.npz")
    names = [str(n) for n in d["joint_names"]]
    cmu = {j: j.replace("left_", "l_").replace("right_", "r_") for j in LSP14.joints}
    cmu.update(neck="upper_neck", head_top="head_top")
    idx = [names.index(cmu[j]) for j in LSP14.joints]
    rng = np.random.default_rng(0)
    obj = lambda xs: np.array(xs + [None], dtype=object)[:-1]
    for split, keys in (("train", ["train/walking/01", "train/jumping/03"]), ("test", ["test/walking/01"])):
        gt = [d[k][::4, idx].astype(np.float32) for k in keys]          # 120 Hz -> 30 Hz
        pred = [g + rng.normal(scale=0.02, size=g.shape).astype(np.float32) for g in gt]
        np.savez(tmp_path / f"pw3d_gt_{split}.npz", imgname=obj([np.arange(len(g)) for g in gt]),
                 joints_3d=obj([g.reshape(len(g), -1) for g in gt]))
        np.savez(tmp_path / f"pw3d_spin_{split}.npz", imgname=obj([np.arange(len(g)) for g in gt]),
                 joints_3d=obj([p.reshape(len(p), -1) for p in pred]))
    out = tmp_path / "pw3d_k5_q2"
    rc = train_cmd.main(["--deciwatch", str(tmp_path), "--dataset", "pw3d", "--estimator", "spin",
                         "--k", "5", "--q", "2", "--dim", "16", "--depth", "1", "--steps", "20",
                         "--batch", "8", "--out", str(out)])
    assert rc == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["skeleton"] == "lsp14" and card["space"] == "world" and card["model"]["pose_dim"] == 42
    seqs, _ = evaluate.deciwatch_test_set(tmp_path, "pw3d", "spin", 5)
    r = Refiner.load(out.with_suffix(".json"))
    res = score(seqs, r, 5, "world", skeleton=LSP14)
    assert res["dense input"]["MPJPE (mm)"] == pytest.approx(
        1000 * np.linalg.norm(seqs[0].dense - seqs[0].gt, axis=-1).mean(), rel=0.2)
    assert set(res) >= {"linear", "cubic", REFINER}


def _h36m_files(tmp_path, rng):
    """Human3.6M-17 files in millimetres with y up, built from real CMU motion."""
    d = np.load(MOTION_DIR / "cmu_mocap.npz")
    names = [str(n) for n in d["joint_names"]]
    cmu = {j: j.replace("left_", "l_").replace("right_", "r_") for j in H36M17.joints}
    cmu.update(pelvis="root", spine="upper_back", thorax="thorax", neck="upper_neck", head="head")
    idx = [names.index(cmu[j]) for j in H36M17.joints]
    obj = lambda xs: np.array(xs + [None], dtype=object)[:-1]
    gt = [1000 * d["test/walking/01"][::4, idx].astype(np.float32)]
    pred = [g + rng.normal(scale=20, size=g.shape).astype(np.float32) for g in gt]
    for kind, xs in (("gt", gt), ("fcn", pred)):
        np.savez(tmp_path / f"h36m_{kind}_test.npz", imgname=obj([np.arange(len(x)) for x in xs]),
                 joints_3d=obj([x.reshape(len(x), -1) for x in xs]))
    return gt[0]


def test_other_skeletons_are_scored_by_the_twelve_joint_models(tmp_path):
    """A user's Human3.6M-17 file (mm, y up) is mapped to the 12 body joints, converted to metres
    and camera axes, and scored; the wrong layout or space gives one clear message."""
    from pipeline.training import evaluate
    gt_mm = _h36m_files(tmp_path, np.random.default_rng(0))
    seqs, note = evaluate.deciwatch_test_set(tmp_path, "h36m", "fcn", 10, BODY12, "world")
    assert "millimetres" in note and "y points up" in note and seqs[0].gt.shape[1:] == (12, 3)
    sh = seqs[0].gt[:, [BODY12.index("left_shoulder"), BODY12.index("right_shoulder")], 1].mean()
    assert sh < 0                                         # shoulders above the hips: y down
    torso = torso_length(seqs[0].gt, BODY12)
    assert np.allclose(torso, torso_length(gt_mm, H36M17) / 1000, rtol=1e-4)
    r = Refiner.load(sorted(WEIGHTS_DIR.glob("world_k10_*.json"))[0])
    res = score(seqs, r, 10, "world")
    assert 10 < res["dense input"]["MPJPE (mm)"] < 60 and np.isfinite(res[REFINER]["MPJPE (mm)"])
    with pytest.raises(ValueError, match="51 values per frame.*14 joints"):
        load_deciwatch(_as_pw3d(tmp_path), "pw3d", "fcn", "test")
    with pytest.raises(ValueError, match="3D poses but the model is for image space"):
        evaluate.deciwatch_test_set(tmp_path, "h36m", "fcn", 10, BODY12, "image")


def _as_pw3d(tmp_path):
    """The same Human3.6M files renamed as 3DPW ones (a user picking the wrong --dataset)."""
    for kind in ("gt", "fcn"):
        (tmp_path / f"pw3d_{kind}_test.npz").write_bytes((tmp_path / f"h36m_{kind}_test.npz").read_bytes())
    return tmp_path


def test_without_an_accepted_model_a_space_is_interpolated_linearly(tmp_path):
    """Only cards their evaluation accepted are picked; without one, the pipeline's refiner for
    that space is plain linear interpolation of the keyframes, and says so."""
    from pipeline.interpolate import interpolate_keyframes
    from pipeline.refiner.runtime import NoAcceptedRefiner, find_weights
    src = WEIGHTS_DIR / "image_k10_q3.json"
    card = json.loads(src.read_text())
    card["evaluation"] = {**card["evaluation"], "accepted": False}
    (tmp_path / "image_k10_q3.json").write_text(json.dumps(card))
    with pytest.raises(NoAcceptedRefiner, match="image-space refiner for K=10; none passed"):
        find_weights("image", 10, folder=tmp_path)
    card["evaluation"]["accepted"] = True
    (tmp_path / "image_k10_q3.json").write_text(json.dumps(card))
    assert find_weights("image", 10, folder=tmp_path).name == "image_k10_q3.pt"
    r = Refiner.linear("image", 10, 3, note="none accepted")
    n = 95
    kf = np.cumsum(np.random.default_rng(2).normal(size=(10, 12, 2)), 0).astype(np.float32) * 15 + 400
    want = interpolate_keyframes(np.arange(0, n, 10), kf, np.arange(n), "linear")
    np.testing.assert_allclose(r.refine_sequence(kf, n), want, atol=1e-3)
    assert r.is_linear and r.card.export["flops_per_window"] == 0
