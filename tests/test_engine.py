"""The engine's own pieces: reference fingerprints survive storage, parameters are checked, matching a
clip against a small index of the bundled sample's real footage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from provenance.engine import EngineParams, FootagePrint, ReferenceIndex, fingerprint_footage, match_clip
from provenance.engine.results import ReferenceMatch
from provenance.errors import ConfigError

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sample"
PONG = SAMPLE / "registry" / "footage" / "pixelworks-pong-attract.mp4"
BREAKOUT = SAMPLE / "registry" / "footage" / "pixelworks-breakout-attract.mp4"
DOOM = SAMPLE / "registry" / "footage" / "freedoom-e1m1-playthrough.mp4"


@pytest.fixture(scope="module")
def prints() -> dict[str, FootagePrint]:
    return {"pong": fingerprint_footage(PONG), "breakout": fingerprint_footage(BREAKOUT)}


def test_footage_print_round_trips_through_its_payload(prints: dict[str, FootagePrint]) -> None:
    fp = prints["pong"]
    back = FootagePrint.from_payload(*fp.to_payload())
    assert np.array_equal(back.timestamps, fp.timestamps)
    assert np.array_equal(back.hashes, fp.hashes)
    assert back.quality.shape == fp.hashes.shape[:2]  # quality per frame and region
    assert np.array_equal(back.quality, fp.quality)
    assert np.array_equal(back.local_times, fp.local_times)
    assert len(back.local_features) == len(fp.local_features)
    for a, b in zip(back.local_features, fp.local_features, strict=True):
        assert np.array_equal(a.descriptors, b.descriptors) and np.array_equal(a.keypoints, b.keypoints)
    assert back.duration_s == pytest.approx(fp.duration_s)
    # 15 fps references: 12 s of footage gives about 180 sampled frames
    assert 170 <= len(fp.timestamps) <= 181


def test_an_index_built_from_stored_prints_holds_their_blobs_once(prints: dict[str, FootagePrint]) -> None:
    """A print read from its blobs views them (hashes, quality, descriptors, keypoints), and the index built from it
    keeps those views: its feature bank's descriptors are the stored blob's bytes, not a second copy (an index write
    held every descriptor twice: the payload and the prints made from it). The matches are the same as from the print
    itself."""
    fp = prints["pong"]
    ts, data, quality = fp.to_payload()
    back = FootagePrint.from_payload(ts, data, quality)
    assert np.shares_memory(back.hashes, np.frombuffer(data, np.uint8))
    assert np.shares_memory(back.quality, np.frombuffer(quality, np.uint8))
    assert all(np.shares_memory(f.descriptors, np.frombuffer(data, np.uint8)) for f in back.local_features)
    assert all(np.shares_memory(f.keypoints, np.frombuffer(data, np.uint8)) for f in back.local_features)
    built = ReferenceIndex(EngineParams())
    built.add_footage("pong", "game", back)
    assert all(np.shares_memory(f.descriptors, np.frombuffer(data, np.uint8)) for f in built.prints[0].local_features)
    fresh = ReferenceIndex(EngineParams())
    fresh.add_footage("pong", "game", fp)
    clip = SAMPLE / "dataset" / "retro" / "pong_fast_gamma.mp4"
    a, b = match_clip(clip, built), match_clip(clip, fresh)
    assert a.footage and a.footage == b.footage


def test_corrupt_payload_is_refused(prints: dict[str, FootagePrint]) -> None:
    ts, data, quality = prints["pong"].to_payload()
    with pytest.raises(ConfigError, match="quality"):
        FootagePrint.from_payload(ts, data, quality[:-8])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("query_fps", 0.0),
        ("ref_fps", 100.0),
        ("region_max_distance", 40),
        ("distance_margin", -1),
        ("coverage", 0.2),
        ("asset_max_chroma", 300.0),
        ("local_ref_fps", 30.0),
    ],
)
def test_bad_parameters_name_the_field(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=field):
        EngineParams(**{field: value})


def test_sped_up_brightened_copy_is_found_in_its_own_reference_only(prints: dict[str, FootagePrint]) -> None:
    # Pong at 1.5x speed with gamma 0.6: a near-featureless screen whose walls match everywhere;
    # the copy must be placed on Pong's timeline with its speed, and Breakout must stay out.
    index = ReferenceIndex()
    index.add_footage("pong", "game", prints["pong"])
    index.add_footage("breakout", "game", prints["breakout"])
    result = match_clip(SAMPLE / "dataset" / "retro" / "pong_fast_gamma.mp4", index)
    assert [m.key for m in result.footage] == ["pong"]
    seg = max(result.footage[0].segments, key=lambda s: s.query_frames)
    assert seg.speed == pytest.approx(1.5, abs=0.15)
    # truth: clip [0, 6] s shows the reference from 1 s on at 1.5x
    assert seg.ref_start - 1.5 * seg.query_start == pytest.approx(1.0, abs=0.5)


def _filmed(backdrop: list[np.ndarray], i: int) -> np.ndarray:
    """Frame ``i`` of a filmed clip (looped) at 640 x 360."""
    import cv2

    return np.ascontiguousarray(cv2.resize(backdrop[i % len(backdrop)], (640, 360)))


def _pip(frames: list[np.ndarray], backdrop: list[np.ndarray], i: int) -> np.ndarray:
    """Reference frame ``i`` at 45 % in a corner of filmed frame ``i``: a picture-in-picture at (330, 180)."""
    import cv2

    canvas = _filmed(backdrop, i)
    canvas[180:342, 330:618] = cv2.resize(frames[i], (288, 162), interpolation=cv2.INTER_AREA)
    return canvas


def test_a_found_picture_in_picture_is_tracked_into_the_next_frames(
    doom_index: ReferenceIndex, doom_frames: tuple[list[float], list[np.ndarray]]
) -> None:
    """Local matches carried to a neighbouring frame (localpass._track_frame) are confirmed by the warped picture's
    hash at a time the clip's time apart allows; a frame that no longer shows them, or shows another moment of
    the reference, is left to the feature search."""

    from provenance.engine import localpass
    from provenance.engine.fingerprint.regions import Box, trim
    from provenance.engine.params import local_params
    from provenance.engine.sampling import decode_all
    from provenance.engine.votes import Votes

    index = doom_index
    times, frames = doom_frames
    _, backdrop, _ = decode_all(SAMPLE / "dataset" / "clean" / "bikes.mp4", 2.0, 640)

    def filmed(i: int) -> np.ndarray:
        return _filmed(backdrop, i)

    def pip(i: int) -> np.ndarray:
        return _pip(frames, backdrop, i)

    votes = Votes()
    hits = localpass._local_frame(index, local_params(index.params), times[6], trim(pip(6), Box(0, 0, 640, 360)), votes)
    assert hits and all(h.ref == 0 for h in hits)
    tracked = localpass._track_frame(index, times[7], pip(7), votes, hits)
    assert tracked, "the next frame of the same inset is confirmed without a search"
    assert all(abs(h.r_t - times[7]) <= 0.2 for h in tracked)
    assert set(votes.method) >= {"orb-track"} and votes.local_tried == 2
    assert localpass._track_frame(index, times[8], filmed(8), votes, hits) == ()  # the inset is gone
    far = min(len(frames) - 1, 6 + 16)  # 8 s later in the reference: outside what 0.5 s of clip allows
    assert localpass._track_frame(index, times[7], pip(far), votes, hits) == ()


def test_a_frame_searched_whole_and_in_its_panel_is_one_frame_tried(doom_index: ReferenceIndex) -> None:
    """The local pass counts the frames it tried (``Votes.local_tried``): the share of them a reference matches is
    what reports a still screen without a time line (decide's static matches). A frame whose whole search finds
    nothing is searched again in the window's panel (a stream's game box); that is still one frame, else a stream
    over a still game matched in every frame's game box counted as matched in half of them, and was dropped."""
    import cv2

    from provenance.engine import localpass
    from provenance.engine.fingerprint.regions import Box
    from provenance.engine.sampling import decode_all
    from provenance.engine.votes import Votes

    index = doom_index
    times, backdrop, _ = decode_all(SAMPLE / "dataset" / "clean" / "bikes.mp4", 2.0, 640)
    images = [np.ascontiguousarray(cv2.resize(b, (640, 360))) for b in backdrop[:9]]
    panel = Box(320, 40, 600, 320)  # nothing registered in it either
    searched: list[Box | None] = []
    real = localpass._local_frame

    def counted(*args: object, **kw: object) -> object:
        searched.append(args[6] if len(args) > 6 else kw.get("panel"))  # type: ignore[arg-type]
        return real(*args, **kw)  # type: ignore[arg-type]

    votes = Votes()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(localpass, "_local_frame", counted)
        localpass.local_pass(index, times[:9], images, Box(0, 0, 640, 360), votes, set(), (panel,))
    wholes = sum(p is None for p in searched)
    assert wholes >= 2 and sum(p == panel for p in searched) == wholes  # each frame: whole, then its panel
    assert votes.local_tried == wholes


