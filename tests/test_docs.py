"""The README stays true to the code."""

from __future__ import annotations


def test_readme_op_list_matches_the_op_table():
    import pathlib

    from graphc.ops import markdown

    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("<!-- ops:begin -->\n")[1].split("<!-- ops:end -->")[0]
    assert section == markdown(), "regenerate the README table with `python -m graphc.ops`"
