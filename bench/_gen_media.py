"""Generated benchmark content: varied synthetic photos, textures and text images, clips, audio.

Everything is made here from a seed (no downloads); shared by bench_registry.py and the tests.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]

_WORDS = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "labore",
    "dolore",
    "magna",
    "aliqua",
    "enim",
    "minim",
    "veniam",
    "quis",
    "nostrud",
    "exercitation",
    "ullamco",
    "laboris",
    "nisi",
    "aliquip",
    "commodo",
    "consequat",
    "duis",
    "aute",
    "irure",
    "reprehenderit",
    "voluptate",
    "velit",
    "esse",
    "cillum",
    "fugiat",
    "nulla",
    "pariatur",
    "excepteur",
    "sint",
    "occaecat",
    "cupidatat",
    "proident",
    "sunt",
    "culpa",
    "officia",
    "deserunt",
    "mollit",
]


def _smooth(rng: np.random.Generator, h: int, w: int, cells: int) -> npt.NDArray[np.float32]:
    import cv2

    g = rng.random((cells, max(2, cells * w // h), 3)).astype(np.float32)
    return cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)


def photo(rng: np.random.Generator, h: int, w: int) -> U8:
    """A photo-like scene: multi-scale colour field, shapes with soft edges, grain."""
    import cv2

    img = np.zeros((h, w, 3), np.float32)
    for cells, amp in ((2, 0.6), (5, 0.3), (13, 0.15), (40, 0.06)):
        img += amp * (_smooth(rng, h, w, cells) - 0.5)
    img = (img - img.min()) / (np.ptp(img) + 1e-6) * 255
    for _ in range(rng.integers(3, 12)):
        colour = tuple(float(c) for c in rng.integers(0, 256, 3))
        kind = rng.integers(0, 3)
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        if kind == 0:
            cv2.circle(img, (x, y), int(rng.integers(5, min(h, w) // 3)), colour, -1)
        elif kind == 1:
            x2, y2 = int(rng.integers(0, w)), int(rng.integers(0, h))
            cv2.rectangle(img, (x, y), (x2, y2), colour, -1)
        else:
            x2, y2 = int(rng.integers(0, w)), int(rng.integers(0, h))
            cv2.line(img, (x, y), (x2, y2), colour, int(rng.integers(1, 12)))
    img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 3)))
    img += rng.normal(0, rng.uniform(1, 8), img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def texture(rng: np.random.Generator, h: int, w: int) -> U8:
    """A texture: gratings, checkers or noise fields, colour-mapped."""
    import cv2

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    kind = rng.integers(0, 3)
    if kind == 0:
        f = np.zeros((h, w), np.float32)
        for _ in range(rng.integers(1, 4)):
            th = rng.uniform(0, np.pi)
            fr = rng.uniform(0.01, 0.15)
            f += np.sin((xx * np.cos(th) + yy * np.sin(th)) * fr * 2 * np.pi + rng.uniform(0, 6))
    elif kind == 1:
        s = int(rng.integers(8, 64))
        f = (((xx // s) + (yy // s)) % 2).astype(np.float32)
        f = cv2.warpAffine(
            f,
            cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(0, 90)), 1.0),
            (w, h),
            borderMode=cv2.BORDER_REFLECT,
        )
        f += 0.3 * _smooth(rng, h, w, int(rng.integers(3, 20)))[..., 0]
    else:
        f = _smooth(rng, h, w, int(rng.integers(8, 60)))[..., 0]
        f = np.abs(f - 0.5) * 2
    f = (f - f.min()) / (np.ptp(f) + 1e-6)
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    img = c0[None, None, :] * (1 - f[..., None]) + c1[None, None, :] * f[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def text_image(rng: np.random.Generator, h: int, w: int) -> U8:
    """A text screenshot: lines of random words on a plain or tinted background."""
    import cv2

    bg = rng.integers(200, 256, 3) if rng.random() < 0.7 else rng.integers(0, 60, 3)
    fg = (255 - bg) // 2 if bg.mean() > 128 else 255 - bg // 2
    img = np.empty((h, w, 3), np.uint8)
    img[:] = bg
    y = int(rng.integers(20, 60))
    scale = float(rng.uniform(0.5, 1.4))
    font = int(rng.choice([0, 1, 2, 3, 4, 6]))
    if rng.random() < 0.4:
        x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
        img[y0 : y0 + h // 4, x0 : x0 + w // 3] = rng.integers(0, 256, 3)
    while y < h - 10:
        words = " ".join(rng.choice(_WORDS, int(rng.integers(2, 9))))
        x = int(rng.integers(5, 40))
        cv2.putText(img, words, (x, y), font, scale, tuple(int(c) for c in fg), 1 + int(scale > 1))
        y += int(30 * scale + rng.integers(4, 20))
    return img


KINDS = {"photo": photo, "texture": texture, "text": text_image}


def image(seed: int) -> tuple[str, U8]:
    rng = np.random.default_rng(seed)
    name = ("photo", "texture", "text")[seed % 3]
    h, w = int(rng.integers(360, 720)), int(rng.integers(360, 720))
    return name, KINDS[name](rng, h, w)


def image_kind(seed: int) -> str:
    """What :func:`image` draws for a seed, textures told apart: photo, text, grating,
    checker or noise (it replays the same random draws without drawing the picture)."""
    name = ("photo", "texture", "text")[seed % 3]
    if name != "texture":
        return name
    rng = np.random.default_rng(seed)
    rng.integers(360, 720), rng.integers(360, 720)
    return ("grating", "checker", "noise")[int(rng.integers(0, 3))]


def grating_components(seed: int) -> int:
    """How many sinusoids the grating of :func:`image` sums for a seed (0: not a grating)."""
    if image_kind(seed) != "grating":
        return 0
    rng = np.random.default_rng(seed)
    rng.integers(360, 720), rng.integers(360, 720), rng.integers(0, 3)
    return int(rng.integers(1, 4))


def audio(seed: int, seconds: float = 12.0, rate: int = 44100) -> npt.NDArray[np.float32]:
    """Music-like audio: a random melody of harmonic notes, a bass line, percussion, noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    x = np.zeros(n)
    bpm = rng.uniform(70, 160)
    beat = 60.0 / bpm
    pos = 0.0
    base = rng.integers(45, 70)
    scale = np.array([0, 2, 3, 5, 7, 8, 10, 12, 14, 15])
    while pos < seconds:
        dur = beat * float(rng.choice([0.25, 0.5, 0.5, 1, 1, 2]))
        note = base + int(rng.choice(scale))
        f = 440.0 * 2 ** ((note - 69) / 12)
        a, b = int(pos * rate), min(n, int((pos + dur) * rate))
        tt = t[a:b] - pos
        env = np.exp(-tt * rng.uniform(1, 6)) * (1 - np.exp(-tt * 200))
        tone = sum(np.sin(2 * np.pi * f * k * tt) / k ** rng.uniform(1, 2) for k in range(1, 6))
        x[a:b] += 0.3 * env * tone
        pos += dur
    # bass and drums on the beat
    k = 0
    while k * beat < seconds:
        a = int(k * beat * rate)
        b = min(n, a + int(0.12 * rate))
        tt = t[a:b] - k * beat
        x[a:b] += 0.4 * np.exp(-tt * 25) * np.sin(2 * np.pi * 55 * (1 + 2 * np.exp(-tt * 30)) * tt)
        if k % 2 == 1:
            x[a:b] += 0.15 * np.exp(-tt * 40) * rng.normal(0, 1, b - a)
        k += 1
    x += 0.01 * rng.normal(0, 1, n)
    return (0.8 * x / (np.abs(x).max() + 1e-9)).astype(np.float32)


