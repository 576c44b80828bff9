"""The page templates (Jinja, autoescaped), kept as strings so no package data is needed.

The layout follows what people know from Immich's and PhotoPrism's people pages: a grid of round
portraits for the people, a grid of face cards (the face, who it is or may be, the folder and file it
comes from, one click per decision), unknown people as groups to name at once.
"""

BASE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{{ csrf_token() }}">
<title>{% block title %}faces{% endblock %} · facesidecar</title>
<link rel="stylesheet" href="{{ url_for('asset', name='app.css') }}">
<script src="{{ url_for('asset', name='app.js') }}" defer></script>
</head>
<body>
<header class="top">
  <a class="brand" href="{{ url_for('people') }}">facesidecar</a>
  <nav>
    {% set here = request.endpoint %}
    <a href="{{ url_for('people') }}" {% if here in ('people', 'person') %}class="here"{% endif %}>People{% if nav.people is defined %} <span class="count">{{ nav.people }}</span>{% endif %}</a>
    <a href="{{ url_for('clusters') }}" {% if here in ('clusters', 'cluster') %}class="here"{% endif %}>Unknown people{% if nav.clusters is defined %} <span class="count">{{ nav.clusters }}</span>{% endif %}</a>
    <a href="{{ url_for('unknown') }}" {% if here == 'unknown' %}class="here"{% endif %}>Other faces{% if nav.unknown is defined %} <span class="count">{{ nav.unknown }}</span>{% endif %}</a>
  </nav>
  {% if read_only %}<span class="ro">read-only</span>{% endif %}
  <span class="keys" title="keys on a focused face card">keys: <kbd>y</kbd> yes · <kbd>n</kbd> not them · <kbd>i</kbd> ignore · <kbd>e</kbd> name</span>
</header>
{% with messages = get_flashed_messages(with_categories=true) %}
  {% for category, message in messages %}<p class="flash {{ category }}" role="status">{{ message }}</p>{% endfor %}
{% endwith %}
<main>{% block main %}{% endblock %}</main>
<datalist id="people">{% for name in known_names %}<option value="{{ name }}">{% endfor %}</datalist>
</body>
</html>
"""

MACROS = """
{% macro hidden(next_url) %}<input type="hidden" name="csrf" value="{{ csrf_token() }}"><input type="hidden" name="next" value="{{ next_url }}">{% endmacro %}

{% macro who(face) %}
{%- if face.name == '-ignore-' %}<span class="chip ignored">ignored</span>
{%- elif face.name %}<span class="chip name" title="confirmed">&#10003; {{ face.name }}</span>
{%- elif face.guess %}<span class="chip guess" title="{{ face.why or ('guess at distance %.3f (smaller is closer)'|format(face.distance) if face.distance is not none else 'guess from a named cluster') }}">{{ face.guess }}?</span> <span class="dist">{{ '%.2f'|format(face.distance) if face.distance is not none else 'cluster' }}</span>
{%- else %}<span class="chip unknown"{% if face.why %} title="{{ face.why }}"{% endif %}>unknown</span>{% endif %}
{%- endmacro %}

