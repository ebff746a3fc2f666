"""The learned answer selector: scores answer candidates (:mod:`rag.answering.features`) with the shipped model and
says how likely the best one answers the question.

The model is a JSON file in the package (``rag/answering/model/answer_selector.json``, written by
:mod:`rag.answering.train`, described in ``rag/answering/model/MODEL_CARD.md``; never a pickle): two linear models
over the same standardised features (``mean``, ``scale``): the ranker (``rank_coef``, a listwise conditional logit)
orders a question's candidates, and the answerer (``answer_coef``, ``answer_intercept``, a logistic regression)
gives each an absolute logit. The calibration (``calibration``: a logistic regression over the logit and the two e5
similarities of :mod:`rag.answering.verifier`, standardised by its own ``mean`` and ``scale``; fitted on the
out-of-fold answerer logits of each training question's best candidate) turns them into the probability that the
candidate answers the question. ``threshold`` is the refusal point chosen on the training sets' risk-coverage
curves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from rag.answering.features import FEATURES, Candidate

FORMAT = "newsqa-answer-selector"
VERSION = 3
#: The calibration's inputs, in order: the answerer's logit, then :class:`rag.answering.verifier.Similarity`'s two.
CALIBRATION_INPUTS = ("logit", "sim_sentence", "sim_context")


@dataclass(frozen=True)
class SelectorModel:
    """A loaded model file (see the module docstring); arrays are over :data:`FEATURES`."""

    mean: np.ndarray
    scale: np.ndarray
    rank_coef: np.ndarray
    coef: np.ndarray
    intercept: float
    calibration: np.ndarray  # (3, 3): mean, scale and coefficients over CALIBRATION_INPUTS
    calibration_intercept: float
    threshold: float

    def logits(self, x: np.ndarray) -> np.ndarray:
        """The answerer's logits of a (candidates, features) matrix (comparable across questions)."""
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def probability(self, logit: float, sims: np.ndarray | None = None) -> float:
        """Calibrated probability (0..1) that a question's best candidate answers it, from its answerer ``logit``
        and its two e5 similarities ``sims`` (shape ``(2,)``, :class:`rag.answering.verifier.Similarity`); None
        reads their training means in their place, which leaves the logit alone to decide."""
        mean, scale, coef = self.calibration
        z = (np.array([logit, *(mean[1:] if sims is None else sims)]) - mean) / scale
        return float(1.0 / (1.0 + np.exp(-(z @ coef + self.calibration_intercept))))

    def rank(self, cands: list[Candidate]) -> list[Candidate]:
        """``cands`` best first by the ranker, each with ``score`` set to its answerer logit (so a later candidate
        may score higher than an earlier one)."""
        if not cands:
            return []
        x = np.vstack([c.x for c in cands])
        for cand, logit in zip(cands, self.logits(x), strict=True):
            cand.score = float(logit)
        order = np.argsort(-(((x - self.mean) / self.scale) @ self.rank_coef), kind="stable")  # within one question
        return [cands[i] for i in order]


def parse_model(data: dict[str, object], source: str = "model") -> SelectorModel:
    """A :class:`SelectorModel` from a model file's JSON object; ValueError naming ``source`` when its format,
    version or feature list is not this code's."""
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ValueError(f"{source}: not a {FORMAT} v{VERSION} file")
    if list(data.get("features", [])) != list(FEATURES):  # type: ignore[call-overload]
        raise ValueError(f"{source}: its features differ from rag.answering.features.FEATURES; retrain (make train)")
    model, calibration = data["model"], data["calibration"]
    assert isinstance(model, dict) and isinstance(calibration, dict)
    arrays = {k: np.asarray(model[k], dtype=np.float64) for k in ("mean", "scale", "rank_coef", "answer_coef")}
    if any(a.shape != (len(FEATURES),) for a in arrays.values()):
        raise ValueError(f"{source}: mean, scale, rank_coef and answer_coef must have {len(FEATURES)} entries")
    calib = np.asarray([calibration[k] for k in ("mean", "scale", "coef")], dtype=np.float64)
    if list(calibration.get("inputs", [])) != list(CALIBRATION_INPUTS) or calib.shape != (3, 3):
        raise ValueError(f"{source}: the calibration must read {list(CALIBRATION_INPUTS)}")
    return SelectorModel(arrays["mean"], arrays["scale"], arrays["rank_coef"], arrays["answer_coef"],
                         float(model["answer_intercept"]), calib, float(calibration["intercept"]),
                         float(data["threshold"]))  # type: ignore[arg-type]


def model_path() -> Path:
    """Where the shipped model file is."""
    return Path(str(resources.files("rag.answering") / "model" / "answer_selector.json"))


@lru_cache(maxsize=4)
def load_model(path: str | None = None) -> SelectorModel:
    """The model file at ``path`` (default: the shipped one), parsed once per process."""
    file = Path(path) if path else model_path()
    return parse_model(json.loads(file.read_text(encoding="utf-8")), str(file))
