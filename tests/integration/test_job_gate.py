"""Redis write access is not code execution: the Procfile's real `worker` runs only cftoken's own jobs.

Jobs are put on the queue by hand, as anyone who can write to Redis could: pickled (whose mere reading would run
code), JSON naming a function that is not ours, and one of ours carrying an RQ callback. None runs, none leaves
a return value, the secret they ask for is nowhere in Redis, and a genuine job queued after them still runs.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from rq import Callback, Queue
from rq.job import Job, JobStatus
from rq.results import Result
from rq.serializers import JSONSerializer

from domain.queueing import enqueue_verify, job_queue
from standins.world import APPROVERS, CHANNEL, CLIENT_SECRET
from tests.integration.test_processes import procfile_command, run_env

pytestmark = pytest.mark.integration


class MakesADirectoryWhenUnpickled:
    """A pickle gadget: unpickling it calls os.makedirs(path), the way a forged pickled job would run code."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return os.makedirs, (self.path,)


def every_value_in(conn) -> bytes:
    """Every string, hash, list, set and sorted-set value in the database, concatenated."""
    chunks = []
    for key in conn.scan_iter():
        kind = conn.type(key)
        if kind == b"string":
            chunks.append(conn.get(key))
        elif kind == b"hash":
            chunks.extend(b"%s=%s" % item for item in conn.hgetall(key).items())
        elif kind == b"list":
            chunks.extend(conn.lrange(key, 0, -1))
        elif kind in (b"set", b"zset"):
            chunks.extend(conn.smembers(key) if kind == b"set" else conn.zrange(key, 0, -1))
        elif kind == b"stream":
            chunks.extend(repr(entry).encode() for entry in conn.xrange(key))
    return b"\n".join(chunks)


def test_jobs_that_are_not_ours_do_not_run_and_leave_no_result(world, redis_conn, redis_url, tmp_path):
    pickled = Queue(connection=redis_conn)  # RQ's default serializer: pickle
    as_json = Queue(connection=redis_conn, serializer=JSONSerializer)
    forged = [
        pickled.enqueue_call("os.getenv", args=("INFISICAL_CLIENT_SECRET",)),
        pickled.enqueue_call("os.getenv", args=("CFTOKEN_SECRET_KEY",),
                             kwargs={"gadget": MakesADirectoryWhenUnpickled(str(tmp_path / "unpickled"))}),
        as_json.enqueue_call("os.getenv", args=("INFISICAL_CLIENT_SECRET",)),
        as_json.enqueue_call("os.makedirs", args=(str(tmp_path / "called"),)),
        as_json.enqueue_call("workers.jobs.verify_token", kwargs={"name": "CF_DNS_EDIT_GETRAXX_COM"},
                             on_success=Callback("os.getenv")),
    ]
    genuine = enqueue_verify(job_queue(redis_conn), name="CF_WAF_EDIT_RAXX_APP", requested_by=APPROVERS[0])

    result = subprocess.run(
        [*procfile_command("worker"), "--burst"], env=run_env(world, redis_url), capture_output=True, text=True,
        timeout=120,
    )
    log = result.stdout + result.stderr

    assert result.returncode == 0, log
    for job in forged:
        stored = Job.fetch(job.id, connection=redis_conn, serializer=JSONSerializer)
        assert stored.get_status() == JobStatus.FAILED, log
        assert stored.return_value() is None
        assert stored.latest_result().type == Result.Type.FAILED
        assert f"cftoken worker: refused job {job.id}: " in log
    assert not (tmp_path / "unpickled").exists() and not (tmp_path / "called").exists()
    assert CLIENT_SECRET.encode() not in every_value_in(redis_conn)
    assert "it was not run" in log and "Traceback" not in log
    transcript = world.slack.channel_transcript(CHANNEL)
    assert "CF_DNS_EDIT_GETRAXX_COM" not in transcript  # the verify carrying a callback never ran
    assert "CF_WAF_EDIT_RAXX_APP" in transcript  # the genuine job queued after them did
    assert Job.fetch(genuine.id, connection=redis_conn, serializer=JSONSerializer).get_status() == JobStatus.FINISHED


def test_a_forged_abandoned_job_does_not_get_its_failure_callback_run_by_the_registry_cleanup(world, redis_conn,
                                                                                           redis_url):
    """RQ's maintenance fails 'abandoned' jobs in the started registry and calls their failure callback: not ours."""
    forged = Job.create("workers.jobs.reconcile", connection=redis_conn, serializer=JSONSerializer,
                        id="forged-abandoned", on_failure=Callback("builtins.print"), origin="default")
    forged.save()
    redis_conn.zadd("rq:wip:default", {f"{forged.id}:execution": 1})  # "started" long ago, never finished

    result = subprocess.run(
        [*procfile_command("worker"), "--burst"], env=run_env(world, redis_url), capture_output=True, text=True,
        timeout=120,
    )
    log = result.stdout + result.stderr

    assert result.returncode == 0, log
    assert "<Job forged-abandoned:" not in log, log  # print(job, connection, …) was never called
    assert "Moved to FailedJobRegistry, due to AbandonedJobError" in log  # the cleanup did reach it
