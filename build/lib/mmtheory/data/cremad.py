r"""CREMA-D: from the dataset's own layout to a compact cache that training reads without decoding.

Layout expected under ``root`` (as distributed, https://github.com/CheyneyComputerScience/CREMA-D)::

    AudioWAV/1001_DFA_ANG_XX.wav ...     16 kHz mono WAV
    VideoFlash/1001_DFA_ANG_XX.flv ...   Flash video

A clip name ``AAAA_SSS_EEE_LL`` encodes actor (1001-1091), sentence (3 letters), emotion
(NEU, HAP, SAD, FEA, DIS, ANG; labels 0..5 in that order, as the official OGM-GE code) and level
(LO, MD, HI, XX, or X for unspecified).

:func:`prepare` makes, in one resumable pass (``python -m mmtheory prepare cremad``):

* audio: resampled to 22,050 Hz, tiled to exactly 3 s, clipped to [-1, 1], STFT with n_fft 512,
  hop 353, periodic Hann window, centred frames (``librosa.stft`` defaults of the librosa 0.8/0.9
  the official code ran with: reflect padding), ``log(|S| + 1e-7)``: a 257 x 188 log spectrogram,
  stored as float16 (absolute error below 0.01 on values in about [-16, 6]);
* video: decoded with PyAV; the first frame at or after each whole second (1 fps, the official
  ``video2frame_update``), at most ``max_frames`` of them, resized to ``size`` x ``size`` (the official
  test transform ``Resize((224, 224))``), stored as uint8 RGB.

The cache folder holds numpy ``.npy`` arrays opened as memory maps, ``config.json``, and
``manifest.json``, written last and atomically: a cache without a manifest is incomplete and is
refused by :class:`CremadCache` (re-run ``prepare``; it resumes). Numpy only (no torch here).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from mmtheory._io import atomic_write_json
from mmtheory.seeding import numpy_rng

EMOTIONS = ("NEU", "HAP", "SAD", "FEA", "DIS", "ANG")
SAMPLE_RATE = 22050
SECONDS = 3
N_FFT = 512
HOP = 353
SPEC_SHAPE = (N_FFT // 2 + 1, 1 + SAMPLE_RATE * SECONDS // HOP)  # (257, 188)
ENV_VAR = "MMTHEORY_CREMAD"
HOW_TO_GET = (
    "CREMA-D is free (Open Database License) but not shipped with mmtheory: clone "
    "https://github.com/CheyneyComputerScience/CREMA-D (git lfs) to get AudioWAV/ and VideoFlash/, then run "
    "`python -m mmtheory prepare cremad --root PATH/TO/CREMA-D --cache PATH/TO/cache`."
)
_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2})$")


class CacheError(RuntimeError):
    """A cache folder that is missing, incomplete, or not a CREMA-D cache."""


@dataclass(frozen=True)
class ClipInfo:
    """What a CREMA-D clip name encodes."""

    name: str
    actor: int
    sentence: str
    emotion: str
    level: str

    @property
    def label(self) -> int:
        return EMOTIONS.index(self.emotion)


def parse_name(name: str) -> ClipInfo:
    """Parse ``"1001_DFA_ANG_XX"`` (a path or file name with extension is accepted).

    Raises
    ------
    ValueError
        If the name does not follow ``actor_sentence_emotion_level`` with a known emotion.
    """
    stem = Path(name).stem
    m = _NAME.match(stem)
    if not m or m.group(3) not in EMOTIONS:
        raise ValueError(f"{name!r} is not a CREMA-D clip name (expected e.g. 1001_DFA_ANG_XX, emotion one of "
                         f"{list(EMOTIONS)}).")
    return ClipInfo(stem, int(m.group(1)), m.group(2), m.group(3), m.group(4))


def official_split(which: str) -> list[tuple[str, int]]:
    """The official OGM-GE split (``"train"``: 6,698 clips, ``"test"``: 744) as ``(clip, label)`` pairs.

    The lists ship with mmtheory (``mmtheory/data/splits``, MIT licence of GeWu-Lab, see NOTICE).
    """
    if which not in ("train", "test"):
        raise ValueError(f"which must be 'train' or 'test'; got {which!r}.")
    text = resources.files("mmtheory.data").joinpath(f"splits/cremad_{which}.csv").read_text(encoding="utf-8-sig")
    out = []
    for row in csv.reader(text.splitlines()):
        if row:
            out.append((row[0], EMOTIONS.index(row[1])))
    return out


def actor_split(names: Iterable[str], test_fraction: float = 0.1, seed: int = 0) -> tuple[list[str], list[str]]:
    """Actor-disjoint split: a random ``test_fraction`` of the actors (at least one) goes to test.

    The official split shares actors between train and test; this one measures generalisation to
    unseen speakers. Returns ``(train_names, test_names)`` in input order.
    """
    names = list(names)
    actors = sorted({parse_name(n).actor for n in names})
    if len(actors) < 2:
        raise ValueError(f"an actor-disjoint split needs clips of at least two actors; got {actors}.")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1); got {test_fraction}.")
    rng = numpy_rng(seed, "actor-split")
    n_test = min(max(1, round(test_fraction * len(actors))), len(actors) - 1)
    test_actors = set(rng.choice(actors, size=n_test, replace=False).tolist())
    train = [n for n in names if parse_name(n).actor not in test_actors]
    test = [n for n in names if parse_name(n).actor in test_actors]
    return train, test


def _import(name: str):
    try:
        return __import__(name)
    except ImportError:  # pragma: no cover - both are dependencies
        raise ImportError(f"reading CREMA-D needs the package {name!r}: pip install {'av' if name == 'av' else name}") from None


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read a WAV file as mono float32 at ``sample_rate`` (polyphase resampling, ``scipy.signal.resample_poly``).

    The official code uses ``librosa.load(sr=22050)`` (a different band-limited resampler); both
    keep the band below 8 kHz of the 16 kHz recordings.
    """
    sf = _import("soundfile")
    from scipy.signal import resample_poly

    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    wave = data.mean(axis=1)
    if wave.size == 0:
        raise ValueError(f"{path}: the audio file holds no samples.")
    if sr != sample_rate:
        ratio = Fraction(sample_rate, sr)
        wave = resample_poly(wave, ratio.numerator, ratio.denominator).astype(np.float32)
    if not np.all(np.isfinite(wave)):
        raise ValueError(f"{path}: the audio holds NaN or infinite samples.")
    return wave


