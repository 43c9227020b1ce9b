"""The worker's gate: which queued jobs are cftoken's own."""

from __future__ import annotations

import json
import zlib

import pytest
from rq import Callback
from rq.job import Job
from rq.serializers import JSONSerializer

from domain.queueing import JOBS, job_queue
from workers.job_gate import GatedJob, JobRefused, refusal


def json_job(conn, func_name, **options) -> Job:
    created = Job.create(func_name, connection=conn, serializer=JSONSerializer, **options)
    created.save()
    return GatedJob.fetch(created.id, connection=conn, serializer=JSONSerializer)


@pytest.mark.parametrize("name", sorted(JOBS))
def test_our_jobs_pass(redis_conn, name):
    assert refusal(json_job(redis_conn, name)) is None


@pytest.mark.parametrize("name", ["os.getenv", "os.system", "workers.jobs.log", "workers.operations.runner.run_operation", ""])
def test_any_other_function_is_refused_before_it_is_imported(redis_conn, name):
    job = json_job(redis_conn, name or "x")
    assert "is not one of cftoken's job functions" in refusal(job)
    with pytest.raises(JobRefused):
        job.func  # noqa: B018 - the property is the door


@pytest.mark.parametrize("hook", ["on_success", "on_failure", "on_stopped"])
def test_our_job_carrying_an_rq_callback_is_refused(redis_conn, hook):
    job = json_job(redis_conn, "workers.jobs.reconcile", **{hook: Callback("os.getenv")})
    assert "callbacks or webhooks" in refusal(job)
    assert job.success_callback is None and job.failure_callback is None and job.stopped_callback is None


def test_a_pickled_job_is_refused_without_being_unpickled(redis_conn):
    from rq import Queue

    pickled = Queue(connection=redis_conn).enqueue_call("workers.jobs.reconcile")
    job = GatedJob.fetch(pickled.id, connection=redis_conn, serializer=JSONSerializer)
    assert "not JSON" in refusal(job)


def test_the_shared_queue_writes_json(redis_conn):
    job = job_queue(redis_conn).enqueue_call("workers.jobs.reconcile")
    data = zlib.decompress(redis_conn.hget(job.key, "data"))
    assert json.loads(data) == ["workers.jobs.reconcile", None, [], {}]
