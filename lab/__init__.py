"""The local lab: nspawn hosts (lab.sh) and the binary mirror they fetch from (mirror.py)."""
