# omnidash: slim image, non-root, gunicorn with 2 gthread workers, HEALTHCHECK on /healthz.
#   docker build -t omnidash .
#   docker run -p 8050:8050 -e OMNIDASH_SOURCE=mongodb://host.docker.internal:27017/sacred omnidash
# Configuration: the OMNIDASH_* environment variables read by app/wsgi.py (see README "Deploy for a team").
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY components ./components
COPY assets ./assets
COPY sacredlog ./sacredlog
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[server]"

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    OMNIDASH_WORKERS=2 \
    OMNIDASH_THREADS=8
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/omnidash omnidash
# the sign-in state every worker shares (sign-outs, failed sign-ins): a volume in docker-compose.yml
RUN mkdir -p /var/lib/omnidash && chown omnidash:omnidash /var/lib/omnidash
ENV OMNIDASH_AUTH_STATE=/var/lib/omnidash/auth-state.db
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER omnidash
WORKDIR /home/omnidash
EXPOSE 8050
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import os, sys, urllib.request; url = 'http://127.0.0.1:8050' + os.environ.get('OMNIDASH_URL_PREFIX', '').rstrip('/') + '/healthz'; sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"
# No --preload: every worker opens its own MongoDB client after the fork.
CMD ["sh", "-c", "exec gunicorn --workers \"$OMNIDASH_WORKERS\" --worker-class gthread --threads \"$OMNIDASH_THREADS\" --bind 0.0.0.0:8050 --timeout 120 --access-logfile - omnidash.wsgi:application"]