@pytest.fixture(scope="module")
def doom_index() -> ReferenceIndex:
    """The Doom footage alone, indexed once for the module's tests (they only search it)."""
    index = ReferenceIndex()
    index.add_footage("freedoom", "game", fingerprint_footage(DOOM))
    return index


@pytest.fixture(scope="module")
def doom_frames() -> tuple[list[float], list[np.ndarray]]:
    """The Doom footage's frames at 2 fps, 640 pixels wide, and their times (the tests read them, never write)."""
    from provenance.engine.sampling import decode_all

    times, frames, _ = decode_all(DOOM, 2.0, 640)
    return times, frames


def _edited_cut(tmp_path: Path, index: ReferenceIndex, vf: str, speed: float) -> ReferenceMatch:
    """Seconds 4-12 of the Doom footage under FFmpeg's filter ``vf``, matched against ``index``: the one match found,
    asserted to be one segment of about ``speed`` over the whole clip and seconds 4-12 of the reference."""
    import subprocess

    clip = tmp_path / "edited.mp4"
    cut = ["-ss", "4", "-t", "8", "-i", str(DOOM), "-vf", vf, "-an", str(clip)]
    subprocess.run(["ffmpeg", "-v", "error", "-y", *cut], check=True)
    (found,) = match_clip(clip, index).footage
    (seg,) = found.segments
    assert seg.speed == pytest.approx(speed, abs=0.05)
    assert seg.query_start <= 0.5 and seg.query_end >= 7.5
    assert abs(seg.ref_start - 4.0) <= 0.6 and abs(seg.ref_end - 12.0) <= 0.6
    return found


