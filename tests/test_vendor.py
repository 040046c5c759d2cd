"""The vendored browser libraries (frontend/vendor/) are what the script's pins say: every file's
sha256 is the manifest's, the manifest names the pinned versions and tarball integrities, and running
the script again from the npm registry writes the same bytes."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from durable_chat.frontend.vendor import MANIFEST, PACKAGES, VENDOR_DIR

# What the pages load.
PAGE_FILES = {'marked.min.js', 'purify.min.js', 'highlight.min.js', 'hljs-light.css', 'hljs-dark.css'}


def _manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / MANIFEST).read_text())


def test_every_vendored_file_matches_the_manifest_and_the_manifest_the_pins() -> None:
    manifest = _manifest(VENDOR_DIR)
    pinned = [(p.name, p.version, p.integrity, p.tarball, p.files) for p in PACKAGES]
    listed = [
        (p['name'], p['version'], p['integrity'], p['tarball'], {f['from']: n for n, f in p['files'].items()})
        for p in manifest['packages']
    ]
    assert listed == pinned

    recorded = {name: f['sha256'] for p in manifest['packages'] for name, f in p['files'].items()}
    on_disk = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in VENDOR_DIR.iterdir()}
    assert on_disk.pop(MANIFEST)
    assert on_disk == recorded  # nothing missing, changed or unlisted
    assert PAGE_FILES <= recorded.keys()
    # Every package brings its licence text.
    for package in manifest['packages']:
        assert any('LICENSE' in name for name in package['files']), package['name']


def test_the_script_rewrites_the_same_bytes_from_the_registry(tmp_path: Path) -> None:
    out = tmp_path / 'vendor'
    subprocess.run([sys.executable, '-m', 'durable_chat.frontend.vendor', str(out)], check=True, timeout=120)
    written = {path.name: path.read_bytes() for path in out.iterdir()}
    committed = {path.name: path.read_bytes() for path in VENDOR_DIR.iterdir()}
    assert written.keys() == committed.keys()
    for name, data in written.items():
        assert data == committed[name], name
