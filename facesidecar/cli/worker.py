"""``facesidecar worker SCHEDULER``: lend this machine's cores to a scan (issue 18).

A thin wrapper around ``dask worker``: one single-threaded process per core (dlib runs one photo at
a time per process), the face model loaded before the first task (:mod:`facesidecar.adapters.dask_preload`),
and the TLS files of the config's ``[cluster]`` section. The worker needs no access to the photos:
they arrive as bytes and only boxes and vectors go back.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..config import check_cluster_tls
from ..extras import require
from ..workers import worker_count
from .common import settings_from

WORKER_ENVIRONMENT = {
    # Dask's nanny starts its workers with MALLOC_TRIM_THRESHOLD_=65536, which also switches off glibc's
    # growing mmap threshold: every photo's decode buffers were mapped and zeroed afresh, and the same
    # 40 camera photos took 21-22 CPU seconds instead of 17-18. Workers keep glibc's defaults (and
    # their memory between photos, as the local worker processes do).
    "DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON": "{'MALLOC_TRIM_THRESHOLD_': None}",
    # Idle, a nanny and two workers used 90 ms of CPU a second (the statistical profiler sampling every
    # 10 ms, event-loop ticks every 20 ms, monitors): 5 % of a 2-core desktop, during the photos too.
    # With these, 10 ms a second.
    "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
    "DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL": "1s",
    "DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__INTERVAL": "2s",
    "DASK_DISTRIBUTED__WORKER__MEMORY__MONITOR_INTERVAL": "1s",
}
"""Dask settings of the workers ``facesidecar worker`` starts; a value set by the user wins."""


def dask_worker_command(args: argparse.Namespace, settings) -> list[str]:
    cluster = settings.cluster
    nworkers = worker_count(args.nworkers or settings.engine.workers)
    command = [sys.executable, "-m", "distributed.cli.dask_worker", args.scheduler,
               "--nworkers", str(nworkers), "--nthreads", "1",
               "--preload", "facesidecar.adapters.dask_preload", "--no-dashboard"]
    for option, value in (("--host", args.host), ("--name", args.name), ("--tls-ca-file", cluster.tls_ca_file),
                          ("--tls-cert", cluster.tls_client_cert), ("--tls-key", cluster.tls_client_key)):
        if value:
            command += [option, value]
    return command


def run(args: argparse.Namespace) -> int:
    require("distributed", "cluster", "facesidecar worker")
    settings = settings_from(args)
    check_cluster_tls(args.scheduler, settings.cluster, args.config or "the config's [cluster] section")
    if args.config:
        os.environ["FACESIDECAR_CONFIG"] = os.path.abspath(args.config)
    if settings.cluster.require_encryption:  # dask worker has no option for it
        os.environ["DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION"] = "True"
    for name, value in WORKER_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    command = dask_worker_command(args, settings)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)  # the Dask worker takes over this process (and its signals)
    return 1  # not reached


def register(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "worker", parents=[parent], help="analyse photos for a scan on another machine (a Dask worker)",
        description="Start a Dask worker that analyses photos for facesidecar scans whose config names this "
        "scheduler in [cluster] scheduler. One process per core (engine.workers or --nworkers), the face model "
        "loaded at start; TLS files come from this machine's [cluster] section. Needs the 'cluster' extra. "
        "Stop it with Ctrl-C; scans go on without it.",
    )
    parser.add_argument("scheduler", metavar="SCHEDULER", help="the scheduler's address, e.g. tls://homeserver:8786")
    parser.add_argument("--nworkers", type=int, default=0, help="worker processes (default: engine.workers, else one per core)")
    parser.add_argument("--host", default="", help="address to listen on (default: Dask's choice)")
    parser.add_argument("--name", default="", help="a name for this worker in the scheduler's list")
    parser.set_defaults(func=run)