{% macro face_card(face, next_url, why=false) %}
<article class="face{% if face.confirmed %} confirmed{% elif face.guess and not face.name %} guessed{% endif %}" tabindex="0"
     data-face="{{ face.face_id }}">
  <a class="thumb-link" href="{{ url_for('photo', folder=face.key, file=face.file) }}" title="open {{ face.label }}">
    <img class="thumb" src="{{ url_for('thumb', folder=face.key, face=face.face_id) }}" alt="face {{ face.face_nr }} in {{ face.label }}" width="160" height="160" loading="lazy">
  </a>
  <div class="who">{{ who(face) }}</div>
  {% if why and face.why %}<p class="why">{{ face.why }}</p>{% endif %}
  <div class="where" title="{{ face.label }}"><a href="{{ url_for('photo', folder=face.key, file=face.file) }}"><span class="file">{{ face.file }}</span> <span class="nr">#{{ face.face_nr }}</span></a><span class="folder">{{ face.where }}</span></div>
  {% if not read_only %}
  <div class="actions">
  {% if face.guess and not face.name %}
  <form method="post" action="{{ url_for('confirm_guess') }}">{{ hidden(next_url) }}
    <input type="hidden" name="folder" value="{{ face.key|as_arg }}"><input type="hidden" name="face" value="{{ face.face_id }}">
    <input type="hidden" name="guess" value="{{ face.guess }}">
    <button type="submit" class="confirm" data-key="y" title="yes, this is {{ face.guess }} (y)">&#10003; yes</button>
  </form>
  <form method="post" action="{{ url_for('reject_guess') }}">{{ hidden(next_url) }}
    <input type="hidden" name="folder" value="{{ face.key|as_arg }}"><input type="hidden" name="face" value="{{ face.face_id }}">
    <input type="hidden" name="guess" value="{{ face.guess }}">
    <button type="submit" class="reject" data-key="n" title="not {{ face.guess }} (n)">&#10007; not</button>
  </form>
  {% endif %}
  {% if face.name != '-ignore-' %}
  <form method="post" action="{{ url_for('ignore_face') }}">{{ hidden(next_url) }}
    <input type="hidden" name="folder" value="{{ face.key|as_arg }}"><input type="hidden" name="face" value="{{ face.face_id }}">
    <input type="hidden" name="expected" value="{{ face.token }}">
    <button type="submit" class="ignore" data-key="i" title="not a face, or nobody to name (i)">ignore</button>
  </form>
  {% endif %}
  </div>
  <form method="post" action="{{ url_for('name_face') }}" class="name-form">{{ hidden(next_url) }}
    <input type="hidden" name="folder" value="{{ face.key|as_arg }}"><input type="hidden" name="face" value="{{ face.face_id }}">
    <input type="hidden" name="expected" value="{{ face.token }}">
    <input type="text" name="name" list="people" placeholder="{{ 'rename' if face.confirmed else 'who is it?' }}" aria-label="name for face {{ face.face_nr }} in {{ face.label }}" value="{{ face.name if face.confirmed else '' }}" data-key="e">
    <button type="submit" class="set-name" title="save this name">save</button>
  </form>
  {% endif %}
</article>
{% endmacro %}

{% macro grid(faces, next_url, limit, more_url) %}
<div class="faces">{% for face in faces[:limit] %}{{ face_card(face, next_url) }}{% endfor %}</div>
{% if faces|length > limit %}<p class="more"><a href="{{ more_url }}">show more ({{ faces|length - limit }} not shown)</a></p>{% endif %}
{% endmacro %}

{% macro mosaic(faces, count) %}
<div class="mosaic">{% for face in faces[:count] %}<img class="thumb" src="{{ url_for('thumb', folder=face.key, face=face.face_id) }}" alt="{{ face.label }}" title="{{ face.label }}" width="72" height="72" loading="lazy">{% endfor %}</div>
{% endmacro %}
"""

PEOPLE = """{% extends "base.html" %}{% from "macros.html" import mosaic with context %}
{% block title %}People{% endblock %}
{% block main %}
<div class="page-head">
  <h1>People</h1>
  <p class="sub">{{ people|length }} people · {{ people|sum(attribute='confirmed') }} faces confirmed · {{ people|sum(attribute='guessed') }} guesses to review</p>
