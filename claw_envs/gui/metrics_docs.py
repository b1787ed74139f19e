"""More OSWorld metrics of the app domains, own code, OSWorld's names and call shapes (a missing file scores 0):

* Writer (python-docx): ``compare_docx_tables`` (same tables, cell texts), ``compare_line_spacing`` (same
  texts and paragraph line spacings), ``compare_docx_files_and_ignore_new_lines`` (same text once line breaks
  and blank runs are dropped), ``contains_page_break`` (the document has ``page_break_count`` page breaks, or any);
* plain and structured files: ``diff_text_file`` (similarity ratio of two texts, 0..1), ``check_json``
  (``{"expect": [{"key": [path...], "method", "ref"}], "unexpect": [...]}``; ``is_yaml`` option),
  ``check_csv`` (``expect``/``unexpect`` rows: ``{column: {"method", "ref"}}``), ``compare_htmls`` (same
  visible text), ``compare_archive`` / ``compare_zip_files`` (same members with the same bytes — stricter than
  OSWorld's per-type content comparison for ``compare_archive``);
* Thunderbird: ``check_thunderbird_prefs`` (``prefs.js``'s ``user_pref`` values: ``expect``/``unexpect``
  ``{name: {"method", "ref"}}``);
* images (Pillow): ``compare_image_list`` (pairwise identical), ``check_image_mirror`` (the result is the
  original flipped left-right).

Methods of rules: ``eq``, ``ne``, ``re``, ``in`` (ref contains the value), ``contains`` (value contains ref),
``gt``/``ge``/``lt``/``le``.
"""

from __future__ import annotations

import csv
import difflib
import json
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from claw_envs.gui.metrics_files import _file, _need, rgb_pair, same_pixels


