"""The page templates (Jinja, autoescaped), kept as strings so no package data is needed."""

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
<nav>
  <a href="{{ url_for('people') }}">People</a>
  <a href="{{ url_for('clusters') }}">Unknown clusters</a>
  <a href="{{ url_for('unknown') }}">Other unknown faces</a>
  {% if read_only %}<span class="ro">read-only</span>{% endif %}
  <span class="keys">keys on a focused face: <kbd>y</kbd> confirm · <kbd>n</kbd> not this person · <kbd>i</kbd> ignore · <kbd>e</kbd> type a name</span>
</nav>
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

{% macro face_card(face, next_url) %}
<div class="face{% if face.confirmed %} confirmed{% elif face.guess %} guessed{% endif %}" tabindex="0"
     data-face="{{ face.face_id }}">
  <a href="{{ url_for('photo', folder=face.key, file=face.file) }}" title="{{ face.label }}">
    <img class="thumb" src="{{ url_for('thumb', folder=face.key, face=face.face_id) }}" alt="face {{ face.face_nr }} in {{ face.file }}" width="120" height="120" loading="lazy">
  </a>
  <div class="who">
    {% if face.name %}<span class="name">{{ face.name }}</span>
    {% elif face.guess %}<span class="guess" title="{{ 'guess, distance %.3f'|format(face.distance) if face.distance is not none else 'guess from a named cluster' }}">{{ face.guess }}?</span> <span class="dist">{{ '%.2f'|format(face.distance) if face.distance is not none else 'cluster' }}</span>
    {% else %}<span class="unknown">unknown</span>{% endif %}
  </div>
  <div class="where"><a href="{{ url_for('photo', folder=face.key, file=face.file) }}">{{ face.label }}</a></div>
  {% if not read_only %}
  {% if face.guess and not face.name %}
  <form method="post" action="{{ url_for('confirm_guess') }}" class="inline">{{ hidden(next_url) }}
    <input type="hidden" name="folder" value="{{ face.key }}"><input type="hidden" name="face" value="{{ face.face_id }}">
    <input type="hidden" name="guess" value="{{ face.guess }}">
    <button type="submit" class="confirm" data-key="y" title="confirm: this is {{ face.guess }} (y)">&#10003; {{ face.guess }}</button>
  </form>
  <form method="post" action="{{ url_for('reject_guess') }}" class="inline">{{ hidden(next_url) }}
    <input type="hidden" name="folder" value="{{ face.key }}"><input type="hidden" name="face" value="{{ face.face_id }}">
    <input type="hidden" name="guess" value="{{ face.guess }}">
    <button type="submit" class="reject" data-key="n" title="not {{ face.guess }} (n)">&#10007; not</button>
  </form>
  {% endif %}
  <form method="post" action="{{ url_for('name_face') }}" class="name-form">{{ hidden(next_url) }}
    <input type="hidden" name="folder" value="{{ face.key }}"><input type="hidden" name="face" value="{{ face.face_id }}">
    <input type="hidden" name="expected" value="{{ face.token }}">
    <input type="text" name="name" list="people" placeholder="name" aria-label="name for face {{ face.face_nr }} in {{ face.file }}" value="{{ face.name if face.confirmed else '' }}" data-key="e">
    <button type="submit" class="set-name">set</button>
  </form>
  {% if face.name != '-ignore-' %}
  <form method="post" action="{{ url_for('ignore_face') }}" class="inline">{{ hidden(next_url) }}
    <input type="hidden" name="folder" value="{{ face.key }}"><input type="hidden" name="face" value="{{ face.face_id }}">
    <input type="hidden" name="expected" value="{{ face.token }}">
    <button type="submit" class="ignore" data-key="i" title="not a face / do not name (i)">ignore</button>
  </form>
  {% endif %}
  {% endif %}
</div>
{% endmacro %}
"""

PEOPLE = """{% extends "base.html" %}{% from "macros.html" import hidden with context %}
{% block title %}People{% endblock %}
{% block main %}
<h1>People</h1>
{% if not people %}<p>Nobody is named yet. Name a face in a <a href="{{ url_for('clusters') }}">cluster</a> or in faces.csv.</p>{% endif %}
<table class="people">
<thead><tr><th></th><th>name</th><th>confirmed</th><th>guessed</th></tr></thead>
<tbody>
{% for person in people %}
<tr>
  <td>{% if person.sample %}<img class="thumb small" src="{{ url_for('thumb', folder=person.sample.key, face=person.sample.face_id) }}" alt="{{ person.name }}" width="64" height="64" loading="lazy">{% endif %}</td>
  <td><a class="person" href="{{ url_for('person', name=person.name) }}">{{ person.name }}</a></td>
  <td>{{ person.confirmed }}</td><td>{{ person.guessed }}</td>
