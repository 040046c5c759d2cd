"""The production stack (`docker-compose.yml`, `Dockerfile`, `.dockerignore`), checked without a
docker engine: against the Compose Specification's JSON schema (a copy in tests/compose_data/),
against the project's own settings, console script and packages, and with `docker compose config`
when a compose CLI is installed.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from durable_chat import cli
from durable_chat.payload_store import store_dir
from durable_chat.settings import Settings
from durable_chat.testing.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / 'docker-compose.yml'
SCHEMA_FILE = Path(__file__).resolve().parent / 'compose_data' / 'compose-spec.json'
PREFIX = Settings.model_config['env_prefix']

APP_SERVICES = {'api', 'worker-1', 'worker-2', 'memory-worker'}
WORKERS = APP_SERVICES - {'api'}
SERVICES = APP_SERVICES | {'postgresql', 'temporal', 'temporal-ui', 'redis', 'qdrant'}
STATEFUL = {
    'postgresql': '/var/lib/postgresql/data',
    'redis': '/data',
    'qdrant': '/qdrant/storage',
}
NEEDED_SETTINGS = {
    'api': {'temporal_address', 'redis_url', 'secret_key', 'host', 'temporal_ui_url'},
    'worker-1': {'temporal_address', 'redis_url', 'worker_roles', 'model'},
    'worker-2': {'temporal_address', 'redis_url', 'worker_roles', 'model'},
    'memory-worker': {'temporal_address', 'qdrant_url', 'worker_roles'},
}
ROLES = {'worker-1': {'chat'}, 'worker-2': {'chat'}, 'memory-worker': {'memory'}}
HEALTHCHECK_SCRIPT = '/usr/local/bin/durable-chat-healthcheck'

INTERPOLATION = re.compile(r'\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}')


@pytest.fixture(scope='module')
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope='module')
def services(compose: dict) -> dict[str, dict]:
    return compose['services']


def environment(service: dict) -> dict[str, str | None]:
    env = service.get('environment') or {}
    if isinstance(env, list):
        return dict(item.split('=', 1) if '=' in item else (item, None) for item in env)
    return {key: None if value is None else str(value) for key, value in env.items()}


def resolved(value: str) -> str:
    """The value compose would use with no variables set: `${X:-default}` is its default."""

    def substitute(match: re.Match[str]) -> str:
        op = match['op'] or ''
        if op.endswith('-'):
            return match['arg']
        if op.endswith('?'):
            return 'a-required-value'
        return ''

    return INTERPOLATION.sub(substitute, value)


def settings_of(service: dict) -> dict[str, str]:
    """The service's DURABLE_CHAT_* variables by settings field, those with a value resolved."""
    return {
        name.removeprefix(PREFIX).lower(): resolved(value)
        for name, value in environment(service).items()
        if name.startswith(PREFIX) and value is not None
    }


# --- the Compose Specification -------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification(compose: dict) -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    errors = [f'{"/".join(map(str, e.absolute_path))}: {e.message}' for e in validator.iter_errors(compose)]
    assert errors == []
    assert 'version' not in compose, 'the top-level `version` key is obsolete in the Compose Specification'

    # The schema is strict enough to matter: a misspelt key is refused.
    misspelt = {
        **compose,
        'services': {**compose['services'], 'api': {**compose['services']['api'], 'helthcheck': {}}},
    }
    assert not validator.is_valid(misspelt)


def test_the_stack_has_every_service(services: dict[str, dict]) -> None:
    assert set(services) == SERVICES


def test_every_service_has_a_healthcheck(services: dict[str, dict]) -> None:
    for name, service in services.items():
        check = service.get('healthcheck')
        assert check, f'{name} has no healthcheck'
        assert not check.get('disable'), name
        assert check['test'][0] in {'CMD', 'CMD-SHELL'} and len(check['test']) > 1, name


def test_services_wait_for_the_servers_they_use(services: dict[str, dict]) -> None:
    """Each app service waits for every server its settings name to be healthy."""
    for name in APP_SERVICES:
        settings = settings_of(services[name])
        hosts = {settings['temporal_address'].rsplit(':', 1)[0]}
        hosts |= {urlsplit(settings[url]).hostname for url in ('redis_url', 'qdrant_url') if url in settings}
        assert hosts <= set(services), f'{name} names servers the stack lacks: {hosts - set(services)}'
        depends_on = services[name]['depends_on']
        for host in hosts:
            condition = depends_on.get(host, {}).get('condition')
            assert condition == 'service_healthy', f'{name} does not wait for {host} to be healthy'
    assert services['temporal']['depends_on']['postgresql']['condition'] == 'service_healthy'
    assert services['temporal-ui']['depends_on']['temporal']['condition'] == 'service_healthy'


