"""A minimal Django project that receives Descope audit events (see examples/README.md)."""