def test_a_copy_played_backwards_is_found_with_a_negative_speed(tmp_path: Path, doom_index: ReferenceIndex) -> None:
    """Real footage reversed (FFmpeg's ``reverse``): the same frames, found by their hashes, in the opposite
    order; aligned backwards, the copy is one segment of speed about -1 over the reference's span (the clip's start
    shows its end)."""
    _edited_cut(tmp_path, doom_index, "reverse", -1.0)


@pytest.mark.parametrize(
    ("crop", "size"),
    [("iw/2:ih/2", "640:360"), ("iw/2:ih/2:0:0", "640:360"), ("iw/2:ih/2:iw/2:ih/2", "854:480")],
    ids=["centre-zoom-2x", "top-left-quarter", "bottom-right-quarter"],
)
def test_a_copy_zoomed_into_a_quarter_of_the_picture_is_found(
    tmp_path: Path, doom_index: ReferenceIndex, crop: str, size: str
) -> None:
    """Real footage cut to its centre quarter (a 2x zoom) or to a corner quarter and scaled back up: the clip's
    whole frame is the reference's centre 50 % or quadrant, whose region hashes the reference keeps; matched against
    them, the copy is one segment over the right span (before, only the reference's centre 70 % and 90 % were
    compared with a clip's whole frame, and these copies were not found at all)."""
    found = _edited_cut(tmp_path, doom_index, f"crop={crop},scale={size}", 1.0)
    assert found.methods.get("pdq-region", 0) >= 8