# --- settings --------------------------------------------------------------------------------------


def test_every_durable_chat_variable_is_a_setting(services: dict[str, dict]) -> None:
    for name, service in services.items():
        for variable in environment(service):
            if variable.startswith(PREFIX):
                field_name = variable.removeprefix(PREFIX).lower()
                assert field_name in Settings.model_fields, f'{name} sets {variable}, which is no setting'


def test_services_get_the_settings_the_production_shape_needs(services: dict[str, dict]) -> None:
    for name, needed in NEEDED_SETTINGS.items():
        settings = settings_of(services[name])
        assert needed <= set(settings), f'{name} lacks {needed - set(settings)}'
        # The values are valid settings (types, bounds), read as the process would read them.
        Settings(_env_file=None, **settings)

    api = environment(services['api'])
    assert api[f'{PREFIX}HOST'] == '0.0.0.0'
    # The secret key comes from where compose runs, and compose refuses to start without one.
    assert re.fullmatch(r'\$\{DURABLE_CHAT_SECRET_KEY:\?.+\}', api[f'{PREFIX}SECRET_KEY'] or '')
    assert 'secret_key' not in set().union(*(settings_of(services[n]) for n in WORKERS)), (
        'workers sign nothing: keep the secret on the API'
    )

    for name, roles in ROLES.items():
        settings = Settings(_env_file=None, **settings_of(services[name]))
        assert settings.roles == roles, name
        if 'memory' in settings.roles:
            assert settings.qdrant_url, f'{name} would open Qdrant in local mode inside its container'


# --- state -----------------------------------------------------------------------------------------


def test_stateful_services_keep_their_data_in_named_volumes(compose: dict, services: dict[str, dict]) -> None:
    declared = set(compose.get('volumes') or {})
    used = set()
    for name, target in STATEFUL.items():
        mounts = {}
        for volume in services[name].get('volumes', []):
            if isinstance(volume, str):
                source, _, rest = volume.partition(':')
                mounts[rest.split(':')[0]] = source
            else:
                mounts[volume['target']] = (
                    volume.get('source', '') if volume.get('type', 'volume') == 'volume' else ''
                )
        source = mounts.get(target)
        assert source in declared, (
            f'{name} keeps {target} in {source!r}, not a named volume declared at top level'
        )
        used.add(source)
    assert used | {PAYLOADS_VOLUME} == declared, f'volumes declared but unused: {declared - used}'
    assert services['redis']['command'][-2:] == ['--appendonly', 'yes'], 'Redis must persist its streams'


PAYLOADS_VOLUME = 'payloads'


