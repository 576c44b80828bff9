"""A real browser (Debian's chromium, driven by selenium through chromedriver) on a scanned copy of
the shared photos: confirm a guess, name a cluster, then check faces.csv and the photo's keywords.

chromium and chromium-driver are Debian's, installed by the README's test command (scripts/test.sh);
nothing else is downloaded: selenium gets the driver's path explicitly, so Selenium Manager never
runs. Where they cannot be installed the test is skipped loudly with the reason.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from facesidecar.compose import assemble_scanner
from facesidecar.config import Settings, with_roots
from facesidecar.review.app import create_app
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
    """Debian's chromium and chromedriver, which the README's test command (scripts/test.sh) installs."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        _loud_skip("chromium/chromium-driver are not installed: run bash scripts/test.sh, which installs them "
                   "(as root: apt-get install chromium chromium-driver)")
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


PEOPLE = {"barack_obama": ["1.jpg", "2.jpg", "3.jpg", "4.jpg"], "joe_biden": ["1.jpg", "2.jpg"],
          "george_w_bush": ["1.jpg", "2.jpg", "3.jpg", "4.jpg", "5.jpg"], "colin_powell": ["1.jpg", "2.jpg", "3.jpg"],
          "steve_carell": ["1.jpg"], "group": ["1.jpg"]}
"""A small library with people to confirm, unknown groups to name and a face seen once."""


def guessed(folder: Path, name: str) -> list[str]:
    """The photos whose faces are guessed as ``name`` and not named (from faces.pkl)."""
    from facesidecar.store.folder import FolderStore

    return [photo.file for photo, face in FolderStore(folder).load().faces()
            if face.visible and face.guess == name and not face.name]


def type_name(folder: Path, file: str, name: str) -> None:
    """Name the first face of ``file`` in faces.csv, as a person in a text editor would."""
    lines = (folder / "faces.csv").read_text().split("\n")
    lines = [",".join(c[:6] + [name] + c[7:]) if c[:2] == [file, "1"] else line
             for line, c in ((line, line.split(",")) for line in lines)]
    (folder / "faces.csv").write_text("\n".join(lines))


