"""The batched PDQ (matrix gathers over many crops and frames) against pdqhash itself, on real footage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from provenance._errors import FingerprintError
from provenance.engine import _Sampled
from provenance.fingerprint.pdq import PDQ, PDQParams
from provenance.fingerprint.pdqbatch import pdq_crops
from provenance.fingerprint.regions import Box, region_boxes

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sample" / "dataset"


def _frames(rel: str, n: int = 12) -> list[np.ndarray]:
    return [im for _, im, _ in _Sampled(SAMPLE / rel, 2.0, 640)][:n]


@pytest.mark.parametrize("rel", ["clean/bikes.mp4", "gameplay/freedoom_e1m2_new.mp4", "retro/breakout_pip.mp4"])
@pytest.mark.parametrize("max_side", [256, None])
def test_same_bits_and_quality_as_pdqhash(rel: str, max_side: int | None) -> None:
    frames = _frames(rel)
    h, w = frames[0].shape
    boxes = [*region_boxes(h, w).values(), Box(3, 5, w - 7, h - 2), Box(10, 10, 74, 74)]  # odd sizes, 64x64
    specs = [(b, False) for b in boxes] + [(b, True) for b in boxes]
    hashes, quality = pdq_crops(frames, specs, max_side)
    assert hashes.shape == (len(frames), len(specs), 32) and quality.shape == (len(frames), len(specs))
    pdq = PDQ(PDQParams(max_side=max_side))
    crops = [np.ascontiguousarray(b.crop(f)[:, ::-1] if m else b.crop(f)) for f in frames for b, m in specs]
    want, want_q = pdq.compute_with_quality(crops)
    distance = np.unpackbits(want.reshape(hashes.shape) ^ hashes, axis=2).sum(axis=2)
    # float rounding may flip a coefficient sitting on the median; none did on these frames
    assert distance.max() <= 2 and distance.mean() < 0.05
    assert np.abs(want_q.reshape(quality.shape) - quality).max() <= 1


def test_a_mirrored_crop_differs_from_the_crop() -> None:
    frames = _frames("clean/bikes.mp4", 4)
    h, w = frames[0].shape
    box = Box(0, 0, w, h)
    hashes, _ = pdq_crops(frames, [(box, False), (box, True)])
    assert np.unpackbits(hashes[:, 0] ^ hashes[:, 1], axis=1).sum(axis=1).min() > 64


def test_bad_input_is_refused() -> None:
    frames = _frames("clean/bikes.mp4", 2)
    h, w = frames[0].shape
    with pytest.raises(FingerprintError, match="exceeds the frame"):
        pdq_crops(frames, [(Box(0, 0, w + 1, h), False)])
    with pytest.raises(FingerprintError, match="expected grey"):
        pdq_crops([frames[0], frames[1][:, :-2]], [(Box(0, 0, 8, 8), False)])
    empty_h, empty_q = pdq_crops([], [(Box(0, 0, 8, 8), False)])
    assert empty_h.shape == (0, 1, 32) and empty_q.shape == (0, 1)
