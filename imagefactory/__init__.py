"""ImageFactory's top layer: settings, URLs, the ASGI and Celery entry points, and the CLI.

Deliberately empty: `python -m imagefactory.cli` must import with nothing but requests and
websockets installed. The server's entry points (asgi.py, manage.py, `celery -A imagefactory`)
load the Celery app themselves.
"""