def shoot(browser, name: str, width: int = 1280) -> Path:
    """A screenshot of the whole page (the window grows to the page's height) for people to look at."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(width, min(max(height + 140, 700), 4000))
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"review-{name}.png"
    browser.save_screenshot(str(path))
    browser.set_window_size(1280, 1000)
    return path


def images_loaded(browser) -> bool:
    return browser.execute_script(
        "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")


def test_every_page_in_a_real_browser(tmp_path, shared_faces, browser, no_settle):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    root = tmp_path / "photos"
    for person, files in PEOPLE.items():
        (root / person).mkdir(parents=True)
        for file in files:  # writable copies: the names are written into them
            (root / person / file).write_bytes((shared_faces / person / file).read_bytes())
    settings = with_roots(Settings(), [str(root)])
    settings.state_dir = str(tmp_path / "state")
    metadata = metadata_for(settings)
    scanner = assemble_scanner(settings, metadata=metadata)
    try:
        scanner.scan_paths([root])
        obama, bush = root / "barack_obama", root / "george_w_bush"
        type_name(obama, "1.jpg", "Barack Obama")
        type_name(bush, "1.jpg", "George W. Bush")
        scanner.process_folders([obama, bush], csv_only=True)
        assert len(guessed(obama, "Barack Obama")) >= 3, "Obama's other photos are guessed"

        server = Server(create_app(settings, [root], scanner))
        wait = WebDriverWait(browser, 30)
        try:
            # -- a person: guesses nearest first, each labelled by folder and file -----------------
            browser.get(f"{server.url}/person?name=Barack%20Obama")
            assert "Barack Obama" in browser.title
            wait.until(lambda b: images_loaded(b))
            shoot(browser, "person")
            cards = browser.find_elements(By.CSS_SELECTOR, ".face.guessed")
            assert cards and cards[0].find_element(By.CSS_SELECTOR, ".folder").text == "photos/barack_obama"
            file = cards[0].find_element(By.CSS_SELECTOR, ".file").text
            cards[0].find_element(By.CSS_SELECTOR, "button.confirm").click()
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".flash")))
            assert next(r for r in rows(obama) if r.file == file and r.face_nr == 1).name == "Barack Obama"

            cards = browser.find_elements(By.CSS_SELECTOR, ".face.guessed")  # one key: y confirms
            other = cards[0].find_element(By.CSS_SELECTOR, ".file").text
            browser.execute_script("arguments[0].focus()", cards[0])
            ActionChains(browser).send_keys("y").perform()
            wait.until(lambda _: next(r for r in rows(obama) if r.file == other and r.face_nr == 1).name)

            # -- "confirm every guess up to D": the count follows the slider -------------------------
            browser.get(f"{server.url}/person?name=Barack%20Obama")
            slider = browser.find_element(By.ID, "upto")
            distances = sorted(float(d) for d in slider.get_attribute("data-distances").split())
            browser.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))",
                                   slider, str(slider.get_attribute("max")))
            count = browser.find_element(By.ID, "upto-count").text
            assert count == str(len(distances)), "every guess is below the slider's top"
            browser.find_element(By.CSS_SELECTOR, "#upto-confirm button").click()
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".flash")))
            assert f"{count} guesses up to" in browser.find_element(By.CSS_SELECTOR, ".flash").text
            assert not guessed(obama, "Barack Obama")

            # -- unknown people: a group named at once ------------------------------------------------
            browser.get(f"{server.url}/clusters")
            wait.until(lambda b: images_loaded(b))
            shoot(browser, "clusters")
            sections = [s for s in browser.find_elements(By.CSS_SELECTOR, "section.cluster")
                        if "folder=0/joe_biden" in s.get_attribute("innerHTML")]
            assert sections, "Biden's two faces form a group"
            sections[0].find_element(By.CSS_SELECTOR, "input[name=name]").send_keys("Joe Biden")
            sections[0].find_element(By.CSS_SELECTOR, "button.confirm-all").click()
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".flash")))
            assert "faces named" in browser.find_element(By.CSS_SELECTOR, ".flash").text
            assert [r.name for r in rows(root / "joe_biden")] == ["Joe Biden", "Joe Biden"]

            label = browser.find_element(By.CSS_SELECTOR, "section.cluster").get_attribute("id").removeprefix("cluster-")
            browser.get(f"{server.url}/cluster?label={label}")
            wait.until(lambda b: images_loaded(b))
            shoot(browser, "cluster")
            assert browser.find_elements(By.CSS_SELECTOR, ".pick input:checked")

            # -- the other pages --------------------------------------------------------------------
            browser.get(f"{server.url}/")
            wait.until(lambda b: images_loaded(b))
            names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".person-name")]
            assert {"Barack Obama", "George W. Bush", "Joe Biden"} <= set(names)
            shoot(browser, "people")
            browser.get(f"{server.url}/unknown")
            wait.until(lambda b: images_loaded(b))
            shoot(browser, "unknown")
            browser.get(f"{server.url}/photo?folder=0/group&file=1.jpg")
            wait.until(lambda b: images_loaded(b))
            assert len(browser.find_elements(By.CSS_SELECTOR, ".photo .box")) >= 2
            shoot(browser, "photo")

            # -- a phone-sized window: nothing wider than the screen ----------------------------------
            for page, name in (("/", "people"), ("/person?name=Barack%20Obama", "person")):
                browser.set_window_size(390, 844)
                browser.get(server.url + page)
                wait.until(lambda b: images_loaded(b))
                overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"{page} scrolls sideways on a phone"
                shoot(browser, f"{name}-phone", width=390)
        finally:
            server.stop()
        if metadata is not None:
            assert "Barack Obama" in keywords(obama / file), "the confirmed name is in the photo's keywords"
            assert "Joe Biden" in keywords(root / "joe_biden" / "1.jpg")
    finally:
        scanner.close()
