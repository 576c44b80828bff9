"""The review page: a small local web app to see faces and confirm or correct names.

It reads the sidecars like ``status`` does and writes only through ``Scanner.update_folder`` (store
lock, three-way merge, atomic write, guesses, metadata), so naming in the browser and naming in
faces.csv stay equal and a concurrent edit is never lost.
"""
