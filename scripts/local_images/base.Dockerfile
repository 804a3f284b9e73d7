# Stage two of the base image: the debootstrapped bookworm (imported as BASE_RAW) with the
# bookworm-updates and bookworm-security suites applied, apt's caches cleaned as in debian:bookworm.
ARG BASE_RAW
FROM ${BASE_RAW}
ENV LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY sources.list /etc/apt/sources.list
COPY policy-rc.d /usr/sbin/policy-rc.d
COPY apt-docker.conf /etc/apt/apt.conf.d/docker-clean
RUN chmod 0755 /usr/sbin/policy-rc.d \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get -y upgrade \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log
CMD ["/bin/bash"]
