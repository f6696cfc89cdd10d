"""API-side writes: projects and builds (the worker side writes in builds/runner)."""
