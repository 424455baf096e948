"""The app in a real X window (Xvfb), started as a user would: `python run_app.py VIDEO`.

Set KEYFRAME_POSE_SCREENSHOT=1 to also refresh docs/screenshot.png from this run."""
import os
import select
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from pipeline.paths import ASSETS_DIR, REPO_ROOT

XVFB = shutil.which("Xvfb")
pytestmark = pytest.mark.skipif(XVFB is None, reason="Xvfb is not installed (.ci/run installs it "
                                                     "with apt-get install xvfb)")


@pytest.fixture
def display():
    """A fresh X server on a free display number (Xvfb picks it and writes it to a pipe)."""
    read, write = os.pipe()
    server = subprocess.Popen([XVFB, "-displayfd", str(write), "-screen", "0", "1600x1000x24",
                               "-nolisten", "tcp"], pass_fds=(write,),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    number = b""
    while not number.endswith(b"\n"):
        if not select.select([read], [], [], 20)[0]:
            server.kill()
            pytest.fail("Xvfb did not start within 20 s")
        number += os.read(read, 16)
    os.close(read)
    yield f":{number.decode().strip()}"
    server.terminate()
    server.wait(10)


def test_real_window_plays_the_demo_with_an_overlay_and_saves_a_screenshot(display, tmp_path):
    shot = tmp_path / "screenshot.png"
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb",
           "XDG_CONFIG_HOME": str(tmp_path / "config")}           # not the user's settings
    proc = subprocess.run([sys.executable, "run_app.py", str(ASSETS_DIR / "demo.mp4"),
                           "--screenshot", str(shot), "--screenshot-frame", "125",
                           "-geometry", "1500x950+0+0"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"screenshot {shot} (1500x950)" in proc.stdout
    image = cv2.imread(str(shot))
    assert image is not None and image.shape == (950, 1500, 3)       # the window's size
    assert image.std() > 20 and len(np.unique(image.reshape(-1, 3), axis=0)) > 5000   # not blank
    video = image[120:600, 0:1000].astype(int)                       # inside the video view
    amber, blue = np.array([0x00, 0xB3, 0xFF]), np.array([0xF7, 0xC3, 0x4F])          # BGR
    overlay = sum((np.abs(video - c).sum(-1) < 40).sum() for c in (amber, blue))
    assert overlay > 300, "no skeleton drawn over the video"
    assert (tmp_path / "config" / "keyframe-pose" / "keyframe-pose.conf").exists()
    if os.environ.get("KEYFRAME_POSE_SCREENSHOT"):
        shutil.copy(shot, REPO_ROOT / "docs" / "screenshot.png")