def test_a_negative_copy_is_found_by_its_complemented_hashes(tmp_path: Path, doom_index: ReferenceIndex) -> None:
    """Real footage inverted (FFmpeg's ``negate``: every grey level ``255 - v``): its whole-frame hashes are the
    complements of the reference's (within a re-encode's distance), its ORB descriptors complemented too, so it was
    found by nothing; looked up complemented, it is one segment over the right span, by the ``pdq-invert`` method
    (not reported as a mirror image)."""
    found = _edited_cut(tmp_path, doom_index, "negate", 1.0)
    assert found.methods.get("pdq-invert", 0) >= 8 and not found.mirrored


def _split_screen(left: Path, right: Path, frames: int) -> tuple[ReferenceIndex, list[float], list[np.ndarray]]:
    """An index of both references and ``frames`` clip frames showing them side by side, each at 320 x 180."""
    import cv2

    from provenance.engine.sampling import decode_all

    index = ReferenceIndex()
    index.add_footage("left", "game", fingerprint_footage(left))
    index.add_footage("right", "game", fingerprint_footage(right))
    times, a, _ = decode_all(left, 2.0, 640)
    _, b, _ = decode_all(right, 2.0, 640)

    def half(x: np.ndarray) -> np.ndarray:
        return np.asarray(cv2.resize(x, (320, 180), interpolation=cv2.INTER_AREA))

    pairs = zip(a[:frames], b[:frames], strict=True)
    return index, times[:frames], [np.ascontiguousarray(np.hstack([half(x), half(y)])) for x, y in pairs]


def test_two_works_side_by_side_are_both_found() -> None:
    """A split screen: the frame's strongest keypoints vote for one picture, and the strip beside what the search
    found is searched on its own (localpass._rest), so the other picture is found too; without that search (the
    engine before) only one of the two was."""
    from provenance.engine import localpass
    from provenance.engine.fingerprint.regions import Box
    from provenance.engine.votes import Votes

    corridor = SAMPLE / "registry" / "footage" / "corridor-of-doom-showcase.mp4"
    for left, right in ((DOOM, corridor), (corridor, DOOM)):
        index, times, images = _split_screen(left, right, 12)
        found: list[set[str]] = []
        for tries in (0, localpass._REST_TRIES):
            votes = Votes()
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(localpass, "_REST_TRIES", tries)
                localpass.local_pass(index, times, images, Box(0, 0, 640, 180), votes, set(), ())
            found.append({index.refs[r].key for r in votes.ref})
        alone, beside = found
        assert beside == {"left", "right"}, f"{left.name} | {right.name}: found {beside}"
        assert len(alone) == 1  # the whole frame's search finds one of them


def test_searches_beside_a_found_inset_stop_when_they_find_nothing(
    doom_index: ReferenceIndex, doom_frames: tuple[list[float], list[np.ndarray]]
) -> None:
    """What a layout shows beside its picture (the footage around an inset) stays: after ``_REST_TRIES`` searches
    beside the found picture that find nothing, a window has no more of them."""

    from provenance.engine import localpass
    from provenance.engine.fingerprint.regions import Box
    from provenance.engine.sampling import decode_all
    from provenance.engine.votes import Votes

    index = doom_index
    times, frames = doom_frames
    _, backdrop, _ = decode_all(SAMPLE / "dataset" / "clean" / "bikes.mp4", 2.0, 640)

    images = [_pip(frames, backdrop, i) for i in range(20)]
    beside: list[Box] = []
    real = localpass._local_frame

    def counted(*args: object, **kw: object) -> object:
        panel = args[6] if len(args) > 6 else kw.get("panel")
        found = real(*args, **kw)  # type: ignore[arg-type]
        if panel is not None:
            beside.append(panel)  # type: ignore[arg-type]
            assert found == ()  # the filmed footage around the inset holds nothing registered
        return found

    votes = Votes()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(localpass, "_local_frame", counted)
        localpass.local_pass(index, times[:20], images, Box(0, 0, 640, 360), votes, set(), ())
    assert set(votes.ref) == {0}
    assert len(beside) == localpass._REST_TRIES  # then no more, though every searched frame found the inset
    assert all(b.x1 <= 330 or b.y1 <= 180 for b in beside)  # beside the inset, not over it


