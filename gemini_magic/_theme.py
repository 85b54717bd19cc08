"""The one stylesheet of our HTML: code boxes, tables, quotes, highlighting and the search chip.

Colours come from the front end's theme (JupyterLab and Notebook 7 define ``--jp-*`` variables, so
do nbconvert's lab exports); each ``var()`` has a light fallback for pages without them. Token
classes map only to the CodeMirror variables that reach 4.5:1 on the code box's background in
both JupyterLab Light and Dark. Several of JupyterLab's own editor colours do not: on its editor
background (``--jp-cell-editor-background``) numbers are 4.3:1 on Light, definitions 4.4:1 and
comments 3.5:1 on Dark. So the box keeps the page's background (``--jp-layout-color0``, set off
by a border), where all but comments pass, and comments take the muted text colour.
``tests/test_markdown_theme.py`` checks every coloured class against the installed themes' values.

The stylesheet is split into sections and only the ones an output needs are included, down to one
rule per token colour (a saved notebook carries it once per output: a Python snippet needs four of
the fourteen token rules). The sanitizer keeps a ``<style>`` only when its text is
exactly what :func:`stylesheet` makes (:func:`is_ours`), so model text can never add CSS.
"""

from __future__ import annotations

import re

__all__ = ["CHIP_HEIGHT", "PLAIN_CLASSES", "TOKEN_CLASSES", "TOKEN_COLOURS", "is_ours", "stylesheet"]

# Our outputs (``gemini-magic``) and the live view (``gemini-live``, among the widget's own classes);
# one attribute selector weighs what a class does, and is half as long as ``:is()`` of the two.
_SCOPE = "[class*=gemini-]"
# ``:not(#_)`` lifts the rule above the front end's own ``pre``/``table`` rules (JupyterLab's are
# two classes deep and set margin and padding to 0), whatever order the stylesheets load in.
_LIFT = ":not(#_)"
_BORDER = "1px solid var(--jp-border-color2,#e0e0e0)"
CHIP_HEIGHT = 50  # px: Google's chip row is 48 px high (8 px padding around a 32 px chip) and does not wrap

#: CodeMirror theme variable, light fallback, Pygments short classes (classes not listed here
#: take the text colour).
TOKEN_COLOURS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("--jp-mirror-editor-keyword-color", "#008000", ("k", "kc", "kd", "kn", "kp", "kr", "ow", "gi")),
    ("--jp-mirror-editor-builtin-color", "#008000", ("nb", "bp", "ne")),
    ("--jp-mirror-editor-def-color", "#0000ff", ("nf", "fm", "nc", "nn", "gh", "gp", "gt")),
    ("--jp-mirror-editor-variable-2-color", "#00366d", ("nv", "vc", "vg", "vi", "vm", "nl")),
    ("--jp-mirror-editor-variable-3-color", "#008855", ("kt", "no")),
    ("--jp-mirror-editor-operator-color", "#7800c2", ("o", "nd", "cp", "cpf", "gu")),
    (
        "--jp-mirror-editor-string-color",
        "#ba2121",
        ("s", "s1", "s2", "sa", "sb", "sc", "dl", "sd", "sh", "sx", "gd", "gr"),
    ),
    ("--jp-mirror-editor-string-2-color", "#770088", ("se", "si", "sr", "ss", "ni")),
    ("--jp-mirror-editor-number-color", "#008800", ("m", "mb", "mf", "mh", "mi", "il", "mo")),
    ("--jp-mirror-editor-tag-color", "#117700", ("nt",)),
    ("--jp-mirror-editor-attribute-color", "#0000cc", ("na",)),
    ("--jp-content-font-color2", "#616161", ("c", "ch", "cm", "c1", "cs", "go")),
)
_ITALIC = ("c", "ch", "cm", "c1", "cs", "sd", "ge")
_BOLD = ("gs", "ges")

#: Every class Pygments' HTML formatter writes (``pygments.token.STANDARD_TYPES``), for the sanitizer.
TOKEN_CLASSES = frozenset(
    (
        "bp",
        "c",
        "c1",
        "ch",
        "cm",
        "cp",
        "cpf",
        "cs",
        "dl",
        "err",
        "esc",
        "fm",
        "g",
        "gd",
        "ge",
        "ges",
        "gh",
        "gi",
        "go",
        "gp",
        "gr",
        "gs",
        "gt",
        "gu",
        "il",
        "k",
        "kc",
        "kd",
        "kn",
        "kp",
        "kr",
        "kt",
        "l",
        "ld",
        "m",
        "mb",
        "mf",
        "mh",
        "mi",
        "mo",
        "n",
        "na",
        "nb",
        "nc",
        "nd",
        "ne",
        "nf",
        "ni",
        "nl",
        "nn",
        "no",
        "nt",
        "nv",
        "nx",
        "o",
        "ow",
        "p",
        "pm",
        "py",
        "s",
        "s1",
        "s2",
        "sa",
        "sb",
        "sc",
        "sd",
        "se",
        "sh",
        "si",
        "sr",
        "ss",
        "sx",
        "vc",
        "vg",
        "vi",
        "vm",
        "w",
        "x",
    )
)
#: The classes the stylesheet leaves alone: their spans are dropped from highlighted code.
PLAIN_CLASSES = TOKEN_CLASSES - {name for _, _, names in TOKEN_COLOURS for name in names} - {*_ITALIC, *_BOLD}


