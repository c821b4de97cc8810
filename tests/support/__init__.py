"""What the test suites share, one module per concern; ``benchmarks/`` uses it too.

- ``paths``: where the repository's parts are (``REPO``, ``DOCS``, ``EXAMPLES``, ``FIXTURES``).
- ``secrets``: the few secrets and tokens the suite signs and authenticates with, named for their role.
- ``env``: one clean environment, without the machine's ``DESCOPE_AUDIT_*`` variables
  (a dict for a subprocess; the ``clean_env`` fixture of tests/conftest.py for ``os.environ``).
- ``deliveries``: signed deliveries, payloads, the recorded fixtures, verified batches.
- ``headers``: the header shapes frameworks hand over.
- ``properties``: Hypothesis profiles and example budgets.
- ``servers``: a real server in a subprocess (or a WSGI server in a thread) on a free loopback port.
- ``engines``: throw-away Redis and PostgreSQL servers.
- ``stores``: dedupe stores that record their calls, an async one, a broken one; a settable clock.
- ``frameworks``: Django configured once per process, its caches; Starlette's test client.
- ``cli``: the command line run as a user runs it.
- ``wsgi``: a WSGI application called directly with a PEP 3333 environ.
- ``oauth_issuer``: a loopback OAuth 2.0 authorization server; ``oauth_tokens``: tokens a validator must refuse.
- ``validators``: token validators named by import path in configuration tests.
"""
