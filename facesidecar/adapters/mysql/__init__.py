"""The MySQL/MariaDB adapter: a faithful, queryable copy of what the sidecars hold.

:mod:`.mirror` is what the scanner calls; :mod:`.outbox` keeps what waits for the database,
:mod:`.rows` turns a folder into rows and pushes them, :mod:`.schema` creates and upgrades the
tables, :mod:`.credentials` reaches the server without ever showing the password.
"""