def _spied_local_pass(
    index: ReferenceIndex, times: list[float], images: list[np.ndarray], votes: object
) -> tuple[list[float], list[float]]:
    """``local_pass`` over ``images``: the clip times of the frames searched in the feature bank, and of those
    tracked from a neighbour's matches."""
    from provenance.engine import localpass
    from provenance.engine.fingerprint.regions import Box

    searched: list[float] = []
    tracked: list[float] = []
    search, track = localpass._local_frame, localpass._track_frame

    def searching(*args: object, **kw: object) -> object:
        searched.append(args[2])  # type: ignore[arg-type]
        return search(*args, **kw)  # type: ignore[arg-type]

    def tracking(*args: object, **kw: object) -> object:
        tracked.append(args[1])  # type: ignore[arg-type]
        return track(*args, **kw)  # type: ignore[arg-type]

    h, w = images[0].shape[:2]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(localpass, "_local_frame", searching)
        mp.setattr(localpass, "_track_frame", tracking)
        localpass.local_pass(index, times, images, Box(0, 0, w, h), votes, set(), ())  # type: ignore[arg-type]
    return searched, tracked


def test_matches_no_hash_vouches_for_are_not_searched_around_until_one_does(doom_index: ReferenceIndex) -> None:
    """New gameplay of a registered game matches its footage in every frame by what they all share (Freedoom's
    status bar and walls: E1M2 played anew against the E1M1 playthrough, 100-200 inliers), and the hash of every
    warped picture says it is another picture. Such matches can carry no segment unless some vote of the same
    reference does (decide), so the frames around them are only tracked from them, not searched, until one does:
    here only the probes are searched. The same frames with a whole-picture hash match of the reference voted
    before (a static game's playfield: new Boxing gameplay is found so) are all searched."""
    from provenance.engine.sampling import decode_all
    from provenance.engine.votes import Votes

    times, frames, _ = decode_all(SAMPLE / "dataset" / "gameplay" / "freedoom_e1m2_new.mp4", 2.0, 640)
    assert len(frames) >= 12
    params = doom_index.params
    assert params.local_query_fps == params.query_fps  # every frame a candidate: the probes every `spacing`th
    spacing = round(params.local_query_fps / params.local_probe_fps)
    probes = list(times[::spacing])

    votes = Votes()
    searched, tracked = _spied_local_pass(doom_index, times, frames, votes)
    assert votes.ref and not any(votes.confirmed)  # every frame matched, every match contradicted
    assert sorted(searched) == sorted(probes)
    assert set(tracked) - set(probes)  # their neighbours were tracked from them

    vouched = Votes()
    vouched.add(times[0], 0, 5.0, 1.0, "pdq", 10)
    assert vouched.vouched(0)
    searched, _ = _spied_local_pass(doom_index, times, frames, vouched)
    assert sorted(searched) == sorted(times)


def test_what_vouches_for_a_reference() -> None:
    """A vote that no hash contradicts and that can be a segment's own (a whole picture's hash match, a local
    match) vouches for its reference; a region's hash match (a status bar matches every playthrough) or a local
    match whose warped picture the hash says is another does not."""
    from provenance.engine.votes import Votes

    votes = Votes()
    votes.add(0.0, 1, 0.0, 0.5, "pdq-region", 20)
    votes.add(0.0, 2, 0.0, 0.5, "orb", -40, (0.0, 0.0, 1.0, 1.0), False)
    assert not votes.vouched(1) and not votes.vouched(2)
    votes.add(0.5, 2, 0.5, 0.5, "orb-track", -40, (0.0, 0.0, 1.0, 1.0), True)
    votes.add(0.5, 3, 0.5, 0.9, "pdq-mirror", 12)
    assert votes.vouched(2) and votes.vouched(3) and not votes.vouched(1)


