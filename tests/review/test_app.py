"""The review page's routes, with Flask's test client on a tiny scanned library."""

from __future__ import annotations

import io
import os
import re
import shutil

import pytest
from PIL import Image

from facesidecar.model import IGNORE

from .conftest import Lib


def html(response) -> str:
    return response.get_data(as_text=True)


def sidecars_only(folder) -> set[str]:
    return {p.name for p in folder.iterdir()} - {p.name for p in folder.glob("*.jpg")}


class TestPages:
    def test_people_page_lists_people_with_counts_and_a_thumbnail(self, named):
        page = html(named.client.get("/"))
        assert '<span class="person-name">Rita</span>' in page
        assert '<span class="n-confirmed">1 confirmed</span><span class="badge">1 to review</span>' in page
        rita = named.face_id("album1", "a1.jpg", 1)
        assert f"/thumb?folder=0/album1&amp;face={rita}" in page
        assert 'option value="Rita"' in page, "the datalist offers known people"

    def test_thumbnail_is_the_face_cropped_and_cached_outside_the_photo_folders(self, named):
        before = {a: sidecars_only(named.root / a) for a in ("album1", "album2")}
        response = named.client.get(f"/thumb?folder=0/album1&face={named.face_id('album1', 'a1.jpg', 1)}")
        assert response.status_code == 200 and response.mimetype == "image/jpeg"
        thumb = Image.open(io.BytesIO(response.data)).convert("RGB")
        r, g, b = thumb.getpixel((thumb.width // 2, thumb.height // 2))
        assert r > 180 and g < 80 and b < 80, "the red face is in the middle of its thumbnail"
        cached = list((named.settings.state_path() / "thumbs").rglob("*.jpg"))
        assert len(cached) == 1
        assert named.client.get(f"/thumb?folder=0/album1&face={named.face_id('album1', 'a1.jpg', 1)}").data == response.data
        assert {a: sidecars_only(named.root / a) for a in ("album1", "album2")} == before == {
            "album1": {"faces.csv", "faces.pkl"}, "album2": {"faces.csv", "faces.pkl"}}

    def test_thumbnail_of_a_rotated_photo_applies_the_orientation(self, lib):
        face_id = lib.face_id("album2", "b2.jpg", 1)
        row = lib.row("album2", "b2.jpg", 1)
        assert row.box.x == pytest.approx(0.55, abs=0.01), "boxes are fractions of the photo as displayed"
        thumb = Image.open(io.BytesIO(lib.client.get(f"/thumb?folder=0/album2&face={face_id}").data)).convert("RGB")
        r, g, b = thumb.getpixel((thumb.width // 2, thumb.height // 2))
        assert g > 150 and r < 80, "the green face, not grey background of the unrotated pixels"
        shown = Image.open(io.BytesIO(lib.client.get("/image?folder=0/album2&file=b2.jpg").data))
        assert shown.width > shown.height, "the photo is shown upright (as displayed)"

    def test_person_page_shows_confirmed_and_guesses_by_distance(self, named):
        named.type_in_csv("album2", "b1.jpg", 2, "Rita")  # a wrong name, just to have two guesses later
        named.scanner.process_folders([named.root / "album2"], csv_only=True)
        page = html(named.client.get("/person?name=Rita"))
        assert page.index("To review") < page.index("<h2>Confirmed")
        assert 'class="chip guess"' in page and "Rita?" in page
        guessed = [r for a in ("album1", "album2") for r in named.rows(a) if r.name == "" and r.file and
                   r.face_nr and (a, r.file, r.face_nr) == ("album1", "a2.jpg", 1)]
        assert guessed, "a2 face 1 is guessed Rita"
        assert named.client.get("/person?name=Nobody").status_code == 404

    def test_person_guesses_are_sorted_nearest_first(self, named):
        from facesidecar.review.index import LibraryView

        view = LibraryView([named.root], named.settings.exclude)
        faces = view.person_faces(view.all_faces(), "Rita")
        distances = [f.distance for f in faces if not f.name]
        assert faces[0].confirmed and distances == sorted(distances)

    def test_clusters_largest_first(self, lib):
        page = html(lib.client.get("/clusters"))
        assert page.index("3 faces in 3 photos") < page.index(f">{lib.greens}</a>") < page.index("2 faces in 2 photos") < page.index(f">{lib.blues}</a>")
        assert lib.client.get(f"/cluster?label={lib.greens}").status_code == 200
        assert lib.client.get("/cluster?label=nope").status_code == 404

    def test_photo_page_draws_boxes_over_the_image(self, named):
        page = html(named.client.get("/photo?folder=0/album1&file=a1.jpg"))
        assert '<img src="/image?folder=0/album1&amp;file=a1.jpg"' in page
        assert "left:5.0000%;top:35.0000%;width:15.0000%;height:30.0000%" in page
        assert named.client.get("/image?folder=0/album1&file=a1.jpg").mimetype == "image/jpeg"

    def test_photo_page_says_why_each_face_got_its_guess_or_none(self, named):
        page = html(named.client.get("/photo?folder=0/album1&file=a2.jpg"))
        assert '<p class="why">guessed Rita (nearest named person Rita at distance' in page
        page = html(named.client.get("/photo?folder=0/album1&file=a1.jpg"))
        assert '<p class="why">no guess: too far (nearest named person Rita at distance' in page

    def test_security_headers(self, lib):
        response = lib.client.get("/")
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"


class TestActions:
    def test_confirm_a_guess_merges_a_concurrent_csv_edit(self, named):
        named.type_in_csv("album2", "b1.jpg", 1, "Greta")  # saved in an editor, not merged yet
        response = named.post("/face/confirm", folder="0/album1", face=named.face_id("album1", "a2.jpg", 1), guess="Rita")
        assert response.status_code == 303
        assert named.row("album1", "a2.jpg", 1).name == "Rita"
        assert named.row("album2", "b1.jpg", 1).name == "Greta", "the other folder's edit is kept"
        named.type_in_csv("album1", "a2.jpg", 2, "Greta")
        named.post("/face/confirm", folder="0/album1", face=named.face_id("album1", "a2.jpg", 1), guess="Rita")
        assert named.row("album1", "a2.jpg", 2).name == "Greta", "an edit of the same file is merged, not lost"
        assert named.row("album1", "a2.jpg", 1).name == "Rita"

    def test_confirm_after_a_csv_edit_of_the_same_face_changes_nothing(self, named):
        named.type_in_csv("album1", "a2.jpg", 1, "Rosa")
        response = named.post("/face/confirm", folder="0/album1", face=named.face_id("album1", "a2.jpg", 1), guess="Rita")
        assert named.row("album1", "a2.jpg", 1).name == "Rosa"
        assert "changed meanwhile" in html(named.client.get(response.headers["Location"]))

    def test_name_updates_guesses_everywhere(self, lib):
        lib.post("/face/name", folder="0/album2", face=lib.face_id("album2", "b1.jpg", 1), name="  Greta ", expected="guess:")
        assert lib.row("album2", "b1.jpg", 1).name == "Greta"
        assert lib.guess("album1", "a2.jpg", 2) == "Greta", "the other folder got the guess"
        assert lib.guess("album2", "b2.jpg", 1) == "Greta"

    def test_reject_a_guess(self, named):
        face = named.face_id("album1", "a2.jpg", 1)
        named.post("/face/reject", folder="0/album1", face=face, guess="Rita")
        assert named.row("album1", "a2.jpg", 1).name == ""
        assert face not in html(named.client.get("/person?name=Rita"))
        assert "Rita?" not in html(named.client.get("/photo?folder=0/album1&file=a2.jpg"))
        people = html(named.client.get("/"))
        assert '<span class="n-confirmed">1 confirmed</span></span>' in people and "badge" not in people
        assert named.guess("album1", "a2.jpg", 1) == "", "the rejection reaches faces.csv"
        named.scanner.refresh()
        assert named.guess("album1", "a2.jpg", 1) == "", "and lasts: the face is never guessed as Rita again"

    def test_ignore(self, lib):
        lib.post("/face/ignore", folder="0/album1", face=lib.face_id("album1", "a1.jpg", 2), expected="guess:")
        assert lib.row("album1", "a1.jpg", 2).name == IGNORE

    def test_clear_a_name(self, named):
        named.post("/face/name", folder="0/album1", face=named.face_id("album1", "a1.jpg", 1), name="", expected="Rita")
        assert named.row("album1", "a1.jpg", 1).name == ""

    def test_name_a_cluster(self, lib):
        lib.post("/cluster/name", label=lib.greens, name="Greta")
        named = {(r.file, r.face_nr) for a in ("album1", "album2") for r in lib.rows(a) if r.name == "Greta"}
        assert named == {("a2.jpg", 2), ("b1.jpg", 1), ("b2.jpg", 1)}

    def test_name_only_the_ticked_faces_of_a_cluster(self, lib):
        keep = lib.face_id("album2", "b2.jpg", 1)
        greens = lib.greens
        lib.client.post("/cluster/name", data={"csrf": lib.csrf(f"/cluster?label={greens}"), "label": greens, "only": "1",
                                               "face": [keep], "name": "Greta", "next": f"/cluster?label={greens}"})
        named = {(r.file, r.face_nr) for a in ("album1", "album2") for r in lib.rows(a) if r.name == "Greta"}
        assert named == {("b2.jpg", 1)}

    def test_rename_a_person_everywhere(self, named):
        named.post("/face/name", folder="0/album2", face=named.face_id("album2", "b1.jpg", 2), name="Rita", expected="guess:")
        response = named.post("/person/rename", old="Rita", new="Margarita")
        assert response.headers["Location"].endswith("/person?name=Margarita")
        names = [r.name for a in ("album1", "album2") for r in named.rows(a) if r.name]
        assert names == ["Margarita", "Margarita"]
        assert named.guess("album1", "a2.jpg", 1) == "Margarita"

    @pytest.mark.parametrize("bad", ["a\x07b", "x" * 201, "\u202eevil"])
    def test_bad_names_are_refused(self, lib, bad):
        response = lib.post("/face/name", folder="0/album1", face=lib.face_id("album1", "a1.jpg", 1), name=bad, expected="guess:")
        assert response.status_code == 303
        assert lib.row("album1", "a1.jpg", 1).name == ""

    @pytest.mark.parametrize("formula", ["=cmd|' /C calc'!A0", "A|B", "@SUM(1)"])
    def test_a_name_a_spreadsheet_would_run_is_a_name_written_as_text(self, lib, formula):
        """Issue 13, rule 6: the same rule as everywhere; faces.csv guards the cell with an apostrophe."""
        lib.post("/face/name", folder="0/album1", face=lib.face_id("album1", "a1.jpg", 1), name=formula, expected="guess:")
        assert lib.row("album1", "a1.jpg", 1).name == formula
        cells = (lib.root / "album1" / "faces.csv").read_text(encoding="utf-8")
        assert formula[0] == "A" or f",'{formula[:4]}" in cells or f'"\'{formula[:4]}' in cells

    def test_redirect_stays_on_this_site(self, lib):
        response = lib.post("/face/ignore", folder="0/album1", face=lib.face_id("album1", "a1.jpg", 2),
                            expected="guess:", next="//evil.example/")
        assert response.headers["Location"] in ("/", "http://localhost/")


class TestSafety:
    def test_post_without_or_with_a_wrong_csrf_token_is_refused(self, lib):
        face = lib.face_id("album1", "a1.jpg", 1)
        before = (lib.root / "album1" / "faces.csv").read_bytes()
        for token in ("", "forged"):
            response = lib.client.post("/face/name", data={"csrf": token, "folder": "0/album1", "face": face, "name": "Eve"})
            assert response.status_code == 400
        other = Lib.__new__(Lib)
        other.client = lib.app.test_client()  # another browser: its own session, so lib's token is no good there
        token = lib.csrf()
        response = other.client.post("/face/name", data={"csrf": token, "folder": "0/album1", "face": face, "name": "Eve"})
        assert response.status_code == 400
        assert (lib.root / "album1" / "faces.csv").read_bytes() == before

    def test_read_only_refuses_posts_and_hides_forms(self, tmp_path):
        lib = Lib(tmp_path, read_only=True)
        page = html(lib.client.get("/person?name=x"))
        assert lib.client.get("/clusters").status_code == 200
        assert "<form" not in html(lib.client.get("/clusters")) and page
        with lib.client.session_transaction() as session:
            session["csrf"] = "t"
        response = lib.client.post("/cluster/name", data={"csrf": "t", "label": lib.greens, "name": "Greta"})
        assert response.status_code == 403
        assert not any(r.name for r in lib.rows("album1"))

    def test_names_are_html_escaped(self, lib):
        evil = '<script>alert("x")</script>'
        lib.post("/face/name", folder="0/album1", face=lib.face_id("album1", "a1.jpg", 1), name=evil, expected="guess:")
        assert lib.row("album1", "a1.jpg", 1).name == evil
        for page in ("/", "/person?name=" + evil, "/photo?folder=0/album1&file=a1.jpg", "/photo?folder=0/album1&file=a2.jpg"):
            text = html(lib.client.get(page, query_string=None))
            assert "<script>alert" not in text and "&lt;script&gt;" in text, page

    @pytest.mark.parametrize("query", [
        "folder=0/../..&file=passwd",
        "folder=0/..&file=photos/album1/a1.jpg",
        "folder=0/album1&file=../album2/b1.jpg",
        "folder=0/album1&file=/etc/passwd",
        "folder=0//etc&file=passwd",
        "folder=0/%2Fetc&file=passwd",
        "folder=/etc&file=passwd",
        "folder=1/album1&file=a1.jpg",
        "folder=-1/album1&file=a1.jpg",
        "folder=0/album1&file=faces.pkl",
        "folder=0/album1&file=faces.csv",
        "folder=0/album1&file=",
        "folder=0/album1\\..\\..&file=a1.jpg",
    ])
    def test_no_path_outside_the_roots(self, lib, query):
        for route in ("/image", "/photo"):
            assert lib.client.get(f"{route}?{query}").status_code == 404, (route, query)

    def test_symlinks_leaving_the_root_are_not_followed(self, lib, tmp_path):
        outside = tmp_path / "outside"
        shutil.copytree(lib.root / "album2", outside)  # photos and a faces.pkl that knows them
        (lib.root / "link").symlink_to(outside, target_is_directory=True)
        assert lib.client.get("/image?folder=0/link&file=b1.jpg").status_code == 404
        assert lib.client.get("/photo?folder=0/link&file=b1.jpg").status_code == 404
        photo = lib.root / "album2" / "b1.jpg"
        photo.unlink()
        photo.symlink_to(outside / "b1.jpg")  # a known photo name, now leading out of the root
        assert lib.client.get("/image?folder=0/album2&file=b1.jpg").status_code == 404
        face = lib.face_id("album2", "b1.jpg", 1)
        assert lib.client.get(f"/thumb?folder=0/album2&face={face}").status_code == 404
        assert lib.client.get("/thumb?folder=0/album2&face=nope").status_code == 404

    def test_host_must_be_local_on_loopback(self, lib):
        assert lib.client.get("/", headers={"Host": "evil.example"}).status_code == 403
        assert lib.client.get("/", headers={"Host": "127.0.0.1:8765"}).status_code == 200
        assert lib.client.get("/", headers={"Host": "[::1]:8765"}).status_code == 200

    def test_binding_elsewhere_needs_the_token_on_every_request(self, tmp_path):
        lib = Lib(tmp_path, bind="0.0.0.0")
        token = lib.app.config["ACCESS_TOKEN"]
        assert len(token) >= 24
        for url in ("/", "/clusters", "/image?folder=0/album1&file=a1.jpg", "/assets/app.css"):
            assert lib.client.get(url).status_code == 401, url
        assert lib.client.get("/?token=wrong").status_code == 401
        response = lib.client.get(f"/clusters?token={token}")
        assert response.status_code == 303 and response.headers["Location"].endswith("/clusters")
        assert "HttpOnly" in response.headers["Set-Cookie"]
        assert lib.client.get("/clusters").status_code == 200, "the cookie carries it from now on"
        fresh = lib.app.test_client()
        assert fresh.get("/", headers={"X-Facesidecar-Token": token}).status_code == 200
        assert fresh.get("/", headers={"X-Facesidecar-Token": token + "x"}).status_code == 401

    def test_configured_token_is_used(self, tmp_path):
        lib = Lib(tmp_path, bind="192.0.2.1", token="s3cret-token-from-config")
        assert lib.app.config["ACCESS_TOKEN"] == "s3cret-token-from-config"
        assert lib.client.get("/", headers={"X-Facesidecar-Token": "s3cret-token-from-config"}).status_code == 200


def test_review_command_is_registered(capsys):
    from facesidecar.cli.main import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["review", "--help"])
    out = capsys.readouterr().out
    assert "--bind" in out and "--port" in out and "--read-only" in out


def test_cache_dir_is_private(named):
    named.client.get(f"/thumb?folder=0/album1&face={named.face_id('album1', 'a1.jpg', 1)}")
    assert os.stat(named.settings.state_path() / "thumbs").st_mode & 0o077 == 0


class TestMore:
    def test_suggest_a_name_for_a_cluster_confirms_nothing(self, lib):
        response = lib.post("/cluster/name", label=lib.greens, name="Greta", mode="suggest")
        assert response.status_code == 303
        assert not any(r.name for a in ("album1", "album2") for r in lib.rows(a))
        assert lib.guess("album2", "b2.jpg", 1) == "Greta"
        page = html(lib.client.get("/person?name=Greta"))
        assert "Greta?" in page and ">cluster</span>" in page, "a guess from a named cluster has no distance"

    def test_large_clusters_are_named_from_their_own_page(self, lib, monkeypatch):
        from facesidecar.review import app as app_module

        monkeypatch.setattr(app_module, "STRIP", 2)
        page = html(lib.client.get("/clusters"))
        start = page.index(f'id="cluster-{lib.greens}"')
        following = page.index('id="cluster-', start + 1)
        greens = page[start:following]
        assert "confirm-all" not in greens and "see all 3 faces" in greens and 'value="suggest"' in greens
        assert "confirm-all" in page[following:]

    def test_long_pages_are_cut_with_a_link_for_more(self, named):
        named.post("/face/name", folder="0/album2", face=named.face_id("album2", "b1.jpg", 2), name="Rita", expected="guess:")
        page = html(named.client.get("/person?name=Rita&limit=1"))
        assert "show more (1 not shown)" in page
        assert named.client.get("/person?name=Rita&limit=x").status_code == 200

    def test_names_given_elsewhere_meanwhile_are_used_for_guesses(self, lib):
        from facesidecar.compose import assemble_scanner
        from facesidecar.store.merge import set_name

        from ..fake_engine import FakeEngine

        lib.client.get("/")
        lib.app.extensions["facesidecar"]["actions"].sync_library()
        other = assemble_scanner(lib.settings, engine=FakeEngine(scale=255, threshold=0.3))  # e.g. the daemon, another process

        def name_greta(txn):
            photo = txn.state.photos["b1.jpg"]
            set_name(photo, photo.visible_faces[0], "Greta", "cli", txn.now)

        other.update_folder(lib.root / "album2", name_greta)  # no refresh: album1 not updated by it
        assert lib.guess("album1", "a2.jpg", 2) == ""
        lib.post("/face/ignore", folder="0/album1", face=lib.face_id("album1", "a1.jpg", 2), expected="guess:")
        assert lib.guess("album1", "a2.jpg", 2) == "Greta", "the review page's refresh knew Greta"

    def test_other_unknown_faces_page(self, named):
        face = named.face_id("album1", "a2.jpg", 1)
        assert face not in html(named.client.get("/unknown"))
        named.post("/face/reject", folder="0/album1", face=face, guess="Rita")  # alone, not in a cluster
        page = html(named.client.get("/unknown"))
        assert "1 faces with no name, no guess and no cluster" in page and face in page

    def test_thumbnail_cache_is_pruned_oldest_first(self, named, tmp_path):
        from facesidecar.review.thumbs import ThumbnailCache

        cache = ThumbnailCache(tmp_path / "cache", named.settings.engine.pixel_limit)
        paths = []
        for n in range(4):
            folder = cache.cache_dir / f"{n:02d}"
            folder.mkdir(parents=True)
            path = folder / f"{n:02d}x.jpg"
            path.write_bytes(b"x" * 1000)
            os.utime(path, (1000 + n, 1000 + n))
            paths.append(path)
        assert cache.prune(max_bytes=10_000) == 0
        assert cache.prune(max_bytes=3000) == 2
        assert [p.exists() for p in paths] == [False, False, True, True]


class TestReviewing:
    def test_faces_are_labelled_by_folder_and_file(self, named):
        page = html(named.client.get("/person?name=Rita"))
        assert '<span class="file">a1.jpg</span> <span class="nr">#1</span></a><span class="folder">photos/album1</span>' in page
        assert 'title="photos/album1/a1.jpg #1"' in page
        photo = html(named.client.get("/photo?folder=0/album2&file=b1.jpg"))
        assert '<p class="sub where">photos/album2</p>' in photo

    def test_confirm_every_guess_up_to_a_distance_with_its_count(self, named):
        named.type_in_csv("album2", "b1.jpg", 1, "Rita")  # green named Rita: a far guess for the other greens
        named.scanner.process_folders([named.root / "album1", named.root / "album2"], csv_only=True)
        guesses = sorted((f.distance, f.file, f.face_nr) for f in named.app.extensions["facesidecar"]["view"].all_faces()
                         if f.guess == "Rita" and not f.name)
        assert len(guesses) >= 2, guesses
        nearest = guesses[0][0]
        page = html(named.client.get(f"/person?name=Rita&upto={nearest:.2f}"))
        assert f'<span id="upto-count">1</span> of {len(guesses)} guesses are Rita' in page
        assert f'data-distances="{" ".join(str(round(d, 3)) for d, _, _ in guesses)}"' in page
        response = named.post("/person/confirm", name="Rita", upto=f"{nearest + 0.001:.3f}")
        assert response.status_code == 303
        flash = html(named.client.get("/person?name=Rita"))
        assert f"1 guesses up to {nearest + 0.001:.2f} confirmed as Rita" in flash
        _, file, number = guesses[0]
        album = "album1" if file.startswith("a") else "album2"
        assert named.row(album, file, number).name == "Rita"
        assert all(named.row("album1" if f.startswith("a") else "album2", f, n).name == ""
                   for d, f, n in guesses[1:] if d > nearest + 0.001)

    def test_a_cluster_that_carries_a_guess_is_shown_as_such_and_confirmed_at_once(self, lib):
        lib.type_in_csv("album1", "a2.jpg", 2, "Gus")  # one green named: the other greens are guessed Gus
        lib.scanner.process_folders([lib.root / "album1", lib.root / "album2"], csv_only=True)
        view = lib.app.extensions["facesidecar"]["view"]
        cluster = next(c for c in view.clusters(view.all_faces()) if c.guess == "Gus")
        page = html(lib.client.get("/clusters"))
        section = page[page.index(f'id="cluster-{cluster.label}"'):]
        assert '<span class="chip guess">Gus?</span> 2 of 2 are guessed as Gus' in section
        assert "&#10003; yes, 2 are Gus" in section
        form = {"label": cluster.label, "only": "1", "name": "Gus", "mode": "confirm"}
        response = lib.client.post("/cluster/name", data={**form, "csrf": lib.csrf(),
                                                           "face": [f.face_id for f in cluster.guessed]})
        assert response.status_code == 303
        assert lib.row("album2", "b1.jpg", 1).name == "Gus" and lib.row("album2", "b2.jpg", 1).name == "Gus"


def test_photos_named_with_any_bytes_are_shown_linked_and_named(lib):
    """A photo whose name is not UTF-8 and holds an escape sequence (issue 13, rules 4 and 6): the
    pages that list it work, show the name escaped, link to it, and a name given through them lands."""
    odd = os.fsdecode(b"caf\xe9\x1b[2J.jpg")
    shutil.copy(lib.root / "album1" / "a1.jpg", lib.root / "album1" / odd)
    lib.scanner.scan_paths([lib.root])
    face_id = lib.face_id("album1", odd, 1)
    listing = lib.client.get(f"/cluster?label={lib.face('album1', odd, 1).cluster}")
    page = html(listing)
    assert listing.status_code == 200 and "caf\\udce9\\x1b[2J.jpg" in page and "\x1b" not in page
    link = re.search(r'href="(/photo\?[^"]*caf[^"]*)"', page).group(1).replace("&amp;", "&")
    photo_page = lib.client.get(link)
    assert photo_page.status_code == 200, html(photo_page)
    image = re.search(r'src="(/image\?[^"]*)"', html(photo_page)).group(1).replace("&amp;", "&")
    assert lib.client.get(image).status_code == 200
    thumb = lib.client.get(f"/thumb?folder=0/album1&face={face_id}")
    assert thumb.status_code == 200
    form_key = re.search(rf'name="folder" value="([^"]*)"><input type="hidden" name="face" value="{face_id}"', page)
    response = lib.post("/face/name", folder=form_key.group(1), face=face_id, name="Zoë", expected="guess:")
    assert response.status_code == 303
    assert lib.row("album1", odd, 1).name == "Zoë"
