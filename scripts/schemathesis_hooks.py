"""Schemathesis hooks for `scripts/schemathesis.sh` (loaded through SCHEMATHESIS_HOOKS).

`POST /webhooks/aourly` needs `Aourly-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
over the exact bytes sent (integration guide "Authentication"). Schemathesis generates the body, so this hook
serializes it itself, signs those bytes with AOURLY_WEBHOOK_SECRET and the current time, and
hands the bytes to the transport (`data=`), so what is signed is what is sent.

When a (negative) case leaves the header out, it stays out: the 401 answer is documented.
"""

import hashlib
import hmac
import json
import os
import time

import schemathesis
from schemathesis.core import NotSet

SECRET = os.environ.get("AOURLY_WEBHOOK_SECRET", "local-webhook-secret").encode()
HEADER = "Aourly-Signature"


def sign(body: bytes, now: int) -> str:
    mac = hmac.new(SECRET, f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={now},v1={mac}"


def _body_bytes(body) -> bytes:
    if isinstance(body, NotSet):
        return b""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    # What the JSON serializer would send; non-JSON values (e.g. NaN) are sent as Python writes them.
    return json.dumps(body, ensure_ascii=False, allow_nan=True).encode()


@schemathesis.hook
def before_call(ctx, case, kwargs):
    if case.operation.path != "/webhooks/aourly" or case.method.upper() != "POST":
        return
    headers = case.headers if case.headers is not None else {}
    if not any(name.lower() == HEADER.lower() for name in headers):
        return
    for name in [n for n in headers if n.lower() == HEADER.lower()]:
        del headers[name]
    body = _body_bytes(case.body)
    headers[HEADER] = sign(body, int(time.time()))
    case.headers = headers
    if not isinstance(case.body, NotSet):
        kwargs["data"] = body
