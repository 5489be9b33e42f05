# zip-oss as a container image: an Aliyun Function Compute custom container, or any platform.
#
#   scripts/image registry.cn-shanghai.aliyuncs.com/my-namespace/zip-oss:0.1.0
#
# scripts/image builds the release binary and lays out the build context this file expects:
# rootfs/ holds /usr/local/bin/zip-oss (the component is embedded in it), the dynamic loader
# and the shared libraries the binary links, taken from the machine that built it, a user
# (uid 10001) and /tmp. Nothing is pulled: the image is that root on an empty base. HTTPS to
# OSS/S3 needs no CA files (the binary carries the Mozilla roots, webpki-roots).
# CI builds the image with this same file and script, runs it as Function Compute does and
# packs through it (tests/tests/container_image.rs).

FROM scratch
COPY rootfs/ /
USER 10001:10001
# The compiled component is cached under $HOME/.cache/zip-oss: a restart skips compiling.
ENV HOME=/tmp
# Function Compute's custom-container port; `zip-oss serve` listens on
# 0.0.0.0:$FC_CUSTOM_LISTEN_PORT (else $FC_SERVER_PORT, else 9000) inside Function Compute.
ENV FC_SERVER_PORT=9000
EXPOSE 9000
ENTRYPOINT ["/usr/local/bin/zip-oss", "serve"]
