# Stand-in for redis:*-alpine: Debian's redis-server and redis-cli, user redis renumbered to the
# alpine image's 999:1000 (the compose file runs it as that user), /data owned by it.
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server redis-tools \
 && rm -rf /var/lib/apt/lists/* \
 && old_uid="$(id -u redis)" old_gid="$(id -g redis)" \
 && if getent passwd 999 >/dev/null && [ "$(getent passwd 999 | cut -d: -f1)" != redis ]; then \
      userdel "$(getent passwd 999 | cut -d: -f1)"; fi \
 && if getent group 1000 >/dev/null && [ "$(getent group 1000 | cut -d: -f1)" != redis ]; then \
      groupdel "$(getent group 1000 | cut -d: -f1)"; fi \
 && groupmod --gid 1000 redis \
 && usermod --uid 999 --gid 1000 redis \
 && find / -xdev \( -uid "$old_uid" -o -gid "$old_gid" \) -exec chown -h redis:redis {} + \
 && mkdir -p /data \
 && chown redis:redis /data \
 && test "$(id -u redis):$(id -g redis)" = "999:1000"
WORKDIR /data
VOLUME /data
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no", "--dir", "/data"]
