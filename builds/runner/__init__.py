"""The worker side: which build runs next (scheduler), running it (engine, watchdog, reports),
and cleaning up after workers that died (janitor). The API side never imports this package."""