</tr>
{% endfor %}
</tbody>
</table>
<p>{{ unknown }} faces without a name or guess; {{ cluster_count }} <a href="{{ url_for('clusters') }}">unknown clusters</a>.</p>
{% endblock %}
"""

PERSON = """{% extends "base.html" %}{% from "macros.html" import face_card, hidden with context %}
{% block title %}{{ name }}{% endblock %}
{% block main %}
<h1>{{ name }}</h1>
<p>{{ confirmed|length }} confirmed, {{ guessed|length }} guessed (nearest first).</p>
{% if not read_only and confirmed %}
<form method="post" action="{{ url_for('rename_person') }}" class="rename">{{ hidden(request.full_path) }}
  <input type="hidden" name="old" value="{{ name }}">
  <label>Rename everywhere to <input type="text" name="new" list="people" required></label>
  <button type="submit">rename</button>
</form>
{% endif %}
{% if guessed %}<h2>Guessed</h2>
<div class="faces">{% for face in guessed[:limit] %}{{ face_card(face, request.full_path) }}{% endfor %}</div>
{% if guessed|length > limit %}<p><a href="{{ url_for('person', name=name, limit=limit * 4) }}">show more ({{ guessed|length - limit }} not shown)</a></p>{% endif %}{% endif %}
<h2>Confirmed</h2>
<div class="faces">{% for face in confirmed[:limit] %}{{ face_card(face, request.full_path) }}{% endfor %}</div>
{% if confirmed|length > limit %}<p><a href="{{ url_for('person', name=name, limit=limit * 4) }}">show more ({{ confirmed|length - limit }} not shown)</a></p>{% endif %}
{% endblock %}
"""

CLUSTERS = """{% extends "base.html" %}{% from "macros.html" import hidden with context %}
{% block title %}Unknown clusters{% endblock %}
{% block main %}
<h1>Unknown clusters</h1>
{% if not clusters %}<p>No clusters of unnamed faces.</p>{% endif %}
{% for label, faces in clusters[:limit] %}
<section class="cluster" id="cluster-{{ label }}">
  <h2><a href="{{ url_for('cluster', label=label) }}">{{ label }}</a> · {{ faces|length }} faces{% if label[:1] != 'u' or not label[1:].isdigit() %} (suggested name){% endif %}</h2>
  <div class="strip">{% for face in faces[:strip] %}<a href="{{ url_for('photo', folder=face.key, file=face.file) }}"><img class="thumb small" src="{{ url_for('thumb', folder=face.key, face=face.face_id) }}" alt="{{ face.label }}" width="64" height="64" loading="lazy"></a>{% endfor %}</div>
  {% if faces|length > strip %}<p><a href="{{ url_for('cluster', label=label) }}">see all {{ faces|length }} faces</a></p>{% endif %}
  {% if not read_only %}
  <form method="post" action="{{ url_for('name_cluster') }}" class="name-cluster">{{ hidden(request.full_path) }}
    <input type="hidden" name="label" value="{{ label }}">
    <input type="text" name="name" list="people" placeholder="who is this?" required aria-label="name for cluster {{ label }}">
    {% if faces|length <= strip %}<button type="submit" name="mode" value="confirm" class="confirm-all">name all {{ faces|length }}</button>{% endif %}
    <button type="submit" name="mode" value="suggest" class="suggest" title="the faces get the name as a guess; confirm them one by one">suggest</button>
  </form>
  {% endif %}
</section>
{% endfor %}
{% if clusters|length > limit %}<p><a href="{{ url_for('clusters', limit=limit * 4) }}">show more ({{ clusters|length - limit }} smaller clusters not shown)</a></p>{% endif %}
{% endblock %}
"""

CLUSTER = """{% extends "base.html" %}{% from "macros.html" import face_card, hidden with context %}
{% block title %}Cluster {{ label }}{% endblock %}
{% block main %}
<h1>Cluster {{ label }} · {{ faces|length }} faces</h1>
{% if not read_only and faces %}
<form method="post" action="{{ url_for('name_cluster') }}" id="cluster-form" class="name-cluster">{{ hidden(request.full_path) }}
  <input type="hidden" name="label" value="{{ label }}">
  <input type="hidden" name="only" value="1">
  <p>Untick the faces that are someone else, then name the rest:</p>
  <div class="picks">{% for face in faces %}<label class="pick"><input type="checkbox" name="face" value="{{ face.face_id }}" checked><img class="thumb small" src="{{ url_for('thumb', folder=face.key, face=face.face_id) }}" alt="{{ face.label }}" width="64" height="64" loading="lazy"></label>{% endfor %}</div>
  <input type="text" name="name" list="people" placeholder="who is this?" required aria-label="name for cluster {{ label }}">
  <button type="submit" name="mode" value="confirm" class="confirm-all">name the ticked faces</button>
