#!/usr/bin/env bash
# Lookup cost of large directories: `smsotp lookup` (the module's own lookup
# code, whole process) for the last user of a 100,000-line phone map and of a
# 100,000-entry LDIF export, beside a 10-line map. Prints a Markdown section.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "lookup.sh: run as root (the files must be root-owned)" >&2; exit 1; }
command -v hyperfine >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q hyperfine >/dev/null
cargo build --release --quiet
bin="$PWD/target/release/smsotp"
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
n=100000
python3 - "$d" "$n" <<'PY'
import sys
d, n = sys.argv[1], int(sys.argv[2])
with open(f"{d}/small.phones", "w") as f:
    for i in range(10):
        f.write(f"user{i}  +1 555 {i:07d}\n")
with open(f"{d}/large.phones", "w") as f:
    for i in range(n):
        f.write(f"user{i}  +1 555 {i:07d}\n")
with open(f"{d}/large.ldif", "w") as f:
    f.write("version: 1\n\n")
    for i in range(n):
        f.write(f"dn: uid=user{i},ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\nuid: user{i}\ncn: User {i}\nsn: {i}\n"
                f"mail: user{i}@example.org\ntelephoneNumber: +1 555 {i:07d}\nmobile: +1 555 {i:07d}\n\n")
PY
for kind in small.phones large.phones; do
  printf '[state]\ndir = "%s/state"\n[[directory]]\ntype = "file"\npath = "%s/%s"\n' "$d" "$d" "$kind" > "$d/$kind.toml"
done
printf '[state]\ndir = "%s/state"\n[[directory]]\ntype = "ldif"\npath = "%s/large.ldif"\n' "$d" "$d" > "$d/large.ldif.toml"
chmod 600 "$d"/*
last=user$((n - 1))
hyperfine -N --warmup 3 --runs 30 --export-json "$d/h.json" \
  -n "map, 10 lines" "$bin --config $d/small.phones.toml lookup user9" \
  -n "map, $n lines" "$bin --config $d/large.phones.toml lookup $last" \
  -n "LDIF, $n entries" "$bin --config $d/large.ldif.toml lookup $last" >/dev/null
python3 - "$d/h.json" "$d" <<'PY'
import json, os, sys
r = json.load(open(sys.argv[1]))["results"]
base = r[0]["median"]
print("| directory | file size | median (ms) | median − 10-line map (ms) |")
print("|---|---:|---:|---:|")
files = ["small.phones", "large.phones", "large.ldif"]
for x, f in zip(r, files):
    size = os.path.getsize(os.path.join(sys.argv[2], f))
    print(f"| {x['command']} | {size/1e6:.1f} MB | {x['median']*1000:.2f} | +{(x['median']-base)*1000:.2f} |")
PY