def log_spectrogram(wave: np.ndarray, sample_rate: int = SAMPLE_RATE, seconds: float = SECONDS, n_fft: int = N_FFT,
                    hop: int = HOP, pad_mode: str = "reflect") -> np.ndarray:
    """The official OGM-GE audio input: ``(n_fft/2 + 1, frames)`` float32 log-magnitude spectrogram.

    ``np.tile(wave, 3)[: sr * seconds]``, clip to [-1, 1], centred STFT (padding ``n_fft/2`` each
    side with ``pad_mode``), periodic Hann window, ``log(|S| + 1e-7)``. For 22,050 Hz, 3 s, n_fft
    512, hop 353: shape (257, 188).
    """
    wave = np.asarray(wave, dtype=np.float64).ravel()
    if wave.size == 0:
        raise ValueError("wave is empty.")
    length = int(sample_rate * seconds)
    reps = int(np.ceil(length / wave.size))
    x = np.clip(np.tile(wave, max(reps, 3))[:length], -1.0, 1.0)
    x = np.pad(x, n_fft // 2, mode=pad_mode)
    n_frames = 1 + (x.size - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop][:n_frames]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    spec = np.fft.rfft(frames * window, axis=1).T
    return np.log(np.abs(spec) + 1e-7).astype(np.float32)


def read_frames(path: str | os.PathLike, fps: float = 1.0, size: int = 224, max_frames: int = 3) -> np.ndarray:
    """Decode a video with PyAV; keep the first frame at or after each ``1/fps`` s, resized: ``(T, size, size, 3)`` uint8."""
    av = _import("av")
    out: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"{path}: no video stream.")
            next_t = 0.0
            for frame in container.decode(video=0):
                t = frame.time if frame.time is not None else len(out) / fps
                if t + 1e-6 >= next_t:
                    out.append(frame.to_ndarray(format="rgb24", width=size, height=size))
                    next_t += 1.0 / fps
                    if len(out) >= max_frames:
                        break
    except av.error.FFmpegError as exc:
        raise ValueError(f"{path}: cannot decode the video ({exc}).") from None
    if not out:
        raise ValueError(f"{path}: the video holds no decodable frame.")
    return np.stack(out)


