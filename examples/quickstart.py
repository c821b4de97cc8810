"""Sign a sample delivery the way Descope's connector does, verify it, print the events.

Run: python examples/quickstart.py
"""

from __future__ import annotations

import sys

from descope_audit_hook import BearerToken, SignatureError, Verifier
from descope_audit_hook.testing import make_delivery, sample_event

SECRET = "descope-test-hmac-secret"
TOKEN = "example-bearer-token"


def main() -> int:
    verifier = Verifier(SECRET, auth=BearerToken(TOKEN))
    events = [sample_event("login_succeed"), sample_event("login_failed"), sample_event("user_modified")]
    body, headers = make_delivery(events, hmac_secret=SECRET, auth=BearerToken(TOKEN), signed_form="compact")

    batch = verifier.verify(body, headers)
    print(f"accepted {len(batch)} events (signature matched the {batch.signed_form!r} form)")
    for event in batch:
        severity = event.severity.value if event.severity else "-"
        print(f"  {event.occurred:%Y-%m-%d %H:%M:%S} {severity:<5} {event.action:<14} user={event.user_id}")

    tampered = body.replace(b"LoginFailed", b"LoginSucceed")
    try:
        verifier.verify(tampered, headers)
    except SignatureError as exc:
        print(f"tampered body rejected: {exc.status_code} {exc.code}")
    else:
        print("tampered body was accepted: this must never happen", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
