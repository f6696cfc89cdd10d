# The ImageFactory server/worker image (services mode). Builds run with buildah inside it.
FROM python:3.11-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends git buildah ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
ENV PYTHONUNBUFFERED=1
EXPOSE 8080
CMD ["daphne", "-b", "0.0.0.0", "-p", "8080", "--ping-interval", "20", "--ping-timeout", "30", "imagefactory.asgi:application"]
