"""Adapters: the parts that talk to the world outside facesidecar's own files and data.

Each adapter wraps one external tool or service (exiftool for the photos' embedded metadata,
MySQL/MariaDB for the database mirror) behind the few methods the scanner calls. The core (model,
store, naming and guessing) never imports an adapter: it is handed one, or none, so that it runs
and is tested without exiftool or a database, and an adapter can be replaced without touching it.
"""
