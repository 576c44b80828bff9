"""A real browser (Debian's chromium, driven by selenium through chromedriver) on a scanned copy of
the shared photos: confirm a guess, name a cluster, then check faces.csv and the photo's keywords.

chromium and chromium-driver are installed with apt-get when missing (nothing else is downloaded:
selenium gets the driver's path explicitly, so Selenium Manager never runs). Without them the test
is skipped with the reason.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from facesidecar.config import Settings, with_roots
from facesidecar.review.app import create_app
from facesidecar.scan import Scanner
from facesidecar.store.csvfile import parse_csv

from ..conftest import PROJECT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = PROJECT / "test-artifacts"


def _loud_skip(reason: str):
    message = f"BROWSER TEST SKIPPED: {reason}"
    print(f"\n{'!' * 20} {message}", flush=True)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium() -> tuple[Path, Path]:
    """Debian's chromium and chromedriver, installed with apt-get if missing."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        if shutil.which("apt-get") is None or os.geteuid() != 0:
            _loud_skip("chromium/chromium-driver missing and apt-get is not usable here "
                       "(install them: apt-get install chromium chromium-driver)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium", "chromium-driver"]
        try:
            done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
            if done.returncode != 0:
                subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
                done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            _loud_skip(f"apt-get install chromium chromium-driver failed: {exc}")
        if done.returncode != 0 or not CHROMEDRIVER.exists():
            _loud_skip(f"apt-get install chromium chromium-driver failed: {done.stderr.strip()[-500:]}")
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture
def browser(chromium):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = chromium
    options = webdriver.ChromeOptions()
    options.binary_location = str(binary)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1280,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(driver_path)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


class Server:
    """The review app on a free port of 127.0.0.1, in a background thread."""

    def __init__(self, app):
        from werkzeug.serving import make_server

        self.httpd = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="review-server", daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def metadata_for(settings: Settings):
    if shutil.which("exiftool") is None or importlib.util.find_spec("facesidecar.adapters.exiftool.writer") is None:
        return None
    from facesidecar.compose import metadata_adapter

    return metadata_adapter(settings)


def keywords(path: Path) -> list[str]:
    out = subprocess.run(["exiftool", "-j", "-XMP-dc:Subject", str(path)], capture_output=True, text=True, check=True)
    value = json.loads(out.stdout)[0].get("Subject", [])
    return value if isinstance(value, list) else [value]


def rows(folder: Path):
    return parse_csv((folder / "faces.csv").read_bytes())


def test_confirm_a_guess_and_name_a_cluster_in_a_browser(tmp_path, shared_faces, browser, monkeypatch):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from facesidecar.store import folder as folder_module

    monkeypatch.setattr(folder_module.read_settled, "__defaults__", ((), 0.0, 10.0))
    root = tmp_path / "photos"
    for person in ("barack_obama", "joe_biden"):
        shutil.copytree(shared_faces / person, root / person)
    for path in root.rglob("*"):  # the shared copies are read-only; names are written into these
        path.chmod(0o755 if path.is_dir() else 0o644)
    settings = with_roots(Settings(), [str(root)])
    settings.state_dir = str(tmp_path / "state")
    metadata = metadata_for(settings)
    scanner = Scanner(settings, metadata=metadata)
    try:
        scanner.scan_paths([root])
        obama = root / "barack_obama"
        first = next(r for r in rows(obama) if r.file == "1.jpg")
        lines = (obama / "faces.csv").read_text().split("\n")
        lines = [",".join(c[:6] + ["Barack Obama"] + c[7:]) if c[:2] == [first.file, str(first.face_nr)] else line
                 for line, c in ((line, line.split(",")) for line in lines)]
        (obama / "faces.csv").write_text("\n".join(lines))
        scanner.process_folders([obama, root / "joe_biden"], csv_only=True)
        assert any(r.name == "" for r in rows(obama))

        server = Server(create_app(settings, [root], scanner))
        wait = WebDriverWait(browser, 30)
        try:
            browser.get(f"{server.url}/person?name=Barack%20Obama")
            assert "Barack Obama" in browser.title
            guessed = browser.find_elements(By.CSS_SELECTOR, ".face.guessed")
            assert guessed, "the other photos of Obama are guessed"
            card = guessed[0]
            where = card.find_element(By.CSS_SELECTOR, ".where a").text  # "2.jpg #1"
            file, face_nr = where.split(" #")
            card.find_element(By.CSS_SELECTOR, "button.confirm").click()
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".flash")))
            assert next(r for r in rows(obama) if r.file == file and r.face_nr == int(face_nr)).name == "Barack Obama"

            guessed = browser.find_elements(By.CSS_SELECTOR, ".face.guessed")  # one key: y confirms
            assert guessed, "Obama's other photos are still guessed"
            other, other_nr = guessed[0].find_element(By.CSS_SELECTOR, ".where a").text.split(" #")
            browser.execute_script("arguments[0].focus()", guessed[0])
            ActionChains(browser).send_keys("y").perform()
            wait.until(lambda _: next(r for r in rows(obama) if r.file == other and r.face_nr == int(other_nr)).name)
            assert next(r for r in rows(obama) if r.file == other and r.face_nr == int(other_nr)).name == "Barack Obama"

            browser.get(f"{server.url}/clusters")
            sections = [s for s in browser.find_elements(By.CSS_SELECTOR, "section.cluster")
                        if "folder=0/joe_biden" in s.get_attribute("innerHTML")]
            assert sections, "Biden's two faces form a cluster"
            label = sections[0].get_attribute("id").removeprefix("cluster-")
            field = sections[0].find_element(By.CSS_SELECTOR, "input[name=name]")
            field.send_keys("Joe Biden")
            sections[0].find_element(By.CSS_SELECTOR, "button.confirm-all").click()
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".flash")))
            assert "faces named" in browser.find_element(By.CSS_SELECTOR, ".flash").text
            assert [r.name for r in rows(root / "joe_biden")] == ["Joe Biden", "Joe Biden"], f"cluster {label} named"
            assert not any(r.name == "Joe Biden" for r in rows(obama))

            browser.get(f"{server.url}/photo?folder=0/barack_obama&file={file}")
            assert browser.find_elements(By.CSS_SELECTOR, ".photo .box.confirmed")
            ARTIFACTS.mkdir(exist_ok=True)
            browser.get(f"{server.url}/")
            browser.save_screenshot(str(ARTIFACTS / "review-people.png"))
            browser.get(f"{server.url}/photo?folder=0/barack_obama&file={file}")
            browser.save_screenshot(str(ARTIFACTS / "review-photo.png"))
            thumbs = browser.execute_script(
                "return Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length")
            assert thumbs >= 2, "the photo and its face thumbnail loaded"
        finally:
            server.stop()
        if metadata is not None:
            assert "Barack Obama" in keywords(obama / file), "the confirmed name is in the photo's keywords"
            assert "Joe Biden" in keywords(root / "joe_biden" / "1.jpg")
    finally:
        scanner.close()