</div>
{% if not people %}<p class="empty">Nobody is named yet. Name an <a href="{{ url_for('clusters') }}">unknown person</a>, or type names in faces.csv.</p>{% endif %}
<div class="people">
{% for person in people %}
  <a class="person" href="{{ url_for('person', name=person.name) }}">
    {% if person.sample %}<img class="avatar" src="{{ url_for('thumb', folder=person.sample.key, face=person.sample.face_id) }}" alt="{{ person.name }}" width="128" height="128" loading="lazy">
    {% else %}<span class="avatar none" aria-hidden="true">?</span>{% endif %}
    <span class="person-name">{{ person.name }}</span>
    <span class="person-counts"><span class="n-confirmed">{{ person.confirmed }} confirmed</span>{% if person.guessed %}<span class="badge">{{ person.guessed }} to review</span>{% endif %}</span>
  </a>
{% endfor %}
</div>
{% if clusters %}
<section class="teaser">
  <h2>Who are these? <a class="all" href="{{ url_for('clusters') }}">all {{ clusters|length }} unknown people &rarr;</a></h2>
  <div class="teasers">
  {% for cluster in clusters[:6] %}
    <a class="teaser-card" href="{{ url_for('cluster', label=cluster.label) }}">{{ mosaic(cluster.faces, 4) }}
      <span>{{ cluster.faces|length }} faces{% if cluster.guess %} · <em>{{ cluster.guess }}?</em>{% endif %}</span></a>
  {% endfor %}
  </div>
</section>
{% endif %}
<p class="sub">{{ unknown }} faces have no name, no guess and no group: <a href="{{ url_for('unknown') }}">other faces</a>.</p>
{% endblock %}
"""

PERSON = """{% extends "base.html" %}{% from "macros.html" import grid, hidden with context %}
{% block title %}{{ name }}{% endblock %}
{% block main %}
<div class="page-head person-head">
  {% if confirmed %}<img class="avatar" src="{{ url_for('thumb', folder=confirmed[0].key, face=confirmed[0].face_id) }}" alt="{{ name }}" width="96" height="96">{% endif %}
  <div>
    <h1>{{ name }}</h1>
    <p class="sub">{{ confirmed|length }} confirmed{% if guessed %} · {{ guessed|length }} guesses to review{% endif %}</p>
    {% if not read_only and confirmed %}
    <details class="rename"><summary>rename everywhere</summary>
    <form method="post" action="{{ url_for('rename_person') }}">{{ hidden(request.full_path) }}
      <input type="hidden" name="old" value="{{ name }}">
      <input type="text" name="new" list="people" required aria-label="new name for {{ name }}" placeholder="new name">
      <button type="submit">rename</button>
    </form></details>
    {% endif %}
  </div>
</div>
{% if not read_only and upto %}
<form method="get" action="{{ url_for('person') }}" class="upto" id="upto-preview">
  <input type="hidden" name="name" value="{{ name }}">
  <label for="upto">Confirm every guess of {{ name }} up to distance</label>
  <input type="range" id="upto" name="upto" min="{{ upto.low }}" max="{{ upto.high }}" step="0.01" value="{{ '%.2f'|format(upto.value) }}"
         data-distances="{{ upto.distances|join(' ') }}" data-target="upto-confirm" aria-describedby="upto-count">
  <output for="upto" id="upto-value">{{ '%.2f'|format(upto.value) }}</output>
  <button type="submit" class="quiet">count</button>
