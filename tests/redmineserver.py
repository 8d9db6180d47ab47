"""A real Redmine 5 for tests (importable as ``redmineserver``), from Debian's ``redmine`` package.

Set-up (``rake db:migrate`` + default data + a ``rails runner`` script that enables the REST API,
makes the admin's API key, a project ``rcm`` and an ``External ID`` issue custom field) takes ~25 s,
so the prepared SQLite database is cached under ``$TMPDIR/rcmgw-redmine-cache/<package version>/``;
each session copies it into a fresh instance directory and starts ``thin`` on a free loopback port.

Debian's Redmine finds its instance under ``/usr/share/redmine/instances/$REDMINE_INSTANCE``; the
instance name here is a ``../``-path that resolves to the temp directory both lexically and through
the ``instances -> /var/lib/redmine`` symlink, so nothing is written outside temp dirs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pgserver import free_port

REDMINE_ROOT = Path("/usr/share/redmine")
SETUP_RB = """
Redmine::DefaultData::Loader.load('en') unless Tracker.exists?
Setting.rest_api_enabled = '1'
admin = User.find_by_login('admin')
admin.must_change_passwd = false
admin.save!
cf = IssueCustomField.find_by_name('External ID') || IssueCustomField.create!(
  name: 'External ID', field_format: 'string', is_for_all: true, searchable: true,
  is_filter: true, trackers: Tracker.all.to_a)
project = Project.find_by_identifier('rcm') || Project.create!(
  name: 'RCM', identifier: 'rcm', is_public: false, tracker_ids: Tracker.pluck(:id),
  enabled_module_names: ['issue_tracking'])
puts 'RCMGW-SETUP ' + { 'api_key' => admin.api_key, 'custom_field_id' => cf.id,
  'project' => project.identifier }.to_json
"""


@dataclass
class RedmineServer:
    url: str
    api_key: str
    custom_field_id: int
    project: str
    process: subprocess.Popen[bytes]

    def issues(self) -> list[dict[str, object]]:
        """Every issue of the project (all statuses)."""
        response = httpx.get(
            f"{self.url}/issues.json",
            params={"project_id": self.project, "status_id": "*", "limit": 100},
            headers={"X-Redmine-API-Key": self.api_key},
            timeout=30,
        )
        response.raise_for_status()
        found: list[dict[str, object]] = response.json()["issues"]
        return found


def _instance_name(path: Path) -> str:
    return "../" * 12 + str(path).lstrip("/")


def _version() -> str:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "redmine"], capture_output=True, check=False, text=True
    )
    return out.stdout.strip() or "unknown"


def _make_instance(root: Path, db: Path) -> None:
    for sub in ("config", "files", "log", "tmp", "public"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "config" / "database.yml").write_text(
        f"production:\n  adapter: sqlite3\n  database: {db}\n  timeout: 10000\n", encoding="utf-8"
    )
    (root / "config" / "secret_key.txt").write_text(os.urandom(32).hex(), encoding="utf-8")


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "REDMINE_INSTANCE": _instance_name(root), "RAILS_ENV": "production"}


def prepared_database() -> tuple[Path, dict[str, object]]:
    """The cached, migrated and configured database and its set-up facts (built when missing)."""
    cache = Path(tempfile.gettempdir()) / "rcmgw-redmine-cache" / _version()
    db, facts_file = cache / "redmine.sqlite3", cache / "setup.json"
    if db.is_file() and facts_file.is_file():
        return db, json.loads(facts_file.read_text(encoding="utf-8"))
    build = Path(tempfile.mkdtemp(prefix="rcmgw-redmine-build-"))
    try:
        _make_instance(build, build / "redmine.sqlite3")
        env = _env(build)
        subprocess.run(
            ["bundle", "exec", "rake", "db:migrate"], cwd=REDMINE_ROOT, env=env, check=True,
            capture_output=True, timeout=600,
        )  # fmt: skip
        (build / "setup.rb").write_text(SETUP_RB, encoding="utf-8")
        out = subprocess.run(
            ["bundle", "exec", "rails", "runner", str(build / "setup.rb")], cwd=REDMINE_ROOT, env=env,
            check=True, capture_output=True, timeout=600, text=True,
        )  # fmt: skip
        line = next(x for x in out.stdout.splitlines() if x.startswith("RCMGW-SETUP "))
        facts = json.loads(line.removeprefix("RCMGW-SETUP "))
        cache.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(build / "redmine.sqlite3", cache / "redmine.sqlite3.tmp")
        (cache / "redmine.sqlite3.tmp").replace(db)
        facts_file.write_text(json.dumps(facts), encoding="utf-8")
        return db, facts
    finally:
        shutil.rmtree(build, ignore_errors=True)


@pytest.fixture(scope="session")
def redmine() -> Iterator[RedmineServer]:
    """A running Redmine with the REST API on, for the whole session."""
    if not (REDMINE_ROOT / "config.ru").is_file() or shutil.which("thin") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Redmine (apt: redmine redmine-sqlite thin) is not installed")
        pytest.skip("Redmine (apt: redmine redmine-sqlite thin) is not installed")
    cached, facts = prepared_database()
    root = Path(tempfile.mkdtemp(prefix="rcmgw-redmine-"))
    db = root / "redmine.sqlite3"
    shutil.copyfile(cached, db)
    _make_instance(root, db)
    port = free_port()
    log = (root / "thin.log").open("wb")
    process = subprocess.Popen(
        ["thin", "-R", "config.ru", "-a", "127.0.0.1", "-p", str(port), "-e", "production", "start"],
        cwd=REDMINE_ROOT, env=_env(root), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = RedmineServer(
        url=f"http://127.0.0.1:{port}",
        api_key=str(facts["api_key"]),
        custom_field_id=int(str(facts["custom_field_id"])),
        project=str(facts["project"]),
        process=process,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError((root / "thin.log").read_text(errors="replace")[-2000:])
            try:
                server.issues()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)
