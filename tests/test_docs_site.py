"""The docs site as a reader sees it: built with mkdocs (as ``.ci/run`` builds it, into a
throwaway folder), then the HTML is checked for what ``mkdocs build --strict`` lets
through: reStructuredText literals shown raw (````x````), private names on the API page,
the API page's order (factory, config, schedule, then helpers), JAX's pytree protocol
methods, a ``Returns`` sentence split into a type column, and home-page code lines too
wide for the column."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODE_WIDTH = 76  # characters of code that fit Material's column beside both sidebars
# Special methods that are the documented public protocol (calling, indexing a batch,
# equality); every other underscore name is private.
PUBLIC_DUNDERS = {"__call__", "__getitem__", "__eq__"}

pytest.importorskip("mkdocs", reason="the docs extra (pip install -e '.[docs]')")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return str(out)


def _pages(site: str) -> dict[str, str]:
    pages = {}
    for folder, _, files in os.walk(site):
        for f in files:
            if f.endswith(".html"):
                with open(os.path.join(folder, f), encoding="utf-8") as fh:
                    pages[os.path.relpath(os.path.join(folder, f), site)] = fh.read()
    return pages


def _visible(page: str, *, code: bool = True) -> str:
    """The text a reader sees (scripts dropped; ``<pre>`` code blocks too unless code)."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    if not code:
        page = re.sub(r"<pre\b.*?</pre>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_no_raw_rst_literals(site):
    pages = _pages(site)
    assert "api/index.html" in pages and len(pages) >= 10
    bad = {name: _visible(p).count("``") for name, p in pages.items() if "``" in _visible(p)}
    assert not bad, f"raw reStructuredText ``literals`` in the built HTML: {bad}"


def _api(site: str) -> str:
    with open(os.path.join(site, "api", "index.html"), encoding="utf-8") as fh:
        return fh.read()


def test_api_page_has_no_private_names(site):
    page = _api(site)
    ids = re.findall(r'id="(jax_expdecay[\w.]*)"', page)
    assert ids
    private = [i for i in ids if any(
        part.startswith("_") and part not in PUBLIC_DUNDERS for part in i.split(".")[1:]
    )]  # fmt: skip
    assert not private, private
    # in prose, signatures, defaults and types (code examples may use any name; the
    # source files jax_expdecay/_numerics.py etc. are named as files)
    text = _visible(page, code=False)
    names = set(re.findall(r"(?<![\w./])_{1,2}[A-Za-z]\w*", text)) - PUBLIC_DUNDERS
    assert not names, sorted(names)
    assert not re.search(r"jax_expdecay\._", text)


def test_api_page_order_and_no_pytree_protocol(site):
    ids = re.findall(r'id="(jax_expdecay[\w.]*)"', _api(site))
    top = [i for i in ids if i.count(".") == 1]
    assert top[:3] == [
        "jax_expdecay.exponential_decay",
        "jax_expdecay.ExponentialDecayConfig",
        "jax_expdecay.ExponentialDecay",
    ], top
    import jax_expdecay

    public = {f"jax_expdecay.{n}" for n in jax_expdecay.__all__ if n != "__version__"}
    assert set(top) == public, set(top) ^ public  # every public name, once
    assert len(top) == len(public)
    assert not [i for i in ids if ".tree_" in i]


def test_returns_sentences_are_not_split(site):
    """griffe reads ``Returns: x: y`` as type ``x``; a whole sentence stays together."""
    page = _api(site)
    types = [_visible(t).strip() for t in re.findall(
        r'<tr class="doc-section-item">\s*<td>(.*?)</td>', page, flags=re.S)]  # fmt: skip
    assert types
    assert not [t for t in types if "{" in t or '"' in t or " as " in t], types
    text = " ".join(_visible(page, code=False).split())
    assert 'A new dict {"class_name": "ExponentialDecay", "config": {...}}' in text


def test_home_page_code_fits_the_column():
    with open(os.path.join(ROOT, "docs", "index.md"), encoding="utf-8") as fh:
        text = fh.read()
    blocks = re.findall(r"^```[\w-]*\n(.*?)^```", text, flags=re.S | re.M)
    assert blocks
    wide = [line for b in blocks for line in b.splitlines() if len(line) > CODE_WIDTH]
    assert not wide, wide