def _discover(root: Path) -> tuple[list[str], list[str]]:
    audio_dir, video_dir = root / "AudioWAV", root / "VideoFlash"
    for d in (audio_dir, video_dir):
        if not d.is_dir():
            raise FileNotFoundError(f"{d} does not exist; --root must be the CREMA-D folder holding AudioWAV/ and "
                                    f"VideoFlash/. {HOW_TO_GET}")
    audio = {p.stem for p in audio_dir.glob("*.wav")}
    video = {p.stem for p in video_dir.glob("*.flv")}
    problems = [f"{n}: no video (VideoFlash/{n}.flv)" for n in sorted(audio - video)]
    problems += [f"{n}: no audio (AudioWAV/{n}.wav)" for n in sorted(video - audio)]
    names = []
    for n in sorted(audio & video):
        try:
            parse_name(n)
            names.append(n)
        except ValueError as exc:
            problems.append(str(exc))
    if not names:
        raise FileNotFoundError(f"no clip with both {audio_dir}/NAME.wav and {video_dir}/NAME.flv; {HOW_TO_GET}")
    return names, problems


#: Clips per commit: their arrays are flushed, then their status is set and flushed (a kill redoes at most these).
FLUSH_EVERY = 64
_ARRAYS = ("spec.npy", "frames.npy", "n_frames.npy", "status.npy")


def _step(name: str) -> None:
    """A point between two steps of :func:`prepare`; a kill here leaves a cache that the next run completes.

    A no-op: the fault-injection test replaces it to interrupt ``prepare`` at every step in turn.
    """


def _array_shapes(n: int, size: int, max_frames: int) -> dict:
    return {"spec.npy": ((n, *SPEC_SHAPE), np.float16), "frames.npy": ((n, max_frames, size, size, 3), np.uint8),
            "n_frames.npy": ((n,), np.int16), "status.npy": ((n,), np.int8)}


