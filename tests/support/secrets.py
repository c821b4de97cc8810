"""The secrets and tokens the suite signs and authenticates with, each named for its role.

Test values: they protect nothing. Each is distinctive, so that a test can look for it
in output, logs and reprs and be sure a find is a leak.
"""

from __future__ import annotations

__all__ = ["BEARER_TOKEN", "FIXTURE_SECRET", "HMAC_SECRET", "OTHER_PAGE_TOKEN", "PAGE_TOKEN", "assert_no_secret_in"]

#: The connector's HMAC secret: what the suite's deliveries are signed with and its verifiers check.
HMAC_SECRET = "suite-hmac-secret-not-a-real-one"
#: The secret the recorded deliveries of tests/fixtures are signed with (docs/wire-format.md;
#: ../shared/fixtures).
FIXTURE_SECRET = "descope-test-hmac-secret"
#: The connector's Bearer token (``Authorization: Bearer ...``).
BEARER_TOKEN = "suite-bearer-token-not-a-real-one"
#: The reference receiver's audit-page access token (16+ characters), and another one (rotation).
PAGE_TOKEN = "suite-page-token-0123456789abcdef"
OTHER_PAGE_TOKEN = "other-page-token-fedcba9876543210"


def assert_no_secret_in(*texts: str, secrets: tuple[str, ...] = (HMAC_SECRET, BEARER_TOKEN)) -> None:
    """Fail if one of ``secrets`` (default: the HMAC secret and the Bearer token) is in one of ``texts``."""
    for text in texts:
        for secret in secrets:
            assert secret not in text, "a secret was printed"
