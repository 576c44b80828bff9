"""Where the API key comes from, how it is checked, and the rate and concurrency limits."""

from __future__ import annotations

import pytest

from facesidecar.config import ServeSettings
from facesidecar.errors import ConfigError
from facesidecar.serve.app import close_app, create_app
from facesidecar.serve.auth import key_matches, load_api_key
from facesidecar.serve.limits import RateLimiter, Slots
from facesidecar.serve.uploads import client_filename

from .conftest import API_KEY, settings_for

GOOD = "Zr8vY2kq9Lx4Tn6Wb1Pc"


def test_the_key_comes_from_an_owner_only_file_or_the_environment(tmp_path):
    key_file = tmp_path / "serve.key"
    key_file.write_text(GOOD + "\n")
    key_file.chmod(0o600)
    assert load_api_key(ServeSettings(api_key_file=str(key_file)), environ={}) == GOOD
    assert load_api_key(ServeSettings(), environ={"FACESIDECAR_API_KEY": GOOD}) == GOOD
    key_file.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_api_key(ServeSettings(api_key_file=str(key_file)), environ={})
    with pytest.raises(ConfigError, match="needs an API key"):
        load_api_key(ServeSettings(), environ={})
    for weak in ("short", "some-super-secret-api-key", "has spaces in it 0123456789"):
        with pytest.raises(ConfigError, match="too easy to guess"):
            load_api_key(ServeSettings(), environ={"FACESIDECAR_API_KEY": weak})


def test_keys_are_compared_whole():
    assert key_matches(GOOD, GOOD) and key_matches(f" {GOOD} ", GOOD)
    assert not key_matches(None, GOOD) and not key_matches("", GOOD) and not key_matches(GOOD[:-1], GOOD)
    assert not key_matches(GOOD + "x", GOOD) and not key_matches("Zr8vY2kq9Lx4Tn6Wb1Pd", GOOD)


def test_rate_limit_per_client_refills_over_time():
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    assert all(limiter.wait_time("a") == 0 for _ in range(60))
    assert limiter.wait_time("a") == pytest.approx(1.0)
    assert limiter.wait_time("b") == 0  # another client has its own budget
    now[0] += 2.0
    assert limiter.wait_time("a") == 0 and limiter.wait_time("a") == 0 and limiter.wait_time("a") > 0
    assert RateLimiter(0).wait_time("a") == 0


def test_slots_bound_the_photos_in_work():
    slots = Slots(1, timeout=0.05)
    assert slots.acquire() and not slots.acquire()
    slots.release()
    assert slots.acquire()


def test_the_app_answers_429_with_retry_after_and_health_is_never_limited(tmp_path):
    (tmp_path / "photos").mkdir()
    settings = settings_for(tmp_path, tmp_path / "photos", rate_limit=3)
    from facesidecar.compose import assemble_scanner

    app = create_app(settings, assemble_scanner(settings), API_KEY)
    try:
        client = app.test_client()
        codes = [client.get("/open", headers={"x-api-key": "wrong-but-long-enough-1234"}).status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        refused = client.get("/welcome")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert refused.json["status"] == "error"
        assert all(client.get("/health").status_code == 200 for _ in range(10))
    finally:
        close_app(app)


def test_client_file_names_are_only_echoed_never_used():
    assert client_filename("../../etc/passwd") == "passwd"
    assert client_filename("C:\\photos\\IMG 1.jpg") == "IMG 1.jpg"
    assert client_filename("bad\x00\nname.jpg") == "badname.jpg"
    assert client_filename(None) == "" and len(client_filename("x" * 1000)) == 255
