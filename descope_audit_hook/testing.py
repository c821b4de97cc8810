"""Build deliveries the way Descope's connector sends them, for your own tests.

>>> from descope_audit_hook import BearerToken, Verifier
>>> from descope_audit_hook.testing import make_delivery, sample_event
>>> auth = BearerToken("test-token")
>>> body, headers = make_delivery([sample_event("login_failed")], hmac_secret="s3cret", auth=auth)
>>> Verifier("s3cret", auth=auth).verify(body, headers)[0].action
'LoginFailed'

The signed string for each form is built from the Python objects directly, not with
the verifier's own re-serializer, so a test that uses it checks the verifier against an
independent construction.
"""

from ._samples import SAMPLE_KINDS, Delivery, make_delivery, sample_event, sample_events, signed_string

__all__ = ["SAMPLE_KINDS", "Delivery", "make_delivery", "sample_event", "sample_events", "signed_string"]
