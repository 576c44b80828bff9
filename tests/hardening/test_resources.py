"""Resource bounds, quick variant of bench/daemon_soak.py: the real daemon on an indexed library of
2 000 photos takes a stream of 300 changes (new photos, typed names, deletions) and stays under its
memory limit without growing. The full run (100 000 files, 10 000 events) is the bench. The daemon
runs as it does by default: photos are analysed in its worker processes."""

from __future__ import annotations

import pytest

from tests.support import daemon_soak


@pytest.mark.slow
@pytest.mark.usefixtures("worker_pool")
def test_daemon_memory_stays_bounded_under_a_stream_of_changes(tmp_path, shared_faces, capsys):
    result = daemon_soak.run(files=2000, events=300, hot=5, batch=20, limit_mb=1000, work=tmp_path,
                             log=lambda line: None)
    with capsys.disabled():
        print(f"\ndaemon soak: {result.line()}\nRSS curve: {result.curve(6)}")
    assert result.events == 300
    assert result.peak < result.limit_mb, "RSS passed daemon.memory_limit_mb"
    assert result.growth < 40, f"RSS grew by {result.growth:.0f} MB over the stream"
    assert result.stop_seconds < daemon_soak.STOP_LIMIT, f"SIGTERM took {result.stop_seconds:.1f} s"
    assert len(result.job_seconds) == 300