</form>
{% endif %}
<div class="faces">{% for face in faces %}{{ face_card(face, request.full_path) }}{% endfor %}</div>
{% endblock %}
"""

PHOTO = """{% extends "base.html" %}{% from "macros.html" import face_card with context %}
{% block title %}{{ file }}{% endblock %}
{% block main %}
<h1>{{ file }}</h1>
<p class="where">{{ folder_label }}</p>
<div class="photo">
  <img src="{{ url_for('image', folder=key, file=file) }}" alt="{{ file }}">
  {% for face in faces %}
  <div class="box{% if face.confirmed %} confirmed{% elif face.guess %} guessed{% endif %}"
       style="left:{{ '%.4f'|format(face.box.x * 100) }}%;top:{{ '%.4f'|format(face.box.y * 100) }}%;width:{{ '%.4f'|format(face.box.w * 100) }}%;height:{{ '%.4f'|format(face.box.h * 100) }}%">
    <span>{{ face.face_nr }} {{ face.name or (face.guess ~ '?' if face.guess else '') }}</span>
  </div>
  {% endfor %}
</div>
<div class="faces">{% for face in faces %}{{ face_card(face, request.full_path) }}{% endfor %}</div>
{% endblock %}
"""

UNKNOWN = """{% extends "base.html" %}{% from "macros.html" import face_card with context %}
{% block title %}Unknown faces{% endblock %}
{% block main %}
<h1>Other unknown faces</h1>
<p>{{ faces|length }} faces with no name, no guess and no cluster.</p>
<div class="faces">{% for face in faces[:limit] %}{{ face_card(face, request.full_path) }}{% endfor %}</div>
{% if faces|length > limit %}<p><a href="{{ url_for('unknown', limit=limit * 4) }}">show more ({{ faces|length - limit }} not shown)</a></p>{% endif %}
{% endblock %}
"""

ERROR = """{% extends "base.html" %}
{% block title %}{{ code }}{% endblock %}
{% block main %}<h1>{{ code }}</h1><p>{{ message }}</p>{% endblock %}
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
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
nav { background: #333; padding: .5em 1em; display: flex; gap: 1.5em; align-items: center; }
nav a { color: #fff; text-decoration: none; font-weight: 600; }
nav .keys { color: #bbb; font-size: 12px; margin-left: auto; }
nav .ro { color: #fc6; }
main { padding: 1em; }
.flash { margin: .5em 1em; padding: .5em 1em; background: #eef6ee; border-left: 4px solid #4a4; }
.flash.error { background: #fbeaea; border-color: #c44; }
.faces { display: flex; flex-wrap: wrap; gap: 12px; }
.face { width: 200px; padding: 8px; background: #fff; border: 2px solid #ddd; border-radius: 6px; }
.face:focus { outline: 3px solid #39f; }
.face.guessed { border-style: dashed; border-color: #e90; }
.face.confirmed { border-color: #4a4; }
.thumb { width: 120px; height: 120px; object-fit: cover; border-radius: 4px; background: #eee; display: block; }
.thumb.small { width: 64px; height: 64px; display: inline-block; }
.guess { color: #b60; font-style: italic; }
.dist { color: #888; font-size: 12px; }
.unknown { color: #888; }
.where { font-size: 12px; color: #666; word-break: break-all; }
form.inline { display: inline; }
.name-form input { width: 120px; }
table.people td { padding: 4px 12px; vertical-align: middle; }
.photo { position: relative; display: inline-block; max-width: 100%; }
.photo img { max-width: 100%; max-height: 80vh; display: block; }
.box { position: absolute; border: 2px solid #e90; box-sizing: border-box; }
.box.confirmed { border-color: #4c4; }
.box span { position: absolute; top: 100%; left: 0; background: rgba(0,0,0,.7); color: #fff; font-size: 12px; padding: 0 4px; white-space: nowrap; }
.pick { display: inline-block; margin: 2px; }
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
"""