def test_a_pillarboxed_shot_between_full_frame_shots_is_hashed_with_its_own_borders(
    doom_index: ReferenceIndex, doom_frames: tuple[list[float], list[np.ndarray]]
) -> None:
    """A window's borders are those of all its frames, so a pillarboxed shot of the reference between full-frame
    shots of other footage gets no trim from them. The hash pass finds the shot's own borders and places its
    frames at their reference times; a frame matched as a whole picture keeps no region match at another moment
    (the reference's status bar, the same all along, would otherwise match everywhere)."""
    import cv2

    from provenance.engine import prints
    from provenance.engine.fingerprint.regions import Box, detect_borders
    from provenance.engine.hashsearch import hash_votes
    from provenance.engine.sampling import decode_all
    from provenance.engine.votes import Votes

    index = doom_index
    times, frames = doom_frames
    _, other, _ = decode_all(SAMPLE / "dataset" / "clean" / "bikes.mp4", 2.0, 640)

    def full(i: int) -> np.ndarray:
        return np.ascontiguousarray(cv2.resize(other[i % len(other)], (640, 360)))

    def pillarboxed(i: int) -> np.ndarray:
        canvas = np.zeros((360, 640), np.uint8)
        canvas[:, 80:560] = cv2.resize(frames[i], (480, 360), interpolation=cv2.INTER_AREA)
        return canvas

    shot = list(range(8, 20))  # clip frame k shows the reference's frame k, 6 s in all
    images = [full(k) for k in range(8)] + [pillarboxed(k) for k in shot] + [full(k) for k in range(8, 16)]
    clip_t = [0.5 * k for k in range(len(images))]
    box = detect_borders(images)
    assert box == Box(0, 0, 640, 360)
    runs = prints._shot_boxes(images, box)
    assert [members for _, members in runs] == [shot]
    assert abs(runs[0][0].x0 - 80) <= 2 and abs(runs[0][0].x1 - 560) <= 2

    votes = Votes()
    window = prints.fingerprint_window(images, index.params.min_quality)
    assert window.box == box
    placed = hash_votes(index, clip_t, window.queries, votes)
    assert placed <= set(shot) and len(placed) >= 0.75 * len(shot)
    for q_t, r_t in zip(votes.q_t, votes.r_t, strict=True):
        k = round(q_t / 0.5)
        assert k in shot and abs(r_t - times[k]) <= 1.0, (q_t, r_t)


def test_local_search_stops_when_the_best_voted_frame_shares_almost_nothing(
    monkeypatch: pytest.MonkeyPatch, doom_index: ReferenceIndex, doom_frames: tuple[list[float], list[np.ndarray]]
) -> None:
    """The shortlist's other frames are verified only when its best-voted one shares at least half the inliers
    a match needs as ratio-test pairs: a frame of other footage costs one verification, a copy all of them."""
    import cv2

    from provenance.engine import localpass
    from provenance.engine.bank import FeatureBank
    from provenance.engine.params import local_params
    from provenance.engine.sampling import decode_all
    from provenance.engine.votes import Votes

    index = doom_index
    times, frames = doom_frames
    _, other, _ = decode_all(SAMPLE / "dataset" / "clean" / "bikes.mp4", 2.0, 640)
    verified: list[int] = []
    verify = FeatureBank.verify
    monkeypatch.setattr(FeatureBank, "verify", lambda self, i, q: verified.append(i) or verify(self, i, q))
    lp = local_params(index.params)

    clean = np.ascontiguousarray(cv2.resize(other[6], (640, 360)))
    shortlist = index.bank.shortlist(localpass._oriented_features(clean, lp, localpass._BOTH_SIDES), top_groups=1)
    assert len(shortlist) >= 2
    assert localpass._local_frame(index, lp, 3.0, clean, Votes()) == ()
    assert verified == [shortlist[0][0]]

    verified.clear()
    copy = np.ascontiguousarray(cv2.resize(frames[12], (640, 360)))
    hits = localpass._local_frame(index, lp, 6.0, copy, Votes())
    assert hits and all(abs(h.r_t - times[12]) <= 1.0 for h in hits)
    assert len(verified) >= 1


