# Stand-in for curlimages/curl: Debian's curl with CA certificates, the official image's
# entrypoint behaviour (arguments starting with '-' go to curl) and non-root user.
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system curl_group \
 && useradd --system --gid curl_group --home-dir /home/curl_user --create-home \
      --shell /bin/sh curl_user
COPY curl-entrypoint.sh /entrypoint.sh
RUN chmod 0755 /entrypoint.sh
USER curl_user
WORKDIR /home/curl_user
ENTRYPOINT ["/entrypoint.sh"]
CMD ["curl"]
