"""Deletes one Node object through the API: a pool node's destroy (its pods are then
garbage-collected). Runs where `pulumi` runs, with the standard library only; the API's address,
CA and an admin's client certificate and key arrive as JSON on stdin. An API that does not answer
is reported, not fatal: destroy goes on, as the cluster's own forget does."""

import json
import os
import ssl
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

node = sys.argv[1]
api = json.load(sys.stdin)
with tempfile.TemporaryDirectory() as folder:  # 0700: the key is readable by us alone
    pair = os.path.join(folder, "client.pem")
    with open(os.open(pair, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(api["cert"] + "\n" + api["key"] + "\n")
    context = ssl.create_default_context(cadata=api["ca"])
    context.load_cert_chain(pair)
url = f"{api['server']}/api/v1/nodes/{urllib.parse.quote(node)}"
try:
    urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), context=context, timeout=30)
    print(f"{node}: Node object deleted")
except urllib.error.HTTPError as err:
    if err.code != 404:
        print(f"warning: {node}: the API refused to delete its Node object: {err}", file=sys.stderr)
    else:
        print(f"{node}: no Node object (already gone)")
except (urllib.error.URLError, OSError) as err:
    print(f"warning: {node}: API unreachable, its Node object stays: {err}", file=sys.stderr)
