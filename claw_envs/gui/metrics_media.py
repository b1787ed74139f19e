"""OSWorld metrics on images, audio tags and code files (GIMP, multi_apps), own code on Pillow, scikit-image
and mutagen; OSWorld's names and call shapes. A missing or unreadable file scores 0.

* ``check_structure_sim(result, expected)``: same size and structural similarity (SSIM, grey) ≥ 0.9;
* ``check_structure_sim_resized(result, expected)``: SSIM ≥ 0.9 after resizing the expected image to the
  result's size;
* ``check_image_size(result, rule)``: the image's ``width``/``height`` equal the rule's (given ones only;
  ``ignore_transparent``: the size of the non-transparent part);
* ``check_mp3_meta(result, rule)``: each ``{tag: {"method": "eq", "ref": value}}`` holds for the file's ID3
  tags (``title``, ``artist``, ``album``...);
* ``compare_python_pure_text(result, expected)``: the same Python code, comments, blank lines and trailing
  spaces ignored.
"""

from __future__ import annotations

import io
import re
import tokenize
from typing import Any

from claw_envs.gui.metrics_files import _file, _need

SSIM_THRESHOLD = 0.9


def _grey(path: str, size: tuple[int, int] | None = None):
    image = _need("PIL.Image", "pillow")
    np = _need("numpy", "numpy")
    im = image.open(path).convert("L")
    if size is not None and im.size != size:
        im = im.resize(size)
    return np.asarray(im, dtype="float64")


def _ssim(a, b) -> float:
    metrics = _need("skimage.metrics", "scikit-image")
    win = min(7, *a.shape)
    win -= (win + 1) % 2  # odd, ≤ the smaller side
    if win < 3:
        return float((a == b).all())
    return float(metrics.structural_similarity(a, b, data_range=255.0, win_size=win))


def check_structure_sim(result: Any, expected: Any, **options: Any) -> float:
    a, b = _file(result), _file(expected)
    if a is None or b is None:
        return 0.0
    try:
        x, y = _grey(a), _grey(b)
    except Exception:  # noqa: BLE001 - not an image
        return 0.0
    return float(x.shape == y.shape and _ssim(x, y) >= SSIM_THRESHOLD)


def check_structure_sim_resized(result: Any, expected: Any, **options: Any) -> float:
    a, b = _file(result), _file(expected)
    if a is None or b is None:
        return 0.0
    try:
        x = _grey(a)
        y = _grey(b, (x.shape[1], x.shape[0]))
    except Exception:  # noqa: BLE001
        return 0.0
    return float(_ssim(x, y) >= SSIM_THRESHOLD)


def check_image_size(result: Any, rule: dict) -> float:
    a = _file(result)
    if a is None:
        return 0.0
    image = _need("PIL.Image", "pillow")
    try:
        im = image.open(a)
        w, h = im.size
        if rule.get("ignore_transparent") and im.mode in ("RGBA", "LA", "PA"):
            box = im.getchannel("A").getbbox()
            if box:
                w, h = box[2] - box[0], box[3] - box[1]
    except Exception:  # noqa: BLE001
        return 0.0
    return float(all(rule[k] == v for k, v in (("width", w), ("height", h)) if k in rule))


def check_mp3_meta(result: Any, rule: dict) -> float:
    a = _file(result)
    if a is None:
        return 0.0
    easyid3 = _need("mutagen.easyid3", "mutagen")
    try:
        tags = easyid3.EasyID3(a)
    except Exception:  # noqa: BLE001 - no ID3 header: no tags
        return 0.0
    for key, check in rule.items():
        values = tags.get(key) or []
        got = values[0] if values else None
        method, ref = (check.get("method", "eq"), check.get("ref")) if isinstance(check, dict) else ("eq", check)
        if method == "eq" and got != ref:
            return 0.0
        if method == "re" and (got is None or not re.search(str(ref), got)):
            return 0.0
    return 1.0


def _code(path: str) -> list[str]:
    text = open(path, encoding="utf-8", errors="replace").read()
    out = []
    try:
        toks = [t for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type != tokenize.COMMENT]
        text = tokenize.untokenize(toks)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    for line in text.splitlines():
        line = line.rstrip()
        if line.strip():
            out.append(line)
    return out


def compare_python_pure_text(result: Any, expected: Any, **options: Any) -> float:
    a, b = _file(result), _file(expected)
    if a is None or b is None:
        return 0.0
    return float(_code(a) == _code(b))
