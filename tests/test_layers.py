"""The package's layers point down (docs/architecture.md, "Where each concern lives"), and the API
process loads none of the workflow's implementation."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import durable_chat

PACKAGE = Path(durable_chat.__file__).parent

GROUND = (
    'durable_chat.settings',
    'durable_chat.payload_store',
    'durable_chat.temporal',
    'durable_chat.redis_clients',
)
ALLOWED: dict[str, tuple[str, ...]] = {
    # A module under the key may import durable_chat modules under these prefixes, and nothing else.
    'durable_chat.settings': (),
    'durable_chat.payload_store': ('durable_chat.settings',),
    'durable_chat.temporal': ('durable_chat.settings', 'durable_chat.payload_store'),
    'durable_chat.redis_clients': ('durable_chat.settings',),
    'durable_chat.memory': (*GROUND, 'durable_chat.memory'),
    'durable_chat.workflows': (*GROUND, 'durable_chat.memory', 'durable_chat.workflows'),
    'durable_chat.api': (
        *GROUND,
        'durable_chat.api',
        'durable_chat.workflows.contract',
        'durable_chat.workflows.prepared_recall',  # the contract of a recall the API prepares
        'durable_chat.memory.types',
        'durable_chat.memory.operations',
    ),
    'durable_chat.cli': (
        'durable_chat.settings',
        'durable_chat.temporal',
        'durable_chat.api',
        'durable_chat.workflows',
        'durable_chat.embedded',
    ),
    'durable_chat.embedded': (*GROUND, 'durable_chat.workflows.contract'),
    'durable_chat.__main__': ('durable_chat.cli',),
    'durable_chat.frontend': (),
}


def _modules() -> dict[str, Path]:
    """Every module of the installed package except `durable_chat.testing` (which may use all)."""
    found: dict[str, Path] = {}
    paths = [
        Path(folder, file)
        for folder, _dirs, files in os.walk(PACKAGE, followlinks=True)  # into the links to api/ and so on
        for file in files
        if file.endswith('.py')
    ]
    for path in paths:
        parts = path.relative_to(PACKAGE).with_suffix('').parts
        if parts[0] == 'testing':
            continue
        name = '.'.join(('durable_chat', *parts)).removesuffix('.__init__')
        found[name] = path
    return found


def _imports(path: Path, module: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):  # lazy imports inside functions count too
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level:
                raise AssertionError(f'{module}: relative import of {node.module}')
            # `from durable_chat import temporal` imports the module durable_chat.temporal.
            bare = node.module == 'durable_chat'
            names.update(f'durable_chat.{alias.name}' for alias in node.names) if bare else names.add(
                node.module
            )
    return {name for name in names if name == 'durable_chat' or name.startswith('durable_chat.')}


def _layer(module: str) -> str | None:
    layers = [key for key in ALLOWED if module == key or module.startswith(f'{key}.')]
    return max(layers, key=len) if layers else None


def test_every_module_sits_in_a_layer() -> None:
    modules = _modules()
    # The links inside durable_chat/ are followed: the card's folders are parts of the package.
    assert {'durable_chat.api.app', 'durable_chat.workflows.session', 'durable_chat.memory.store'} <= set(
        modules
    )
    assert [module for module in modules if module != 'durable_chat' and _layer(module) is None] == []
    assert _imports(modules['durable_chat'], 'durable_chat') == set(), 'importing the package loads nothing'


def test_imports_point_down() -> None:
    wrong = []
    for module, path in sorted(_modules().items()):
        layer = _layer(module)
        if layer is None:
            continue
        for imported in sorted(_imports(path, module)):
            if not any(imported == prefix or imported.startswith(f'{prefix}.') for prefix in ALLOWED[layer]):
                wrong.append(f'{module} imports {imported}')
    assert wrong == []


def test_the_api_process_loads_no_agent_no_onnxruntime_no_qdrant() -> None:
    heavy = [
        'pydantic_ai',
        'onnxruntime',
        'qdrant_client',
        'durable_chat.workflows.session',
        'durable_chat.workflows.agent',
        'durable_chat.workflows.shared',
        'durable_chat.memory.store',
    ]
    probe = (
        'import sys, durable_chat.cli, durable_chat.api.app as app\n'
        'from durable_chat.settings import Settings\n'
        'app.create_app(Settings())\n'
        f'print(sorted(m for m in {heavy!r} if m in sys.modules))'
    )
    loaded = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == '[]'
