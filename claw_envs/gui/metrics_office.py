"""OSWorld's ``compare_pptx_files`` (Impress: 54 tasks), on ``python-pptx``; own code, OSWorld's option names.

Two presentations match when they have the same slides and, slide by slide, the same shapes in order with the
same text, and — unless an ``examine_*`` option turns the check off (each defaults to True) — the same:

* ``examine_number_of_slides``: number of slides;
* ``examine_shape``: shape positions and sizes (``approximately_tolerance``: relative tolerance, default 0);
* ``examine_alignment``: paragraph alignment; ``examine_bullets``: paragraph levels;
* ``examine_font_name`` / ``_size`` / ``_bold`` / ``_italic`` / ``_underline``, ``examine_color_rgb``,
  ``examine_strike_through``: run formatting;
* ``examine_table``: table cell texts; ``examine_image_size``: picture sizes.

Other ``examine_*`` options OSWorld has (top/bottom positions of titles and tables...) are accepted and
covered by ``examine_shape``. A missing or unreadable file scores 0.
"""

from __future__ import annotations

from typing import Any

from claw_envs.gui.metrics_files import _file, _need


def _close(a: Any, b: Any, tol: float) -> bool:
    if a is None or b is None:
        return a == b
    return abs(int(a) - int(b)) <= tol * max(abs(int(a)), abs(int(b)), 1)


def _run_props(run: Any, o: dict) -> tuple:
    f = run.font
    color = None
    if o["examine_color_rgb"]:
        try:
            color = str(f.color.rgb) if f.color and f.color.type is not None else None
        except AttributeError:
            color = None
    strike = run._r.find("{http://schemas.openxmlformats.org/drawingml/2006/main}rPr")
    strike = strike.get("strike") if strike is not None else None
    return (f.name if o["examine_font_name"] else None, f.size if o["examine_font_size"] else None,
            f.bold if o["examine_font_bold"] else None, f.italic if o["examine_font_italic"] else None,
            f.underline if o["examine_font_underline"] else None, color,
            strike if o["examine_strike_through"] else None)


def _shape_sig(shape: Any, o: dict) -> dict:
    sig: dict[str, Any] = {"type": shape.shape_type}
    if shape.has_text_frame:
        paras = []
        for p in shape.text_frame.paragraphs:
            paras.append((p.text, p.alignment if o["examine_alignment"] else None,
                          p.level if o["examine_bullets"] else None,
                          tuple(_run_props(r, o) for r in p.runs if r.text.strip())))
        sig["paras"] = paras
    if getattr(shape, "has_table", False) and shape.has_table and o["examine_table"]:
        sig["table"] = [[c.text for c in row.cells] for row in shape.table.rows]
    return sig


def _geometry(shape: Any) -> tuple:
    return shape.left, shape.top, shape.width, shape.height


_DEFAULTS = ("examine_number_of_slides", "examine_shape", "examine_alignment", "examine_bullets", "examine_font_name",
             "examine_font_size", "examine_font_bold", "examine_font_italic", "examine_font_underline",
             "examine_color_rgb", "examine_strike_through", "examine_table", "examine_image_size")


def compare_pptx_files(file1: Any, file2: Any, **options: Any) -> float:
    """See the module docstring."""
    a, b = _file(file1), _file(file2)
    if a is None or b is None:
        return 0.0
    pptx = _need("pptx", "python-pptx")
    o = {k: bool(options.get(k, True)) for k in _DEFAULTS}
    tol = float(options.get("approximately_tolerance", 0) or 0)
    try:
        pa, pb = pptx.Presentation(a), pptx.Presentation(b)
        sa, sb = list(pa.slides), list(pb.slides)
        if o["examine_number_of_slides"] and len(sa) != len(sb):
            return 0.0
        for s1, s2 in zip(sa, sb, strict=False):
            sh1, sh2 = list(s1.shapes), list(s2.shapes)
            if len(sh1) != len(sh2):
                return 0.0
            for x, y in zip(sh1, sh2, strict=True):
                if _shape_sig(x, o) != _shape_sig(y, o):
                    return 0.0
                is_pic = x.shape_type == 13  # MSO_SHAPE_TYPE.PICTURE
                if (o["examine_shape"] or (is_pic and o["examine_image_size"])) and not all(
                        _close(p, q, tol) for p, q in zip(_geometry(x), _geometry(y), strict=True)):
                    return 0.0
    except Exception:  # noqa: BLE001 - a broken file is the agent's failure
        return 0.0
    return 1.0
