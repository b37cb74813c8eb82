"""A workspace with every rule shape of the gitignore documentation (`RULE_SHAPES`):
what tests compare acp's file listing against git on."""

from __future__ import annotations

from pathlib import Path

from tests.support.git_oracle import write_tree

# Every rule shape of the gitignore documentation, at several levels, plus the
# shapes other tools get wrong (issue 12): `!**/node_modules/**` then
# `/node_modules`; `*` / `!*/` / `!*.py`; `foo/**/`; a UTF-8 BOM.
RULE_SHAPES = {
    ".gitignore": "\ufeff"  # a BOM: the first rule still applies
    "*.log\n"
    "# a comment line, then a blank line\n"
    "\n"
    "\\#literal-hash\n"
    "\\!literal-bang\n"
    "trailing-space   \n"
    "escaped-space\\ \n"
    "!important.log\n"
    "/anchored.txt\n"
    "build/\n"
    "docs/*.html\n"
    "**/cache\n"
    "out/**\n"
    "a/**/deep.tmp\n"
    "report?.csv\n"
    "img[0-9].png\n"
    "!**/node_modules/**\n"
    "/node_modules\n"
    "foo/**/\n"
    "tracked-but-ignored.txt\n",
    "keep.log": "",
    "important.log": "",
    "#literal-hash": "",
    "!literal-bang": "",
    "trailing-space": "",
    "escaped-space ": "",
    "escaped-space": "",
    "anchored.txt": "",
    "sub/anchored.txt": "",
    "build/output.o": "",
    "src/build/output.o": "",
    "lib/build": "",  # a file named build: `build/` matches folders only
    "docs/index.html": "",
    "docs/api/index.html": "",
    "docs/readme.md": "",
    "cache/x": "",
    "src/cache/y": "",
    "src/cache.py": "",
    "out/a": "",
    "out/sub/b": "",
    "a/deep.tmp": "",
    "a/b/c/deep.tmp": "",
    "a/b/shallow.tmp": "",
    "report1.csv": "",
    "report10.csv": "",
    "img5.png": "",
    "imgx.png": "",
    "node_modules/lib/index.js": "",
    "pkg/node_modules/lib/index.js": "",
    "foo/file": "",
    "foo/bar/file": "",
    "star/.gitignore": "*\n!*/\n!*.py\n",
    "star/a.py": "",
    "star/b.txt": "",
    "star/deeper/c.py": "",
    "star/deeper/d.md": "",
    "nested/.gitignore": "*.txt\n!keep.txt\n/local-only\n",
    "nested/a.txt": "",
    "nested/keep.txt": "",
    "nested/local-only": "",
    "nested/inner/local-only": "",
    "nested/inner/.gitignore": "!a.txt\n",
    "nested/inner/a.txt": "",
    "nested/inner/b.txt": "",
    "excluded-dir/.gitignore": "",
    "reinclude/.gitignore": "ignored-dir/\n!ignored-dir/wanted\n",
    "reinclude/ignored-dir/wanted": "",
    "names/with space.txt": "",
    "names/#hash": "",
    "names/caf\u00e9-\u65e5\u672c.txt": "",
    "tracked-but-ignored.txt": "",
}


def rule_shapes_tree(root: Path) -> None:
    """Write the files of `RULE_SHAPES` below ``root``."""
    write_tree(root, RULE_SHAPES)
