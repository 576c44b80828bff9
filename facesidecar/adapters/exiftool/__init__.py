"""The exiftool adapter: confirmed names into the photos' own metadata, and back out again.

One persistent exiftool process (:mod:`.process`) serves every call. :class:`.writer.MetadataWriter`
keeps each photo holding exactly the names facesidecar owns, as keywords and MWG face regions
(:mod:`.plan` decides what to write), and never touches what others wrote. Every write goes
through a checked hidden copy that is committed crash-safely (:mod:`.commit`): a photo is either
untouched or fully written, even when exiftool or facesidecar is killed.
"""
