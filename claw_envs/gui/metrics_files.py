"""OSWorld's file-comparing metrics for office documents, PDFs, images and settings files.

Each reads files with the library made for the format — ``pypdf`` (PDF text), ``python-docx`` (Writer),
``python-pptx`` (Impress, in ``metrics_office.compare_pptx_files``), ``openpyxl`` (Calc, in ``metrics.compare_table``), ``Pillow`` (images), ``csv``
and ``json`` — and returns 1.0 or 0.0 (OSWorld's semantics; a missing or unreadable file scores 0).
A library that is not installed raises ``TaskError`` naming the package to install.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from claw_envs.core.errors import TaskError


def _need(module: str, package: str):
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise TaskError(f"this metric needs the python package {package!r}: pip install {package}") from e


def _file(path: Any) -> str | None:
    return str(path) if path and Path(str(path)).is_file() else None


def compare_pdfs(pdf1: Any, pdf2: Any, **options: Any) -> float:
    """Same text on every page (whitespace-trimmed); lists of files are compared pairwise."""
    if isinstance(pdf1, list) and isinstance(pdf2, list):
        return float(all(compare_pdfs(a, b) for a, b in zip(pdf1, pdf2, strict=True)))
    a, b = _file(pdf1), _file(pdf2)
    if a is None or b is None:
        return 0.0
    pypdf = _need("pypdf", "pypdf")
    try:
        ta = [p.extract_text().strip() for p in pypdf.PdfReader(a).pages]
        tb = [p.extract_text().strip() for p in pypdf.PdfReader(b).pages]
    except Exception:  # noqa: BLE001 - a broken PDF is the agent's failure
        return 0.0
    return float(ta == tb)


def compare_docx_files(file1: Any, file2: Any, **options: Any) -> float:
    """Same paragraph texts (``ignore_blanks``: whitespace runs collapsed; ``ignore_case``)."""
    a, b = _file(file1), _file(file2)
    if a is None or b is None:
        return 0.0
    docx = _need("docx", "python-docx")
    try:
        pa = [p.text for p in docx.Document(a).paragraphs]
        pb = [p.text for p in docx.Document(b).paragraphs]
    except Exception:  # noqa: BLE001
        return 0.0
    if options.get("ignore_blanks", True):
        pa = [" ".join(t.split()) for t in pa if t.strip()]
        pb = [" ".join(t.split()) for t in pb if t.strip()]
    if options.get("ignore_case"):
        pa, pb = [t.lower() for t in pa], [t.lower() for t in pb]
    return float(pa == pb)


def rgb_pair(path1: Any, path2: Any) -> tuple[Any, Any] | None:
    """Two image files opened as RGB (Pillow), or None if either is missing or unreadable."""
    a, b = _file(path1), _file(path2)
    if a is None or b is None:
        return None
    image = _need("PIL.Image", "pillow")
    try:
        return image.open(a).convert("RGB"), image.open(b).convert("RGB")
    except Exception:  # noqa: BLE001
        return None


def same_pixels(ia: Any, ib: Any) -> bool:
    """Two RGB images of the same size with no differing pixel."""
    chops = _need("PIL.ImageChops", "pillow")
    return ia.size == ib.size and chops.difference(ia, ib).getbbox() is None


def compare_images(image1: Any, image2: Any, **options: Any) -> float:
    """Same size and pixels (RGB); lists of images are compared pairwise."""
    if isinstance(image1, list) and isinstance(image2, list):
        return float(all(compare_images(a, b) for a, b in zip(image1, image2, strict=True)))
    pair = rgb_pair(image1, image2)
    return float(pair is not None and same_pixels(*pair))


def compare_csv(result: Any, expected: Any, **options: Any) -> float:
    """Same rows (cells compared as text, trailing empty rows ignored)."""
    a, b = _file(result), _file(expected)
    if a is None or b is None:
        return 0.0

    def rows(path: str) -> list[list[str]]:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            out = [[c.strip() for c in r] for r in csv.reader(f)]
        while out and not any(out[-1]):
            out.pop()
        return out

    return float(rows(a) == rows(b))


def check_json_settings(actual: Any, expected: Any, **options: Any) -> float:
    """Every key of ``expected["expected"]`` has that value in the JSON file ``actual``."""
    a = _file(actual)
    if a is None:
        return 0.0
    try:
        data = json.loads(Path(a).read_text())
    except (ValueError, OSError):
        return 0.0
    want = expected.get("expected", expected) if isinstance(expected, dict) else {}
    return float(isinstance(data, dict) and all(data.get(k) == v for k, v in want.items()))