def _resumable(cache: Path, config: dict, shapes: dict) -> str | None:
    """``None`` if ``cache`` holds a complete set of arrays made for ``config``, else why not."""
    try:
        stored = json.loads((cache / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "no config.json (new cache, or an earlier run stopped while creating the arrays)"
    except (OSError, ValueError) as exc:
        return f"config.json is unreadable ({exc})"
    if stored != config:
        changed = sorted(k for k in set(stored) | set(config) if stored.get(k) != config.get(k))
        return f"the settings or the clip list changed ({', '.join(changed)})"
    for f, (shape, dtype) in shapes.items():
        try:
            arr = np.load(cache / f, mmap_mode="r")
        except (OSError, ValueError) as exc:
            return f"{f} is missing or damaged ({type(exc).__name__})"
        if arr.shape != shape or arr.dtype != dtype:
            return f"{f} has shape {arr.shape} {arr.dtype}, expected {shape} {np.dtype(dtype)}"
    return None


def _writable_folder(cache: Path) -> None:
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except PermissionError as exc:
        raise PermissionError(f"cannot create the cache folder {cache}: {exc.strerror}. Choose a writable --cache "
                              "folder (or fix its permissions).") from None
    if not cache.is_dir():
        raise NotADirectoryError(f"--cache {cache} exists and is not a folder; choose a folder.")
    if not os.access(cache, os.W_OK | os.X_OK):
        raise PermissionError(f"the cache folder {cache} is not writable; choose a writable --cache folder (or fix "
                              "its permissions). Nothing was written.")


def prepare(root: str | os.PathLike, cache: str | os.PathLike, *, size: int = 224, max_frames: int = 3,
            resume: bool = True, progress: bool | None = None,
            log: Callable[[str], None] = print) -> dict:
    """Preprocess a CREMA-D folder into a cache (see the module docstring). Returns the manifest.

    Parameters
    ----------
    root, cache : path-like
        The CREMA-D folder (``AudioWAV/``, ``VideoFlash/``) and the cache folder.
    size : int
        Frame side in pixels (>= 1).
    max_frames : int
        Frames kept per clip (>= 1).
    resume : bool
        Keep the clips an earlier run with the same settings finished (default).
    progress : bool, optional
        Progress bar: ``None`` follows tqdm's own settings (``TQDM_DISABLE=1`` turns it off).
    log : callable
        Where the report lines go.

    Every step can be interrupted (a kill, an exception) and the next run completes the cache, in
    any order of interruptions, ending with the same bytes as an uninterrupted run:

    1. ``manifest.json`` (the mark of a complete cache) is removed first, and stale temporary files;
    2. a new cache removes ``config.json`` *before* creating the arrays and writes it *after* them,
       so a ``config.json`` always describes complete arrays; a resumed one is checked against the
       settings and every array's shape;
    3. clips are decoded in batches of :data:`FLUSH_EVERY`: the arrays are flushed, then the
       batch's status is set and flushed;
    4. a clip that cannot be read gets its error written to ``errors.json`` at once (atomically),
       then status -1. Failed clips are retried on every resume (fixed files are picked up);
    5. ``errors.json`` (the clips still failing) and then ``manifest.json`` are written last.
    """
    from mmtheory._progress import tqdm

    from mmtheory._io import remove_stale_temporaries

    for name, value, flag in (("size", size, "--size, frame side in pixels"),
                              ("max_frames", max_frames, "--max-frames, frames kept per clip")):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} ({flag}) must be an integer >= 1; got {value!r}.")
    size, max_frames = int(size), int(max_frames)
    root, cache = Path(root), Path(cache)
    names, problems = _discover(root)
    config = {"format": "mmtheory-cremad-cache/1", "size": size, "max_frames": max_frames,
              "sample_rate": SAMPLE_RATE, "seconds": SECONDS, "n_fft": N_FFT, "hop": HOP, "clips": names}
    _writable_folder(cache)
    cfg_path, errors_path, manifest_path = cache / "config.json", cache / "errors.json", cache / "manifest.json"
    n = len(names)
    shapes = _array_shapes(n, size, max_frames)
    why_not = _resumable(cache, config, shapes) if resume else "--no-resume"
    manifest_path.unlink(missing_ok=True)
    remove_stale_temporaries(cache)
    _step("manifest removed")
    if why_not is not None:
        if resume and (cache / "config.json").exists():
            log(f"[prepare] starting over in {cache}: {why_not}")
        cfg_path.unlink(missing_ok=True)
        errors_path.unlink(missing_ok=True)
        _step("config removed")
        for f, (shp, dt) in shapes.items():
            arr = np.lib.format.open_memmap(cache / f, mode="w+", dtype=dt, shape=shp)  # zero-filled
            arr.flush()
            del arr
            _step(f"created {f}")
        atomic_write_json(cfg_path, config)
        _step("config written")
    arrays = {f: np.load(cache / f, mmap_mode="r+") for f in shapes}
    status = arrays["status.npy"]
    try:
        errors = json.loads(errors_path.read_text(encoding="utf-8")) if errors_path.exists() else {}
        errors = errors if isinstance(errors, dict) else {}
    except (OSError, ValueError):
        errors = {}
    todo = [i for i in range(n) if status[i] != 1]
    if why_not is None:
        retry = int(np.sum(status == -1))
        log(f"[prepare] resuming: {n - len(todo)} of {n} clips already done"
            + (f"; retrying {retry} that failed before" if retry else ""))
    pending: list[int] = []

    def commit() -> None:
        for f in ("spec.npy", "frames.npy", "n_frames.npy"):
            arrays[f].flush()
        _step("arrays flushed")
        for i in pending:
            status[i] = 1
        status.flush()
        pending.clear()
        _step("status flushed")

    bar = {} if progress is None else {"disable": not progress}
    for i in tqdm(todo, desc="CREMA-D", unit="clip", **bar):
        name = names[i]
        try:
            spec = log_spectrogram(load_audio(root / "AudioWAV" / f"{name}.wav"))
            frames = read_frames(root / "VideoFlash" / f"{name}.flv", size=size, max_frames=max_frames)
        except Exception as exc:  # a corrupt clip is reported and skipped, never silently
            errors[name] = f"{type(exc).__name__}: {exc}"
            atomic_write_json(errors_path, errors)  # written as it happens: a kill does not lose it
            _step("error written")
            status[i] = -1
            status.flush()
            _step("failure recorded")
            continue
        arrays["spec.npy"][i] = spec.astype(np.float16)
        arrays["frames.npy"][i, : len(frames)] = frames
        arrays["frames.npy"][i, len(frames):] = 0
        arrays["n_frames.npy"][i] = len(frames)
        pending.append(i)
        _step("clip decoded")
        if len(pending) >= FLUSH_EVERY:
            commit()
    commit()
    failed = {names[i]: errors.get(names[i], "unknown error") for i in range(n) if status[i] == -1}
    atomic_write_json(errors_path, failed)  # only the clips still failing
    _step("errors written")
    ok = [names[i] for i in range(n) if status[i] == 1]
    manifest = {"format": config["format"], "n_clips": n, "n_ok": len(ok), "failed": failed, "skipped": problems,
                "size": size, "max_frames": max_frames, "spec_shape": list(SPEC_SHAPE)}
    atomic_write_json(manifest_path, manifest)
    for name, why in list(failed.items())[:10]:
        log(f"[prepare] skipped {name}: {why}")
    for why in problems[:10]:
        log(f"[prepare] skipped {why}")
    extra = len(failed) + len(problems) - min(len(failed), 10) - min(len(problems), 10)
    if extra > 0:
        log(f"[prepare] ... and {extra} more; see {manifest_path}")
    log(f"[prepare] {len(ok)} of {n} clips in {cache} ({len(failed)} unreadable, {len(problems)} incomplete or misnamed)")
    return manifest


class CremadCache:
    """Read-only view of a prepared cache (numpy memory maps; nothing is decoded).

    Parameters
    ----------
    path : path-like
        The folder written by :func:`prepare`.

    Attributes
    ----------
    names : list of str
        Clip names, in cache order.
    labels : (n,) int64
    spec : (n, 257, 188) float16 memmap
    frames : (n, max_frames, size, size, 3) uint8 memmap
    n_frames : (n,) int16
    ok : (n,) bool
        Clips prepared successfully.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise CacheError(f"no CREMA-D cache at {self.path}. {HOW_TO_GET}")
        manifest = self.path / "manifest.json"
        if not manifest.exists():
            raise CacheError(f"{self.path} is an incomplete cache (no manifest.json): `prepare` was interrupted. "
                             "Run `python -m mmtheory prepare cremad --root ... --cache ...` again; it resumes.")
        rerun = "Run `python -m mmtheory prepare cremad --root ... --cache ...` again to repair it."
        try:
            manifest_bytes = manifest.read_bytes()
            config_bytes = (self.path / "config.json").read_bytes()
            self.manifest = json.loads(manifest_bytes)
            config = json.loads(config_bytes)
        except (OSError, ValueError) as exc:
            raise CacheError(f"{self.path}: cannot read the cache's manifest.json/config.json ({exc}). {rerun}") from None
        if not isinstance(config, dict) or config.get("format") != "mmtheory-cremad-cache/1":
            fmt = config.get("format") if isinstance(config, dict) else None
            raise CacheError(f"{self.path} is not an mmtheory CREMA-D cache (format {fmt!r}).")
        #: Identity of the cache's content (settings, clip list, which clips are usable): stored with every run.
        self.identity = hashlib.sha256(config_bytes + b"\0" + manifest_bytes).hexdigest()[:16]
        self.names: list[str] = config["clips"]
        self.labels = np.array([parse_name(n).label for n in self.names], dtype=np.int64)
        self.actors = np.array([parse_name(n).actor for n in self.names], dtype=np.int64)
        shapes = _array_shapes(len(self.names), int(config["size"]), int(config["max_frames"]))
        try:
            self.spec = np.load(self.path / "spec.npy", mmap_mode="r")
            self.frames = np.load(self.path / "frames.npy", mmap_mode="r")
            self.n_frames = np.load(self.path / "n_frames.npy")
            self.ok = np.load(self.path / "status.npy") == 1
        except (OSError, ValueError) as exc:
            raise CacheError(f"{self.path}: an array of the cache is missing or damaged ({exc}). {rerun}") from None
        got = {"spec.npy": self.spec.shape, "frames.npy": self.frames.shape, "n_frames.npy": self.n_frames.shape,
               "status.npy": self.ok.shape}
        bad = [f for f, (shape, _) in shapes.items() if got[f] != shape]
        if bad:
            raise CacheError(f"{self.path}: {bad} do not match config.json. {rerun}")
        self.size = int(config["size"])

    def __len__(self) -> int:
        return len(self.names)

    def split(self, which: str, split: str = "official", test_fraction: float = 0.1, seed: int = 0) -> np.ndarray:
        """Indices (into the cache) of the prepared clips of ``which`` in ``"train"``/``"test"``.

        ``split="official"``: the OGM-GE lists (clips absent from the cache are left out, as the
        official loader does); ``split="actors"``: :func:`actor_split` of the prepared clips.
        """
        if which not in ("train", "test"):
            raise ValueError(f"which must be 'train' or 'test'; got {which!r}.")
        pos = {n: i for i, n in enumerate(self.names)}
        if split == "official":
            wanted = [pos[n] for n, _ in official_split(which) if n in pos]
        elif split == "actors":
            ok_names = [n for n, good in zip(self.names, self.ok) if good]
            tr, te = actor_split(ok_names, test_fraction, seed)
            wanted = [pos[n] for n in (tr if which == "train" else te)]
        else:
            raise ValueError(f"split must be 'official' or 'actors'; got {split!r}.")
        idx = np.array([i for i in wanted if self.ok[i]], dtype=np.int64)
        if idx.size == 0:
            raise CacheError(f"the {split} {which} split has no prepared clip in {self.path}.")
        return idx


def resolve_cache(path: str | os.PathLike | None) -> Path | None:
    """``path``, else ``$MMTHEORY_CREMAD``, else None (no data: the chapters show the stand-in)."""
    if path:
        return Path(path)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else None


def write_tiny_dataset(root: str | os.PathLike, names: Sequence[str], *, seconds: float = 1.2, sample_rate: int = 16000,
                       video_size: tuple[int, int] = (48, 64), video_fps: int = 30, seed: int = 0) -> Path:
    """Write a tiny CREMA-D-layout folder (real WAV and FLV files, synthetic content) for tests and demos.

    Each clip gets a tone whose pitch depends on the emotion, and frames whose colour does.
    """
    sf, av = _import("soundfile"), _import("av")
    root = Path(root)
    (root / "AudioWAV").mkdir(parents=True, exist_ok=True)
    (root / "VideoFlash").mkdir(parents=True, exist_ok=True)
    rng = numpy_rng(seed, "tiny-dataset")
    h, w = video_size
    for name in names:
        label = parse_name(name).label
        t = np.arange(int(seconds * sample_rate)) / sample_rate
        wave = 0.3 * np.sin(2 * np.pi * (200 + 100 * label) * t) + 0.01 * rng.standard_normal(t.size)
        sf.write(str(root / "AudioWAV" / f"{name}.wav"), wave.astype(np.float32), sample_rate, subtype="PCM_16")
        with av.open(str(root / "VideoFlash" / f"{name}.flv"), "w", format="flv") as c:
            s = c.add_stream("flv", rate=video_fps)
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
            for k in range(int(seconds * video_fps)):
                img = np.full((h, w, 3), 40 * label, np.uint8)
                img[:, : (k * 2) % w] = 255
                for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)
    return root