def match(value: Any, method: str, ref: Any) -> bool:
    """One rule check (see the module docstring)."""
    try:
        if method == "eq":
            return value == ref
        if method == "ne":
            return value != ref
        if method == "re":
            return value is not None and re.search(str(ref), str(value)) is not None
        if method == "in":
            return value in ref
        if method == "contains":
            return value is not None and ref in value
        if method in ("gt", "ge", "lt", "le"):
            a, b = float(value), float(ref)
            return {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[method]
    except (TypeError, ValueError):
        return False
    from claw_envs.core.errors import TaskError
    raise TaskError(f"unknown rule method {method!r} (eq, ne, re, in, contains, gt, ge, lt, le)")


def _doc(path: Any):
    p = _file(path)
    if p is None:
        return None
    docx = _need("docx", "python-docx")
    try:
        return docx.Document(p)
    except Exception:  # noqa: BLE001
        return None


def compare_docx_tables(docx_file1: Any, docx_file2: Any, **options: Any) -> float:
    a, b = _doc(docx_file1), _doc(docx_file2)
    if a is None or b is None:
        return 0.0

    def tables(d) -> list:
        return [[[c.text.strip() for c in row.cells] for row in t.rows] for t in d.tables]

    return float(tables(a) == tables(b))


def compare_line_spacing(docx_file1: Any, docx_file2: Any, **options: Any) -> float:
    a, b = _doc(docx_file1), _doc(docx_file2)
    if a is None or b is None:
        return 0.0

    def paras(d) -> list:
        return [(p.text, p.paragraph_format.line_spacing) for p in d.paragraphs]

    return float(paras(a) == paras(b))


def compare_docx_files_and_ignore_new_lines(file1: Any, file2: Any, **options: Any) -> float:
    a, b = _doc(file1), _doc(file2)
    if a is None or b is None:
        return 0.0

    def text(d) -> str:
        t = " ".join(p.text for p in d.paragraphs)
        t = " ".join(t.split())
        return t.lower() if options.get("ignore_case") else t

    return float(text(a) == text(b))


def contains_page_break(docx_file: Any, rules: Any = None) -> float:
    d = _doc(docx_file)
    if d is None:
        return 0.0
    ns = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    count = sum(br.get(f"{ns}type") == "page" for br in d.element.body.iter(f"{ns}br"))
    count += sum(1 for _ in d.element.body.iter(f"{ns}pageBreakBefore"))
    want = rules.get("page_break_count") if isinstance(rules, dict) else None
    return float(count == int(want) if want is not None else count > 0)


def _text(path: Any) -> str | None:
    p = _file(path)
    return None if p is None else Path(p).read_text(errors="replace")


def diff_text_file(result: Any, expected: Any, **options: Any) -> float:
    a, b = _text(result), _text(expected)
    if a is None or b is None:
        return 0.0
    return round(difflib.SequenceMatcher(None, a, b).ratio(), 4)


def _walk(data: Any, keys: list) -> tuple[bool, Any]:
    for k in keys:
        if isinstance(data, dict) and k in data:
            data = data[k]
        elif isinstance(data, list) and isinstance(k, int) and -len(data) <= k < len(data):
            data = data[k]
        else:
            return False, None
    return True, data


def check_json(result: Any, rules: dict, **options: Any) -> float:
    text = _text(result)
    if text is None:
        return 0.0
    try:
        if options.get("is_yaml"):
            data = _need("yaml", "pyyaml").safe_load(text)
        else:
            data = json.loads(text)
    except Exception:  # noqa: BLE001 - not JSON/YAML
        return 0.0
    for r in rules.get("expect") or []:
        found, value = _walk(data, r["key"] if isinstance(r["key"], list) else [r["key"]])
        if not found or not match(value, r.get("method", "eq"), r.get("ref")):
            return 0.0
    for r in rules.get("unexpect") or []:
        found, value = _walk(data, r["key"] if isinstance(r["key"], list) else [r["key"]])
        if found and match(value, r.get("method", "eq"), r.get("ref")):
            return 0.0
    return 1.0


def _row_ok(row: dict, want: dict) -> bool:
    for col, check in want.items():
        method, ref = (check.get("method", "eq"), check.get("ref")) if isinstance(check, dict) else ("eq", check)
        if not match(row.get(col), method, ref):
            return False
    return True


def check_csv(result: Any, rules: dict, **options: Any) -> float:
    p = _file(result)
    if p is None:
        return 0.0
    with open(p, newline="", encoding="utf-8", errors="replace") as f:
        rows = list(csv.DictReader(f))
    if not all(any(_row_ok(r, w) for r in rows) for w in rules.get("expect") or []):
        return 0.0
    return float(not any(_row_ok(r, w) for r in rows for w in rules.get("unexpect") or []))


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style") and self._skip > 0

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.parts.append(" ".join(data.split()))


def compare_htmls(html_file1: Any, html_file2: Any, **options: Any) -> float:
    texts = []
    for f in (html_file1, html_file2):
        t = _text(f)
        if t is None:
            return 0.0
        p = _Text()
        p.feed(t)
        texts.append(p.parts)
    return float(texts[0] == texts[1])


def _members(path: Any) -> dict[str, bytes] | None:
    p = _file(path)
    if p is None:
        return None
    try:
        with zipfile.ZipFile(p) as z:
            return {i.filename: z.read(i) for i in z.infolist() if not i.is_dir()}
    except (zipfile.BadZipFile, OSError):
        return None


def compare_archive(archive1: Any, archive2: Any, **options: Any) -> float:
    a, b = _members(archive1), _members(archive2)
    return float(a is not None and b is not None and a == b)


def compare_zip_files(zip_file1: Any, zip_file2: Any, **options: Any) -> float:
    return compare_archive(zip_file1, zip_file2)


_PREF = re.compile(r'^\s*user_pref\(\s*"((?:\\.|[^"\\])*)"\s*,\s*(.*?)\s*\)\s*;', re.M)


def read_prefs_js(path: Any) -> dict[str, Any] | None:
    """``user_pref("name", value);`` lines of a Mozilla ``prefs.js`` (values parsed as JSON)."""
    text = _text(path)
    if text is None:
        return None
    out = {}
    for name, raw in _PREF.findall(text):
        try:
            out[name] = json.loads(raw)
        except ValueError:
            out[name] = raw
    return out


def check_thunderbird_prefs(result: Any, rule: dict, **options: Any) -> float:
    prefs = read_prefs_js(result)
    if prefs is None:
        return 0.0
    for name, check in (rule.get("expect") or {}).items():
        if name not in prefs or not match(prefs[name], check.get("method", "eq"), check.get("ref")):
            return 0.0
    for name, check in (rule.get("unexpect") or {}).items():
        if name in prefs and match(prefs[name], check.get("method", "eq"), check.get("ref")):
            return 0.0
    return 1.0


def compare_image_list(pred_img_path_list: Any, gold_img_path_list: Any, **options: Any) -> float:
    from claw_envs.gui.metrics_files import compare_images
    if not isinstance(pred_img_path_list, list) or not isinstance(gold_img_path_list, list):
        return 0.0
    if len(pred_img_path_list) != len(gold_img_path_list):
        return 0.0
    return float(all(compare_images(a, b) == 1.0 for a, b in zip(pred_img_path_list, gold_img_path_list, strict=True)))


def check_image_mirror(src_path: Any, tgt_path: Any, **options: Any) -> float:
    pair = rgb_pair(src_path, tgt_path)
    if pair is None:
        return 0.0
    src, tgt = pair
    image = _need("PIL.Image", "pillow")
    return float(same_pixels(src.transpose(image.Transpose.FLIP_LEFT_RIGHT), tgt))
