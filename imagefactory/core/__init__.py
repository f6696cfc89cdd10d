"""The shared core: errors and the envelope, middleware, rate limiting, pagination, request context,
crypto and serializer fields. It imports no app; every app may import it."""
