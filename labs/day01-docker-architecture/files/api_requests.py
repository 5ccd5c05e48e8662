"""api_requests.py NAME ID CREATED: how the container NAME (full ID, creation time as `docker
inspect` gives them) was created and started, read from the requests dockerd logged (this lab
runs it with debug logging on: one "handling ... request" line per Engine API call).

Prints two tab-separated lines, `create` and `start`, each with a verdict and the request:
- hand: a request of your own (curl, or any HTTP client you drive by hand);
- cli: the docker CLI's request. Its create body carries every field the CLI fills in
  (AttachStdin, StdinOnce, NetworkingConfig...), and a command of the CLI starts with
  HEAD /_ping, the version negotiation, right before the start (or its attach and wait);
- none: no such request in the log.
Used by the day 1 check of step 3."""
import json
import re
import sys
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

LOG = "/var/log/dockerd.log"
FIELD = re.compile(r'([\w-]+)=("(?:[^"\\]|\\.)*"|\S*)')
CLI_CREATE_FIELDS = {"AttachStdin", "StdinOnce", "NetworkingConfig"}


def when(text):
    """An RFC 3339 time with up to nine decimals, as a comparable datetime."""
    text = text.rstrip("Z")
    whole, _, fraction = text.partition(".")
    stamp = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return stamp.replace(microsecond=int((fraction + "000000")[:6]))


def unquote(value):
    if not value.startswith('"'):
        return value
    try:
        return json.loads(value)
    except ValueError:  # a Go escape JSON does not know (\x..): close enough for a search
        return value[1:-1].replace('\\"', '"')


def requests():
    with open(LOG, errors="replace") as log:
        for line in log:
            if 'msg="handling ' not in line:
                continue
            fields = {}
            for key, value in FIELD.findall(line):
                fields[key] = unquote(value)
            if "time" in fields and "request-url" in fields:
                yield when(fields["time"]), fields


name, full_id, created = sys.argv[1], sys.argv[2], when(sys.argv[3])
log = list(requests())
path = lambda fields: urlsplit(fields["request-url"]).path  # noqa: E731


def about_it(fields):
    """Whether a request names this container, by name or by (a prefix of) its ID."""
    match = re.fullmatch(r"(?:/v[\d.]+)?/containers/([^/]+)/\w+", path(fields))
    ref = match.group(1).lstrip("/") if match else ""
    return ref == name or (len(ref) >= 4 and full_id.startswith(ref))


create = None
for stamp, fields in log:
    url = urlsplit(fields["request-url"])
    if (
        fields.get("method") == "POST"
        and re.fullmatch(r"(?:/v[\d.]+)?/containers/create", url.path)
        and parse_qs(url.query).get("name") == [name]
        and stamp <= created
    ):
        create = (stamp, fields)  # the last one before the container existed is its own
if create is None:
    print("create\tnone\t\t")
    print("start\tnone\t")
    sys.exit(0)
stamp, fields = create
body = fields.get("form-data", "")
try:
    keys = set(json.loads(body))
except ValueError:
    keys = set()
fields_of_create, created_by_cli = fields, CLI_CREATE_FIELDS <= keys
print(f"create\t{'cli' if created_by_cli else 'hand'}\t{fields['request-url']}\t{body}")

verdict, shown = "none", ""
for i, (start_stamp, fields) in enumerate(log):
    if start_stamp < stamp or fields.get("method") != "POST" or not about_it(fields):
        continue
    if not path(fields).endswith("/start"):
        continue
    # Walk back over what the CLI sends between its ping and the start: `docker start -a` asks
    # for the container, attaches and waits; `docker run` creates first (with the CLI's body).
    j, attached = i - 1, False
    while j >= 0 and about_it(log[j][1]) and path(log[j][1]).endswith(("/attach", "/wait")):
        j, attached = j - 1, True
    if attached and j >= 0 and about_it(log[j][1]) and path(log[j][1]).endswith("/json"):
        j -= 1
    if j >= 0 and log[j][1] is fields_of_create and created_by_cli:
        verdict, shown = "cli", fields["request-url"]  # docker run
        continue
    # Only the CLI pings (HEAD) right before: each of your own requests stands alone.
    pinged = (
        j >= 0
        and log[j][1].get("method") == "HEAD"
        and log[j][1].get("request-url") == "/_ping"
        and (start_stamp - log[j][0]).total_seconds() < 10
    )
    if not pinged:
        verdict, shown = "hand", fields["request-url"]
        break
    verdict, shown = "cli", fields["request-url"]
print(f"start\t{verdict}\t{shown}")
