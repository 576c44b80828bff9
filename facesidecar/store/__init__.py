"""The sidecar store: faces.csv for people, faces.pkl for the program, merged under a lock."""

CSV_NAME = "faces.csv"
PKL_NAME = "faces.pkl"
SIDECAR_NAMES = frozenset({CSV_NAME, PKL_NAME})
TEMP_PREFIX = "."  # temporary files are dotfiles: ".faces.csv.tmp-<pid>-<random>"