def test_a_small_insets_bars_are_trimmed_again_with_a_looser_tolerance() -> None:
    """The sample's picture-in-picture of Breakout (real footage, 55 % of the width, re-encoded): the ringing of
    the score's digits makes the black rows above them look textured to the strict trim, which stops two rows
    short of where the reference's trim did, and every whole-picture hash of that box lies 28-46 bits from the
    reference's. The looser trim's box is looked up too: most of the clip's frames come within the whole-picture
    distance of their reference."""
    from provenance.engine import prints
    from provenance.engine.fingerprint.base import hamming_matrix
    from provenance.engine.pairs import WHOLE
    from provenance.engine.sampling import decode_all

    ref = fingerprint_footage(SAMPLE / "registry" / "footage" / "pixelworks-breakout-attract.mp4")
    _, images, _ = decode_all(SAMPLE / "dataset" / "retro" / "breakout_pip.mp4", 2.0, 640)
    window = prints.fingerprint_window(images, EngineParams().min_quality)
    panel = [q for q in window.queries if q.method == "pdq-panel"]
    best = np.min([hamming_matrix(q.hashes, ref.hashes[:, WHOLE]).min(axis=1) for q in panel], axis=0)
    assert len(best) == len(images)
    assert (best <= EngineParams().max_distance).mean() >= 0.9, best
    assert np.median(best) <= EngineParams().region_max_distance, best


def test_a_copys_bars_ringing_next_to_its_picture_are_trimmed_by_the_looser_box_too(
    doom_index: ReferenceIndex, doom_frames: tuple[list[float], list[np.ndarray]]
) -> None:
    """A letterboxed copy of real footage whose bars ring next to the picture (two dark rows echoing the picture's
    edge row at a tenth of its brightness, as compression leaves them): the strict trim keeps the rows above the
    picture, the loose one (twice the flatness tolerance) does not, and its whole-picture hash, looked up besides,
    is the closer to the reference's frame."""
    from provenance.engine import prints
    from provenance.engine.fingerprint.base import hamming_matrix
    from provenance.engine.fingerprint.regions import Box, detect_borders
    from provenance.engine.pairs import WHOLE

    ref = doom_index.prints[0]
    _, frames = doom_frames
    images = []
    for frame in frames[4:16]:
        h, w = frame.shape
        canvas = np.zeros((h + 80, w), np.uint8)
        canvas[40 : 40 + h] = frame
        canvas[38:40] = (frame[:1] // 10).astype(np.uint8)  # the ringing above the picture
        canvas[40 + h : 42 + h] = (frame[-1:] // 10).astype(np.uint8)  # and below it
        images.append(canvas)
    strict = detect_borders(images)
    assert strict.y0 < 40  # the strict trim keeps the ringing rows above the picture
    window = prints.fingerprint_window(images, EngineParams().min_quality)
    assert window.box == strict
    whole = [q for q in window.queries if q.method == "pdq" and (q.regions == WHOLE).all()]
    assert whole, "no whole-picture lookup of the looser box"
    best = hamming_matrix(whole[-1].hashes, ref.hashes[:, WHOLE]).min(axis=1)
    direct = next(q for q in window.queries if q.method == "pdq")
    strict_best = hamming_matrix(direct.hashes[direct.regions == WHOLE], ref.hashes[:, WHOLE]).min(axis=1)
    assert np.median(best) < np.median(strict_best), (best, strict_best)
    assert Box(0, 40, frames[0].shape[1], 40 + frames[0].shape[0]) == detect_borders(images, prints._LOOSE_BARS)