</form>
<form method="post" action="{{ url_for('confirm_upto') }}" class="upto-confirm" id="upto-confirm">{{ hidden(request.full_path) }}
  <input type="hidden" name="name" value="{{ name }}">
  <input type="hidden" name="upto" value="{{ '%.2f'|format(upto.value) }}">
  <button type="submit" class="confirm big"><span id="upto-count">{{ upto.count }}</span> of {{ upto.distances|length }} guesses are {{ name }}: confirm them</button>
  <span class="hint">check the nearest ones below first; a rejected guess (&#10007;) is never made again</span>
</form>
{% endif %}
{% if guessed %}<h2>To review <span class="sub">guesses, nearest first</span></h2>
{{ grid(guessed, request.full_path, limit, url_for('person', name=name, limit=limit * 4)) }}{% endif %}
<h2>Confirmed</h2>
{{ grid(confirmed, request.full_path, limit, url_for('person', name=name, limit=limit * 4)) }}
{% endblock %}
"""

CLUSTERS = """{% extends "base.html" %}{% from "macros.html" import hidden, mosaic with context %}
{% block title %}Unknown people{% endblock %}
{% block main %}
<div class="page-head">
  <h1>Unknown people</h1>
  <p class="sub">Faces that look alike, grouped; name a group at once, or open it to untick faces of someone else first.</p>
</div>
{% if not clusters %}<p class="empty">No groups of unnamed faces.</p>{% endif %}
<div class="clusters">
{% for cluster in clusters[:limit] %}
<section class="cluster{% if cluster.guess %} has-guess{% endif %}" id="cluster-{{ cluster.label }}">
  <a class="cluster-faces" href="{{ url_for('cluster', label=cluster.label) }}" title="see all {{ cluster.faces|length }} faces">{{ mosaic(cluster.faces, strip) }}</a>
  <h2>{{ cluster.faces|length }} faces in {{ cluster.photos }} photos <a class="label" href="{{ url_for('cluster', label=cluster.label) }}" title="open this group">{{ cluster.label }}</a>{% if cluster.named %} <span class="chip guess">suggested name</span>{% endif %}</h2>
  {% if cluster.guess %}
  <p class="cluster-guess"><span class="chip guess">{{ cluster.guess }}?</span> {{ cluster.guessed|length }} of {{ cluster.faces|length }} are guessed as {{ cluster.guess }}</p>
  {% endif %}
  {% if cluster.faces|length > strip %}<p class="more"><a href="{{ url_for('cluster', label=cluster.label) }}">see all {{ cluster.faces|length }} faces</a></p>{% endif %}
  {% if not read_only %}
  {% if cluster.guess %}
  <form method="post" action="{{ url_for('name_cluster') }}" class="confirm-guess">{{ hidden(request.full_path) }}
    <input type="hidden" name="label" value="{{ cluster.label }}"><input type="hidden" name="only" value="1">
    <input type="hidden" name="name" value="{{ cluster.guess }}">
    {% for face in cluster.guessed %}<input type="hidden" name="face" value="{{ face.face_id }}">{% endfor %}
    <button type="submit" name="mode" value="confirm" class="confirm">&#10003; yes, {{ cluster.guessed|length }} are {{ cluster.guess }}</button>
  </form>
  {% endif %}
  <form method="post" action="{{ url_for('name_cluster') }}" class="name-cluster">{{ hidden(request.full_path) }}
    <input type="hidden" name="label" value="{{ cluster.label }}">
    <input type="text" name="name" list="people" placeholder="who is this?" required aria-label="name for cluster {{ cluster.label }}">
    {% if cluster.faces|length <= strip %}<button type="submit" name="mode" value="confirm" class="confirm-all">name all {{ cluster.faces|length }}</button>{% endif %}
    <button type="submit" name="mode" value="suggest" class="suggest quiet" title="the faces get the name as a guess; confirm them one by one">suggest</button>
  </form>
  {% endif %}
</section>
{% endfor %}
</div>
{% if clusters|length > limit %}<p class="more"><a href="{{ url_for('clusters', limit=limit * 4) }}">show more ({{ clusters|length - limit }} smaller groups not shown)</a></p>{% endif %}
{% endblock %}
"""

CLUSTER = """{% extends "base.html" %}{% from "macros.html" import face_card, hidden with context %}
{% block title %}Unknown person {{ cluster.label }}{% endblock %}
{% block main %}
<div class="page-head">
  <h1>Unknown person <span class="sub">{{ cluster.label }}</span></h1>
  <p class="sub">{{ cluster.faces|length }} faces in {{ cluster.photos }} photos{% if cluster.guess %} · {{ cluster.guessed|length }} guessed as <span class="chip guess">{{ cluster.guess }}?</span>{% endif %}</p>
</div>
{% if not read_only and cluster.faces %}
<form method="post" action="{{ url_for('name_cluster') }}" id="cluster-form" class="name-cluster picker">{{ hidden(request.full_path) }}
  <input type="hidden" name="label" value="{{ cluster.label }}">
  <input type="hidden" name="only" value="1">
  <p>Untick the faces of someone else, then name the rest:</p>
  <div class="picks">{% for face in cluster.faces %}<label class="pick" title="{{ face.label }}"><input type="checkbox" name="face" value="{{ face.face_id }}" checked><img class="thumb" src="{{ url_for('thumb', folder=face.key, face=face.face_id) }}" alt="{{ face.label }}" width="96" height="96" loading="lazy"><span>{{ face.file }}</span></label>{% endfor %}</div>
  <div class="picker-bar">
    <input type="text" name="name" list="people" placeholder="who is this?" required aria-label="name for cluster {{ cluster.label }}" value="{{ cluster.guess }}">
    <button type="submit" name="mode" value="confirm" class="confirm-all confirm">name the ticked faces</button>
  </div>
</form>
{% endif %}
<h2>Each face</h2>
<div class="faces">{% for face in cluster.faces %}{{ face_card(face, request.full_path) }}{% endfor %}</div>
{% endblock %}
"""

PHOTO = """{% extends "base.html" %}{% from "macros.html" import face_card with context %}
{% block title %}{{ file }}{% endblock %}
{% block main %}
<div class="page-head">
  <h1>{{ file }}</h1>
  <p class="sub where">{{ where }}</p>
</div>
<div class="photo-page">
  <div class="photo">
    <img src="{{ url_for('image', folder=key, file=file) }}" alt="{{ where }}/{{ file }}">
    {% for face in faces %}
    <div class="box{% if face.confirmed %} confirmed{% elif face.guess %} guessed{% endif %}"
         style="left:{{ '%.4f'|format(face.box.x * 100) }}%;top:{{ '%.4f'|format(face.box.y * 100) }}%;width:{{ '%.4f'|format(face.box.w * 100) }}%;height:{{ '%.4f'|format(face.box.h * 100) }}%">
      <span>{{ face.face_nr }} {{ face.name or (face.guess ~ '?' if face.guess else '') }}</span>
    </div>
    {% endfor %}
  </div>
  <div class="faces side">{% for face in faces %}{{ face_card(face, request.full_path, why=true) }}{% endfor %}</div>
</div>
{% endblock %}
"""

UNKNOWN = """{% extends "base.html" %}{% from "macros.html" import grid with context %}
{% block title %}Other faces{% endblock %}
{% block main %}
<div class="page-head">
  <h1>Other faces</h1>
  <p class="sub">{{ faces|length }} faces with no name, no guess and no cluster: people seen once, or not faces at all (ignore those).</p>
</div>
{{ grid(faces, request.full_path, limit, url_for('unknown', limit=limit * 4)) }}
{% endblock %}
"""

ERROR = """{% extends "base.html" %}
{% block title %}{{ code }}{% endblock %}
{% block main %}<div class="page-head"><h1>{{ code }}</h1><p class="sub">{{ message }}</p></div>{% endblock %}
"""

TEMPLATES = {
    "base.html": BASE,
    "macros.html": MACROS,
    "people.html": PEOPLE,
    "person.html": PERSON,
    "clusters.html": CLUSTERS,
    "cluster.html": CLUSTER,
    "photo.html": PHOTO,
    "unknown.html": UNKNOWN,
    "error.html": ERROR,
}

CSS = """
:root { --bg: #f4f5f7; --card: #fff; --ink: #1f2328; --muted: #6a737d; --line: #e3e6ea; --brand: #3b5bdb;
        --ok: #2b8a3e; --ok-bg: #e6f4ea; --guess: #b35c00; --guess-bg: #fff1db; --bad: #c92a2a; --radius: 12px; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: var(--ink); background: var(--bg); }
a { color: var(--brand); text-decoration: none; }
a:hover { text-decoration: underline; }
header.top { position: sticky; top: 0; z-index: 10; display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1.5rem;
             padding: .6rem 1.25rem; background: #fff; border-bottom: 1px solid var(--line); }
.brand { font-weight: 700; font-size: 1.1rem; color: var(--ink); letter-spacing: -.01em; }
header nav { display: flex; flex-wrap: wrap; gap: .25rem; }
header nav a { color: var(--ink); padding: .35rem .8rem; border-radius: 999px; font-weight: 500; }
header nav a:hover { background: var(--bg); text-decoration: none; }
header nav a.here { background: #e7ebfc; color: var(--brand); }
.count { display: inline-block; min-width: 1.4em; padding: 0 .4em; border-radius: 999px; background: var(--line); color: var(--muted);
         font-size: .8em; text-align: center; }
.keys { margin-left: auto; color: var(--muted); font-size: .8rem; }
kbd { font: .75rem ui-monospace, monospace; padding: 0 .3em; border: 1px solid var(--line); border-bottom-width: 2px; border-radius: 4px; background: #fafbfc; }
.ro { color: var(--guess); font-weight: 600; }
main { max-width: 1400px; margin: 0 auto; padding: 1rem 1.25rem 3rem; }
h1 { font-size: 1.6rem; margin: .2rem 0; letter-spacing: -.01em; }
h2 { font-size: 1.1rem; margin: 1.6rem 0 .7rem; }
.sub { color: var(--muted); font-size: .9rem; font-weight: 400; margin: .2rem 0; }
.page-head { margin: .5rem 0 1.2rem; }
.empty { padding: 2rem; text-align: center; color: var(--muted); background: var(--card); border-radius: var(--radius); }
.flash { max-width: 1400px; margin: .75rem auto 0; padding: .6rem 1rem; border-radius: 8px; background: var(--ok-bg); color: #1e5e2b;
         border: 1px solid #b7dfc1; width: calc(100% - 2.5rem); }
.flash.error { background: #fdecec; color: #8a1f1f; border-color: #f2c0c0; }
button { font: inherit; font-size: .82rem; padding: .3rem .55rem; border: 1px solid var(--line); border-radius: 8px; background: #fff;
         color: var(--ink); cursor: pointer; }
button:hover { border-color: #c5cad1; background: #f8f9fa; }
button.confirm { background: var(--ok); border-color: var(--ok); color: #fff; }
button.confirm:hover { background: #237032; }
button.reject { color: var(--bad); }
button.quiet { background: transparent; }
button.big { font-size: 1rem; padding: .55rem 1rem; }
input[type=text] { font: inherit; font-size: .9rem; padding: .35rem .55rem; border: 1px solid var(--line); border-radius: 8px; min-width: 0; }
input[type=text]:focus, button:focus-visible { outline: 2px solid var(--brand); outline-offset: 1px; }
.chip { display: inline-block; padding: .05rem .55rem; border-radius: 999px; font-size: .85rem; font-weight: 600;
        max-width: 100%; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; vertical-align: middle; }
.chip.name { background: var(--ok-bg); color: var(--ok); }
.chip.guess { background: var(--guess-bg); color: var(--guess); font-style: italic; }
.chip.unknown, .chip.ignored { background: #eef0f2; color: var(--muted); font-weight: 500; }
.dist { color: var(--muted); font-size: .8rem; font-variant-numeric: tabular-nums; }
.why { color: var(--muted); font-size: .75rem; margin: .2rem 0; }
.badge { background: var(--guess-bg); color: var(--guess); padding: 0 .45em; border-radius: 999px; font-weight: 600; }

/* people */
.people { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 1.25rem .75rem; }
.person { display: flex; flex-direction: column; align-items: center; text-align: center; padding: .9rem .5rem; border-radius: var(--radius);
          color: var(--ink); }
.person:hover { background: var(--card); text-decoration: none; box-shadow: 0 1px 4px rgba(0,0,0,.08); }
.avatar { width: 128px; height: 128px; border-radius: 50%; object-fit: cover; background: #dde1e6; display: block;
          box-shadow: 0 1px 3px rgba(0,0,0,.15); }
.avatar.none { display: flex; align-items: center; justify-content: center; font-size: 2.5rem; color: #fff; }
.person-name { margin-top: .6rem; font-weight: 600; overflow-wrap: anywhere; }
.person-counts { display: flex; flex-direction: column; align-items: center; gap: .2rem; font-size: .8rem; color: var(--muted); }
.person-counts .badge { white-space: nowrap; }
.teaser { margin-top: 2rem; }
.teaser h2 { display: flex; align-items: baseline; gap: 1rem; }
.teaser .all { font-size: .9rem; font-weight: 500; }
.teasers { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: .75rem; }
.teaser-card { background: var(--card); border-radius: var(--radius); padding: .5rem; color: var(--ink); font-size: .85rem;
               box-shadow: 0 1px 2px rgba(0,0,0,.06); }
.teaser-card:hover { text-decoration: none; box-shadow: 0 2px 8px rgba(0,0,0,.12); }
.teaser-card .mosaic { grid-template-columns: repeat(2, 1fr); margin-bottom: .35rem; }
.teaser-card .mosaic .thumb { width: 100%; height: auto; aspect-ratio: 1; }

/* person */
.person-head { display: flex; gap: 1.25rem; align-items: center; }
.person-head .avatar { width: 96px; height: 96px; }
details.rename summary { cursor: pointer; color: var(--brand); font-size: .9rem; }
details.rename form { display: flex; gap: .4rem; margin-top: .4rem; }
.upto { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1rem; padding: .8rem 1rem .2rem; background: var(--card);
        border-radius: var(--radius) var(--radius) 0 0; }
.upto label { font-weight: 600; }
.upto input[type=range] { flex: 1 1 220px; accent-color: var(--ok); }
.upto output { font-variant-numeric: tabular-nums; font-weight: 600; min-width: 3em; }
.upto-confirm { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1rem; padding: .5rem 1rem .9rem; background: var(--card);
                border-radius: 0 0 var(--radius) var(--radius); box-shadow: 0 1px 2px rgba(0,0,0,.06); }
.hint { color: var(--muted); font-size: .8rem; }

/* face cards */
.faces { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: .9rem; }
.face { display: flex; flex-direction: column; gap: .35rem; padding: .55rem; background: var(--card); border-radius: var(--radius);
        border: 2px solid transparent; box-shadow: 0 1px 2px rgba(0,0,0,.07); min-width: 0; }
.face:focus { outline: none; border-color: var(--brand); box-shadow: 0 0 0 3px #d0d9fb; }
.face.confirmed { border-color: #c9e7d0; }
.face.guessed { border-color: #ffd8a8; }
.thumb-link { display: block; }
.face .thumb { width: 100%; height: auto; aspect-ratio: 1; object-fit: cover; border-radius: 8px; background: #e9ecef; display: block; }
.who { min-height: 1.6rem; }
.where { display: flex; flex-direction: column; font-size: .8rem; line-height: 1.3; min-width: 0; }
.where a { color: var(--ink); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.where .nr { color: var(--muted); }
.where .folder { color: var(--muted); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; direction: rtl; text-align: left; }
.actions { display: flex; flex-wrap: wrap; gap: .25rem; }
.actions form { display: contents; }
.name-form { display: flex; gap: .3rem; }
.name-form input { flex: 1; width: 0; }
.more { margin: .8rem 0; }

/* unknown people */
.clusters { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 1rem; }
.cluster { background: var(--card); border-radius: var(--radius); padding: .8rem; box-shadow: 0 1px 2px rgba(0,0,0,.07);
           display: flex; flex-direction: column; gap: .5rem; }
.cluster.has-guess { border-top: 4px solid #ffc078; }
.cluster h2 { margin: 0; font-size: 1rem; display: flex; flex-wrap: wrap; align-items: baseline; gap: .5rem; }
.cluster h2 .label { font-size: .8rem; font-weight: 500; }
.cluster-faces:hover { text-decoration: none; opacity: .92; }
.mosaic { display: grid; grid-template-columns: repeat(auto-fill, minmax(56px, 1fr)); gap: 4px; }
.mosaic .thumb { width: 100%; height: auto; aspect-ratio: 1; object-fit: cover; border-radius: 6px; background: #e9ecef; display: block; }
.cluster-guess { margin: 0; font-size: .9rem; }
.cluster form { display: flex; flex-wrap: wrap; gap: .35rem; }
.cluster form input[type=text] { flex: 1 1 8rem; }
.cluster p { margin: 0; }
.picker { background: var(--card); border-radius: var(--radius); padding: .8rem 1rem; box-shadow: 0 1px 2px rgba(0,0,0,.07); }
.picker p { margin: 0 0 .6rem; }
.picks { display: grid; grid-template-columns: repeat(auto-fill, minmax(104px, 1fr)); gap: .5rem; }
.pick { position: relative; display: flex; flex-direction: column; align-items: center; font-size: .72rem; color: var(--muted);
        cursor: pointer; min-width: 0; }
.pick span { max-width: 100%; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.pick input { position: absolute; top: 6px; left: 6px; width: 18px; height: 18px; accent-color: var(--ok); }
.pick .thumb { width: 100%; height: auto; aspect-ratio: 1; object-fit: cover; border-radius: 8px; border: 3px solid var(--ok); }
.pick input:not(:checked) + .thumb { border-color: transparent; opacity: .35; filter: grayscale(1); }
.picker-bar { display: flex; gap: .5rem; margin-top: .8rem; }
.picker-bar input { flex: 0 1 20rem; }

/* photo */
.photo-page { display: grid; grid-template-columns: minmax(0, 3fr) minmax(200px, 1fr); gap: 1.25rem; align-items: start; }
.photo { position: relative; display: inline-block; max-width: 100%; justify-self: start; }
.photo img { max-width: 100%; max-height: 80vh; display: block; border-radius: 8px; }
.box { position: absolute; border: 2px solid #ffa94d; border-radius: 4px; box-shadow: 0 0 0 1px rgba(0,0,0,.35); }
.box.confirmed { border-color: #51cf66; }
.box span { position: absolute; top: 100%; left: -2px; margin-top: 2px; background: rgba(20,20,20,.75); color: #fff; font-size: .75rem;
            padding: .05rem .4rem; border-radius: 4px; white-space: nowrap; }
.faces.side { grid-template-columns: 1fr; gap: .6rem; }
.faces.side .face { display: grid; grid-template-columns: 88px minmax(0, 1fr); column-gap: .7rem; row-gap: .3rem; align-items: start; }
.faces.side .thumb-link { grid-row: span 3; }
.faces.side .name-form { grid-column: 1 / -1; }
.where.sub { direction: ltr; }

@media (max-width: 720px) {
  header.top { padding: .5rem .75rem; gap: .4rem .75rem; }
  .keys { display: none; }
  main { padding: .75rem; }
  .faces { grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: .6rem; }
  .people { grid-template-columns: repeat(auto-fill, minmax(110px, 1fr)); }
  .avatar { width: 96px; height: 96px; }
  .photo-page { grid-template-columns: 1fr; }
  .clusters { grid-template-columns: 1fr; }
}
"""

JS = """
// One key per action on the focused face card: y confirm, n not this person, i ignore, e type a name.
document.addEventListener('keydown', function (event) {
  var card = document.activeElement;
  if (!card || !card.classList || !card.classList.contains('face')) return;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  var target = card.querySelector('[data-key="' + event.key + '"]');
  if (!target) return;
  event.preventDefault();
  if (target.tagName === 'INPUT') { target.focus(); } else { target.click(); }
});

// "Confirm every guess up to distance D": the count follows the slider (without script, "count" asks the server).
document.addEventListener('DOMContentLoaded', function () {
  var slider = document.getElementById('upto');
  if (!slider) return;
  var distances = slider.dataset.distances.split(' ').filter(Boolean).map(Number);
  var confirm = document.getElementById(slider.dataset.target);
  function update() {
    var limit = Number(slider.value);
    document.getElementById('upto-value').textContent = limit.toFixed(2);
    document.getElementById('upto-count').textContent = distances.filter(function (d) { return d <= limit + 1e-9; }).length;
    confirm.querySelector('input[name=upto]').value = limit.toFixed(2);
  }
  slider.addEventListener('input', update);
  var count = document.querySelector('#upto-preview button');
  if (count) count.hidden = true;
});
"""