def _classes(names: tuple[str, ...]) -> str:
    listed = ",".join("." + n for n in names)
    return f".gm-hl {listed}" if len(names) == 1 else f".gm-hl :is({listed})"


# One rule per colour, written only when the code holds a span of its classes, and then for those
# classes alone (a Python snippet's keyword rule is ``.gm-hl .k{…}``, not all eight).
_TOKENS: tuple[tuple[tuple[str, ...], str], ...] = (
    *((names, f"color:var({var},{fallback})") for var, fallback, names in TOKEN_COLOURS),
    (_ITALIC, "font-style:italic"),
    (_BOLD, "font-weight:bold"),
)
_TOKEN_RULE = re.compile(r"\.gm-hl (?:\.([a-z0-9]+)|:is\(\.([a-z0-9]+(?:,\.[a-z0-9]+)*)\))\{([^{}]*)\}")
_SPAN = re.compile(r'<span class="(\w+)">')

# Sections in the order they are written; a stylesheet is some of them, in this order. A section
# is needed when the body holds its marker (the token rules: see ``_TOKENS``).
_SECTIONS: tuple[tuple[str, str], ...] = (
    (
        "<pre",
        f"{_SCOPE} pre{_LIFT}{{background:var(--jp-layout-color0,#fff);color:var(--jp-content-font-color1,#212121);"
        f"border:{_BORDER};border-radius:4px;padding:8px 12px;margin:0 0 1em;overflow:auto}}"
        f"{_SCOPE} pre{_LIFT} code{{padding:0;background:none}}",
    ),
    ('<code class="gm-hl">', ""),  # the token rules' place
    (
        "<table",
        f"{_SCOPE} table{_LIFT}{{border-collapse:collapse;margin:0 0 1em}}"
        f"{_SCOPE} :is(th,td){_LIFT}{{border:{_BORDER};padding:4px 8px}}",
    ),
    (
        "<blockquote",
        f"{_SCOPE} blockquote{_LIFT}{{margin:0 0 1em;padding:0 1em;"
        "border-left:4px solid var(--jp-border-color2,#e0e0e0)}",
    ),
    (
        "gm-search-suggestions",
        # The frame's colour scheme is the frame page's (none), so the browser paints no opaque
        # canvas behind the chip; one pixel more height tells the chip the theme is dark
        # (``_citations``). The link-only copy is hidden while the frame is there: a front end
        # that drops the frame (JupyterLab, for an untrusted notebook) drops this stylesheet too.
        # (The sanitizer allows the class on an iframe only, so the class alone names the frame.)
        ".gm-search-suggestions{color-scheme:normal}"
        f"[data-jp-theme-light=false] .gm-search-suggestions{{height:{CHIP_HEIGHT + 1}px!important}}"
        ".gm-search-suggestions+.gm-search-links{display:none}",
    ),
)


def stylesheet(body: str) -> str:
    """The ``<style>`` element *body* needs (only the sections its HTML uses, and of the token
    colours only the rules and classes its code holds), or ""."""
    css = "".join(
        _tokens(body) if marker == '<code class="gm-hl">' else css for marker, css in _SECTIONS if marker in body
    )
    return f"<style>{css}</style>" if css else ""


def _tokens(body: str) -> str:
    spans = set(_SPAN.findall(body))
    rules = ((tuple(n for n in names if n in spans), declaration) for names, declaration in _TOKENS)
    return "".join(f"{_classes(used)}{{{declaration}}}" for used, declaration in rules if used)


def is_ours(css: str) -> bool:
    """Whether *css* is exactly some of the sections, in order: what :func:`stylesheet` makes
    (each token rule with some of its classes, in their order)."""
    if not css:
        return False
    for marker, section in _SECTIONS:
        if marker == '<code class="gm-hl">':
            css = _skip_tokens(css)
        elif css.startswith(section):
            css = css[len(section) :]
    return not css


def _skip_tokens(css: str) -> str:
    """*css* after the token rules it starts with (each at most once, in order, with a subsequence
    of that rule's classes and exactly its declaration, written as :func:`_classes` writes it)."""
    for names, declaration in _TOKENS:
        rule = _TOKEN_RULE.match(css)
        if rule is None:
            break
        classes = tuple((rule.group(1) or rule.group(2)).split(",."))
        if (
            classes == tuple(n for n in names if n in classes)
            and rule.group() == f"{_classes(classes)}{{{declaration}}}"
        ):
            css = css[rule.end() :]
    return css
