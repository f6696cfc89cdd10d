# The ImageFactory server/worker image (services mode). Builds run with buildah inside it, each RUN
# step in the build sandbox (runc, a user namespace from the `containers` id ranges; README).
FROM python:3.11-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends git buildah runc openssh-client ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && echo "containers:2147483647:2147483648" >> /etc/subuid \
    && echo "containers:2147483647:2147483648" >> /etc/subgid
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
ENV PYTHONUNBUFFERED=1
EXPOSE 8080
CMD ["daphne", "-b", "0.0.0.0", "-p", "8080", "--ping-interval", "20", "--ping-timeout", "30", "imagefactory.asgi:application"]
