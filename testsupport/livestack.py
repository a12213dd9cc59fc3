"""A throwaway web server + task workers on a scratch database, for the live tests and bench/.

`LiveStack` creates its OWN database (a scratch PostgreSQL database next to DATABASE_URL's when
that is PostgreSQL, else a temporary SQLite file), migrates it in a subprocess, starts gunicorn,
the scoring `qcluster` (or several) and the mail `qcluster` as subprocesses with production
settings, and on exit stops exactly those processes (their process groups) and drops the
database. With `scratch=False` it serves DATABASE_URL's database itself and leaves it in place
(bench/api.py: a generated data set).
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveStack:
    def __init__(
        self,
        *,
        database_url=None,
        redis_url=None,
        web_workers=2,
        web_threads=4,
        q_workers=2,
        worker_nice=0,
        name="live",
        setup=(),
        email_backend="django.core.mail.backends.locmem.EmailBackend",
        environment=None,
        scratch=True,
        clusters=1,
    ):
        self.base_url_setting = (
            database_url if database_url is not None else os.environ.get("DATABASE_URL", "")
        )
        self.web_workers, self.web_threads, self.q_workers = web_workers, web_threads, q_workers
        self.worker_nice = worker_nice
        self.setup = setup  # manage.py commands (argument tuples) run after migrate, before start
        self.email_backend = email_backend  # e.g. a test backend whose provider hangs
        self.environment = environment or {}  # more settings for every process (EMAIL_TIMEOUT=...)
        self.redis_url = redis_url  # None: django-q2's ORM broker
        self.name = f"tutorscore_{name}_{os.getpid()}_{secrets.token_hex(3)}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = Path(tempfile.mkdtemp(prefix="tutorscore-live-"))
        self.secret_key = secrets.token_urlsafe(32)  # shared by web and worker: tasks are signed
        self.processes = []
        self.postgres = self.base_url_setting.startswith(("postgres://", "postgresql://"))
        self.scratch, self.clusters = scratch, clusters  # clusters: scoring `qcluster`s, 0 for none
        if self.postgres:
            parts = urlsplit(self.base_url_setting)
            self._admin_url = urlunsplit(parts._replace(path="/postgres"))
        if not scratch:
            self.database_url, self.name = self.base_url_setting, urlsplit(self.base_url_setting).path[1:]
        elif self.postgres:
            self.database_url = urlunsplit(parts._replace(path=f"/{self.name}"))
        else:
            self.database_url = f"sqlite:///{self.tmp / 'db.sqlite3'}"

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def start(self):
        if self.postgres and self.scratch:
            self._admin_sql(f'CREATE DATABASE "{self.name}"')
        self.manage("migrate", "--noinput")
        for command in self.setup:
            self.manage(*command)
        self._spawn(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "tutorscore.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.web_workers),
                "--worker-class",
                "gthread",  # keep-alive connections, like a production proxy would use
                "--threads",
                str(self.web_threads),
                "--no-control-socket",  # several servers on one machine must not share it
            ],
        )
        nice = ["nice", "-n", str(self.worker_nice)] if self.worker_nice else []
        for name in self.worker_names:
            self._spawn(name, [*nice, sys.executable, "-m", "tutorscore.worker"])
        self._spawn("worker-mail", [sys.executable, "-m", "tutorscore.worker"], Q_CLUSTER_NAME="mail")
        self.wait_until_ready()

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)  # our own group: server + its workers
                except ProcessLookupError:
                    pass
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        self.processes = []
        if self.postgres and self.scratch:
            try:
                self._admin_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            except Exception as exc:  # never hide the test's own failure behind a cleanup error
                print(f"livestack: could not drop {self.name}: {exc}", file=sys.stderr)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def wait_until_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        # The worker needs no handshake: tasks wait in the broker until it polls.
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"stack not ready after {timeout}s\n{self.logs()}")

    # --- helpers -------------------------------------------------------------------------------

    @property
    def env(self):
        env = {
            key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "PYTEST_XDIST_WORKER")
        }
        env.update(
            DJANGO_SETTINGS_MODULE="tutorscore.settings",  # production settings, not the test ones
            DATABASE_URL=self.database_url,
            SECRET_KEY=self.secret_key,
            DEBUG="false",
            SECURE_SSL_REDIRECT="false",
            SECURE_COOKIES="false",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            Q_SYNC="false",
            Q_WORKERS=str(self.q_workers),
            EMAIL_BACKEND=self.email_backend,
            PYTHONUNBUFFERED="1",
        )
        if self.redis_url:
            env.update(REDIS_URL=self.redis_url, Q_SITE_NAME=self.name)  # own queues on a shared Redis
        env.update(self.environment)
        return env

    def manage(self, *args, timeout=300):
        """Run a management command against the stack's database; returns its stdout."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def create_api_key(self, name="live"):
        return self.manage("create_api_key", name).strip()

    def request(self, method, path, payload=None, *, key=None, timeout=10):
        """(status, parsed JSON, or the text of a body that is not JSON) of one HTTP request."""
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if key:
            request.add_header("Authorization", f"Bearer {key}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        try:
            return status, json.loads(body or b"null")
        except ValueError:  # a server error page
            return status, body.decode(errors="replace")

    @property
    def worker_names(self):
        """Names (and log files) of the qcluster processes: worker, worker2, …"""
        return [f"worker{number + 1 if number else ''}" for number in range(self.clusters)]

    def log(self, name):
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self, tail=3000):
        names = ["web", *self.worker_names, "worker-mail"]
        return "\n".join(f"--- {name} ---\n{self.log(name)[-tail:]}" for name in names)

    def _spawn(self, name, command, **env):
        log = open(self.tmp / f"{name}.log", "w")  # noqa: SIM115 (closed with the process's group)
        process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() ends it and its children
        )
        process.name = name
        self.processes.append(process)
        return process

    def _check_alive(self):
        for process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"{process.name} exited with {process.returncode}\n{self.logs()}")

    def cpu_seconds(self, name="web"):
        """CPU (user + system) seconds spent so far by the live processes of one of our process
        groups ("web": gunicorn and its workers; "worker": the qcluster), read from Linux /proc."""
        [process] = [process for process in self.processes if process.name == name]
        return _cpu_seconds(lambda fields: int(fields[2]) == process.pid)  # the process group

    def database_cpu_seconds(self):
        """CPU seconds spent so far by the PostgreSQL backends now connected to our database."""
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as connection:
            pids = {
                row[0]
                for row in connection.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                )
            }
        return _cpu_seconds(lambda fields: False, pids=pids)

    def drop_connections(self):
        """Terminate every server connection to the scratch database, as a restart would."""
        self._admin_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{self.name}' AND pid <> pg_backend_pid()"
        )

    def _admin_sql(self, statement):
        import psycopg

        with psycopg.connect(self._admin_url, autocommit=True) as connection:
            connection.execute(statement)


def _cpu_seconds(matches, pids=()):
    """User + system CPU seconds of the processes in `pids` and of those whose /proc stat fields
    (after the command name: state, ppid, pgrp, …) `matches`."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(entry.name) in pids or matches(fields):
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks
