"""The pipeline's settings as toolbar widgets: K and Q (only combinations that have weights), the
estimator and its mode (mmpose where it is installed, with pickers for its config and
checkpoint), the refiner weights. They emit the config the user asks for and show the one the
worker applied."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QMenu, QToolButton, QWidget

from pipeline.config import AUTO_LATENCY, PipelineConfig
from pipeline.estimators import available_estimators
from pipeline.paths import WEIGHTS_DIR
from pipeline.refiner.runtime import WeightsError, is_accepted, load_card

MODES = ("static", "tracking")
LATENCY_ITEMS = (("auto", "Latency: auto", f"files: {AUTO_LATENCY['file']}; cameras and streams: {AUTO_LATENCY['live']}"),
                 ("window", "Latency: window", "K·Q frames: each frame from every refiner window over it"),
                 ("keyframe", "Latency: keyframe", "at most K frames: final when the next keyframe is estimated"),
                 ("zero", "Latency: zero", "each frame's pose predicted from past keyframes as it arrives"))


INTERPOLATED_K = (5, 10, 20)     # always offered: a K without an accepted refiner is interpolated


def shipped_weights(folder: Path = WEIGHTS_DIR) -> dict[tuple[int, int | None], Path | None]:
    """(K, Q) -> card of every accepted window-latency refiner (either space) in `folder` whose
    weights file is there; (K, None) -> None for the usual K values that have none (linear
    interpolation). Keyframe- and zero-latency models are chosen by the latency mode instead."""
    out: dict[tuple[int, int | None], Path | None] = {}
    for card_path in sorted(folder.glob("*.json")):
        try:
            card = load_card(card_path)
        except WeightsError:
            continue
        if is_accepted(card) and card.config.latency == "window" and card_path.with_suffix(".pt").exists():
            out[(card.config.k, card.config.q)] = card_path     # keyframe / zero models: by the latency mode
    for k in INTERPOLATED_K:
        if not any(kk == k for kk, _ in out):
            out[(k, None)] = None
    return out


def find_data(box: QComboBox, value: object) -> int:
    """The index of the item whose data equals `value`, or -1. (QComboBox.findData compares
    Python objects such as tuples by identity, so an equal tuple made elsewhere is not found.)"""
    return next((i for i in range(box.count()) if box.itemData(i) == value), -1)


class PipelineControls(QWidget):
    changed = Signal(object)        # PipelineConfig the user asks for

    def __init__(self, weights_dir: Path = WEIGHTS_DIR, parent: QWidget | None = None):
        super().__init__(parent)
        self.weights_dir = weights_dir
        self.catalogue: dict[tuple[int, int], Path] = {}
        self._custom: tuple[Path | None, Path | None] = (None, None)    # image, world weights
        self.k_box, self.q_box, self.estimator_box = QComboBox(), QComboBox(), QComboBox()
        self.k_box.setToolTip("K: the estimator runs on one frame in K (only K with weights are offered)")
        self.q_box.setToolTip("Q: keyframe intervals per refiner window (more: smoother, more latency); "
                              "auto: that of the models the latency mode runs, or none where it interpolates")
        self._pose: tuple[str | None, Path | None] = (None, None)      # mmpose config, checkpoint
        for name in available_estimators():
            if name == "mmpose":          # top-down: a person box on each keyframe, no modes
                self.estimator_box.addItem("mmpose (top-down)", (name, "static"))
                continue
            for mode in MODES:
                self.estimator_box.addItem(f"{name} · {mode}", (name, mode))
        self.estimator_box.setToolTip("Pose estimator run on keyframes, and its mode (docs/estimator_mode.md)")
        self.latency_box = QComboBox()
        for value, text, tip in LATENCY_ITEMS:
            self.latency_box.addItem(text, value)
            self.latency_box.setItemData(self.latency_box.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.latency_box.setToolTip("How long after its frame a pose is shown: window (the most accurate), "
                                    "keyframe (at most K frames late), zero (each frame's pose predicted "
                                    "from past keyframes as it arrives; docs/refiner.md)")
        self.model_button = QToolButton()
        self.model_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        model_menu = QMenu(self.model_button)
        self.config_action = QAction("Choose mmpose config…", self)
        self.config_action.triggered.connect(self.choose_pose_config)
        self.checkpoint_action = QAction("Choose mmpose checkpoint…", self)
        self.checkpoint_action.triggered.connect(self.choose_pose_checkpoint)
        model_menu.addActions([self.config_action, self.checkpoint_action])
        self.model_button.setMenu(model_menu)
        self.weights_button = QToolButton()
        self.weights_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.weights_button)
        self.shipped_action = QAction("Shipped weights for K and Q", self)
        self.shipped_action.triggered.connect(self.use_shipped)
        choose = QAction("Choose weights file…", self)
        choose.triggered.connect(self.choose_weights)
        menu.addActions([self.shipped_action, choose])
        self.weights_button.setMenu(menu)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        for label, w in (("K", self.k_box), ("Q", self.q_box), ("", self.estimator_box),
                         ("", self.latency_box)):
            if label:
                layout.addWidget(QLabel(label))
            layout.addWidget(w)
        layout.addWidget(self.model_button)
        layout.addWidget(self.weights_button)
        self.refresh_catalogue()
        self.k_box.activated.connect(self._k_chosen)
        self.q_box.activated.connect(self._emit)
        self.estimator_box.activated.connect(self._estimator_chosen)
        self.latency_box.activated.connect(self._emit)
        self._show_weights(None)
        self._show_model()

    # -- what the user asks for ------------------------------------------------------------------
    def config(self) -> PipelineConfig:
        name, mode = self.estimator_box.currentData()
        image, world = self._custom
        pose_config, pose_checkpoint = self._pose if name == "mmpose" else (None, None)
        return PipelineConfig(k=self.k_box.currentData() or 10, q=self.q_box.currentData(),
                              estimator=name, keyframe_mode=mode, pose_config=pose_config,
                              pose_checkpoint=pose_checkpoint, weights=image, world_weights=world,
                              latency=self.latency_box.currentData() or "auto")

    def use_pose_model(self, config: str | Path | None, checkpoint: str | Path | None) -> None:
        """Ask for mmpose with this config (file, or model name / alias) and checkpoint; the
        worker checks them."""
        self._pose = (str(config) if config else None, Path(checkpoint) if checkpoint else None)
        self._select(self.estimator_box, ("mmpose", "static"))
        self._show_model()
        self._emit()

    def choose_pose_config(self) -> bool:
        current = self._pose[0]
        path, _ = QFileDialog.getOpenFileName(self, "mmpose config", str(Path(current).parent) if current else "",
                                              "mmpose configs (*.py);;All files (*)")
        if path:
            self._pose = (path, self._pose[1])
        return bool(path)

    def choose_pose_checkpoint(self) -> bool:
        current = self._pose[1]
        path, _ = QFileDialog.getOpenFileName(self, "mmpose checkpoint", str(current.parent) if current else "",
                                              "Checkpoints (*.pth *.pt *.ckpt);;All files (*)")
        if path:
            self._pose = (self._pose[0], Path(path))
            self._show_model()
            self._emit()
        return bool(path)

    def _estimator_chosen(self) -> None:
        """mmpose without a config or checkpoint yet: ask for them first."""
        if self.estimator_box.currentData()[0] == "mmpose":
            if self._pose[0] is None:
                self.choose_pose_config()
            if self._pose[1] is None:
                self.choose_pose_checkpoint()
                return                                   # it emitted, if chosen
        self._show_model()
        self._emit()

    def use_weights(self, path: str | Path) -> None:
        """Ask for a weights file (a card or its .pt); the worker checks it against the card."""
        self._custom = (Path(path), None)
        self._emit()

    def use_shipped(self) -> None:
        self._custom = (None, None)
        self.refresh_catalogue()
        self._emit()

    def choose_weights(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Refiner weights", str(self.weights_dir),
                                              "Refiner weights (*.json *.pt)")
        if path:
            self.use_weights(path)

    def _k_chosen(self) -> None:
        self._fill_q(self.k_box.currentData(), None)
        self._emit()

    def _emit(self) -> None:
        self.changed.emit(self.config())

    # -- what is applied -------------------------------------------------------------------------
    def refresh_catalogue(self) -> None:
        self.catalogue = shipped_weights(self.weights_dir)
        k, q = self.k_box.currentData(), self.q_box.currentData()
        self.k_box.clear()
        for kk in sorted({kk for kk, _ in self.catalogue}):
            self.k_box.addItem(str(kk), kk)
        self._select(self.k_box, k)
        self._fill_q(self.k_box.currentData(), q)

    def show_config(self, cfg: PipelineConfig, description: str) -> None:
        """Reflect the settings the worker applied (K, Q of custom weights come from their card)."""
        self._custom = (cfg.weights, cfg.world_weights)
        custom = cfg.weights is not None or cfg.world_weights is not None
        if not custom:
            self.refresh_catalogue()
        self._select(self.k_box, cfg.k, add=custom)
        self._fill_q(cfg.k, cfg.q, add=custom)
        self._select(self.estimator_box, (cfg.estimator, cfg.keyframe_mode))
        self._select(self.latency_box, cfg.latency)
        if cfg.pose_config or cfg.pose_checkpoint:      # remembered while another is chosen
            self._pose = (cfg.pose_config, cfg.pose_checkpoint)
        self._show_model()
        for box in (self.k_box, self.q_box):
            box.setEnabled(not custom)
        self._show_weights(description)

    def _fill_q(self, k: int | None, q: int | None, add: bool = False) -> None:
        self.q_box.clear()
        for qq in sorted((qq for kk, qq in self.catalogue if kk == k), key=lambda v: v or 0):
            self.q_box.addItem("auto" if qq is None else str(qq), qq)   # auto: the Q of the mode's models
        self._select(self.q_box, q, add=add)

    @staticmethod
    def _select(box: QComboBox, value: object, add: bool = False) -> None:
        i = find_data(box, value)
        if i < 0 and add and value is not None:
            box.addItem(str(value), value)
            i = box.count() - 1
        if i >= 0:
            box.setCurrentIndex(i)

    def _show_model(self) -> None:
        """The mmpose model button: shown while mmpose is chosen, naming its config."""
        mmpose = (self.estimator_box.currentData() or ("", ""))[0] == "mmpose"
        self.model_button.setVisible(mmpose)
        config, checkpoint = self._pose
        self.model_button.setText(f"Model: {Path(config).stem}" if config else "Model: choose…")
        self.model_button.setToolTip(f"mmpose config: {config or 'none'}\ncheckpoint: {checkpoint or 'none'}")

    def _show_weights(self, description: str | None) -> None:
        image, world = self._custom
        custom = image or world
        self.weights_button.setText(f"Weights: {custom.stem}" if custom else "Weights: shipped")
        self.weights_button.setToolTip(description or "refiner weights")
        self.shipped_action.setEnabled(custom is not None)