def test_every_app_process_shares_the_payload_store(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    """Histories refer to large payloads in the store: each process must read what another wrote."""
    assert PAYLOADS_VOLUME in (compose.get('volumes') or {})
    store = store_dir(Settings(data_dir=Path('/data')))  # the image's DURABLE_CHAT_DATA_DIR
    for name in APP_SERVICES:
        assert f'{PAYLOADS_VOLUME}:{store}' in services[name].get('volumes', []), name


# --- the image -------------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    arguments: str
    heredocs: list[str] = field(default_factory=list)


def dockerfile_instructions(path: Path) -> list[Instruction]:
    """Instructions with their line continuations joined and heredoc bodies collected."""
    instructions: list[Instruction] = []
    lines = iter(path.read_text().splitlines())
    for line in lines:
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        while line.endswith('\\'):
            line = line[:-1] + next(lines)
        keyword, _, arguments = line.strip().partition(' ')
        instruction = Instruction(keyword.upper(), arguments.strip())
        for delimiter in re.findall(r'<<-?["\']?(\w+)["\']?', arguments):
            body = []
            for body_line in lines:
                if body_line == delimiter:
                    break
                body.append(body_line)
            instruction.heredocs.append('\n'.join(body) + '\n')
        instructions.append(instruction)
    return instructions


@pytest.fixture(scope='module')
def final_stage() -> list[Instruction]:
    instructions = dockerfile_instructions(ROOT / 'Dockerfile')
    last_from = max(i for i, instruction in enumerate(instructions) if instruction.keyword == 'FROM')
    return instructions[last_from:]


def test_the_image_runs_the_console_script_as_a_non_root_user(final_stage: list[Instruction]) -> None:
    scripts = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['scripts']
    commands = [json.loads(i.arguments) for i in final_stage if i.keyword in {'CMD', 'ENTRYPOINT'}]
    assert commands, 'the image has no CMD or ENTRYPOINT'
    assert commands[-1][0] in scripts, f'{commands[-1][0]!r} is not a console script of pyproject.toml'
    assert commands[-1] == ['durable-chat', 'api']
    users = [i.arguments for i in final_stage if i.keyword == 'USER']
    assert users and users[-1] not in {'root', '0'}, 'the image runs as root'


def test_compose_runs_durable_chat_commands_that_exist(
    services: dict[str, dict], capsys: pytest.CaptureFixture[str]
) -> None:
    for name in APP_SERVICES:
        service = services[name]
        assert service['build'] == '.' and service['image'] == services['api']['image'], name
        program, command = service['command']
        assert program == 'durable-chat'
        assert command == ('api' if name == 'api' else 'worker')
        with pytest.raises(SystemExit) as exited:
            cli.main([command, '--help'])
        assert exited.value.code == 0, f'`durable-chat {command}` is no command'
    capsys.readouterr()


def test_app_healthchecks_use_the_script_the_image_installs(
    services: dict[str, dict], final_stage: list[Instruction]
) -> None:
    installed = [i for i in final_stage if i.keyword == 'COPY' and i.arguments.endswith(HEALTHCHECK_SCRIPT)]
    assert installed and '--chmod=0755' in installed[0].arguments
    script_name = Path(HEALTHCHECK_SCRIPT).name
    for name in APP_SERVICES:
        mode = 'api' if name == 'api' else 'worker'
        assert services[name]['healthcheck']['test'] == ['CMD', script_name, mode], name


def test_python_in_the_dockerfile_compiles(final_stage: list[Instruction]) -> None:
    sources = [body for instruction in final_stage for body in instruction.heredocs]
    assert sources
    for source in sources:
        compile(source, 'Dockerfile heredoc', 'exec')


def test_the_build_proves_the_embedding_model_ships_in_the_image(final_stage: list[Instruction]) -> None:
    """A container downloads nothing at run time: the build embeds a text with the network off."""
    offline = [i for i in final_stage if i.keyword == 'RUN' and i.arguments.startswith('--network=none ')]
    assert any(
        'build_embedder' in body and "embedding_model='offline'" in body
        for i in offline
        for body in i.heredocs
    )


@pytest.fixture
def page_server() -> Iterator[int]:
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == '/' else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_the_api_healthcheck_answers_for_the_page(final_stage: list[Instruction], page_server: int) -> None:
    script = next(i for i in final_stage if i.arguments.endswith(HEALTHCHECK_SCRIPT)).heredocs[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}

    def check(port: int) -> int:
        run_env = {**env, f'{PREFIX}PORT': str(port)}
        return subprocess.run(
            [sys.executable, '-', 'api'], input=script, text=True, env=run_env, cwd=ROOT, capture_output=True
        ).returncode

    assert check(page_server) == 0
    assert check(free_port()) == 1


def test_the_build_context_holds_the_installable_project() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / '.dockerignore').read_text().splitlines()
        if line.strip() and not line.startswith('#')
    ]
    assert patterns[0] == '*', 'an allowlist keeps .env, .data and .git out of the image'
    allowed = {pattern.removeprefix('!').rstrip('/') for pattern in patterns if pattern.startswith('!')}
    setuptools = tomllib.loads((ROOT / 'pyproject.toml').read_text())['tool']['setuptools']
    packages = {pattern.rstrip('*') for pattern in setuptools['packages']['find']['include']}
    # The card's folders install as durable_chat.api and so on through links inside durable_chat/,
    # so the folders the links point at must reach the image too.
    linked = {link.readlink().name for link in (ROOT / 'durable_chat').iterdir() if link.is_symlink()}
    assert linked == {'api', 'workflows', 'memory', 'frontend'}
    assert {'pyproject.toml', 'README.md'} | packages | linked <= allowed


# --- docker compose itself -------------------------------------------------------------------------


def compose_cli() -> list[str] | None:
    docker = shutil.which('docker')
    if docker is None:
        return None
    found = subprocess.run([docker, 'compose', 'version'], capture_output=True, text=True)
    return [docker, 'compose'] if found.returncode == 0 else None


def test_docker_compose_reads_the_file() -> None:
    command = compose_cli()
    if command is None:
        pytest.skip('no `docker compose` plugin here; the schema test above still validates the file')
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    # No .env: a developer's own file must not supply (or spoil) the variables under test.
    config = [*command, '--project-directory', str(ROOT), '--env-file', os.devnull, '-f', str(COMPOSE_FILE)]
    config += ['config', '--quiet']

    ok = subprocess.run(
        config, env={**env, f'{PREFIX}SECRET_KEY': 'a-test-key'}, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr

    refused = subprocess.run(config, env=env, capture_output=True, text=True)
    assert refused.returncode != 0
    assert f'{PREFIX}SECRET_KEY' in refused.stderr