def video_frames(seed: int, n: int, h: int = 240, w: int = 320) -> U8:
    """A clip: a slow pan and zoom over a generated image, with a moving shape."""
    import cv2

    rng = np.random.default_rng(seed)
    _, big = image(seed * 7919 + 13)
    big = cv2.resize(big, (w * 2, h * 2), interpolation=cv2.INTER_LINEAR)
    out = np.empty((n, h, w, 3), np.uint8)
    vx, vy = rng.uniform(-1.5, 1.5, 2)
    x0, y0 = w / 2, h / 2
    zoom_rate = rng.uniform(-0.002, 0.002)
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    dx, dy = rng.uniform(-3, 3, 2)
    cut = int(rng.integers(n // 3, n)) if rng.random() < 0.5 else -1
    for i in range(n):
        if i == cut:  # a scene change: another part of the picture
            x0, y0 = w / 2 + rng.uniform(-w / 3, w / 3), h / 2 + rng.uniform(-h / 3, h / 3)
        z = 1.0 + zoom_rate * i
        m = np.float32([[z, 0, -(x0 + vx * i) * z + w / 2], [0, z, -(y0 + vy * i) * z + h / 2]])
        m[:, 2] += [w / 2 * z, h / 2 * z]
        m[:, 2] -= [w / 2, h / 2]
        fr = cv2.warpAffine(big, m, (w, h), borderMode=cv2.BORDER_REFLECT)
        cv2.circle(fr, (int(cx + dx * i) % w, int(cy + dy * i) % h), 20, colour, -1)
        out[i] = fr
    return out


def encode_h264(frames: U8, dest: Path, fps: int = 25, crf: int = 18) -> int:
    """Encode RGB frames (n, h, w, 3) to an H.264 MP4 through an ffmpeg pipe; its exit code."""
    _n, h, w, _ = frames.shape
    proc = subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "pipe:0",
         "-c:v", "libx264", "-crf", str(crf), "-pix_fmt", "yuv420p", str(dest)],
        stdin=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None
    proc.stdin.write(frames.tobytes())
    proc.stdin.close()
    return proc.wait()
