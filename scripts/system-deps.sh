#!/usr/bin/env bash
# Install the Debian packages the optional native parts need, when we can (root + apt-get).
# Never fails: without them the project falls back to pure-JS backends.
set -u
need=()
[ -f /usr/include/oneapi/dnnl/dnnl.hpp ] || [ -f /usr/include/dnnl.hpp ] || need+=(libdnnl-dev)
# libjpeg(-turbo) headers: the addon's JPEG-to-gray decoder (3x faster than sharp for the data pipeline)
[ -f /usr/include/jpeglib.h ] || need+=(libjpeg-dev)
# node-gyp needs a C++ compiler, make and python3 to build the oneDNN addon
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
command -v python3 >/dev/null 2>&1 || need+=(python3)
if [ "${COVIDNET_BROWSER_TESTS:-1}" = 1 ]; then command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi
# OpenCV/PIL parity tests on real images compare against Debian's python3 (the study's pipeline)
if [ "${COVIDNET_PARITY_TESTS:-1}" = 1 ] && [ -x /usr/bin/python3 ]; then
  /usr/bin/python3 -c 'import cv2' >/dev/null 2>&1 || need+=(python3-opencv)
  /usr/bin/python3 -c 'import PIL' >/dev/null 2>&1 || need+=(python3-pil)
fi
# the job-queue tests (covidnet worker, --executor queue) start a redis-server of their own; they skip without it
[ "${COVIDNET_QUEUE_TESTS:-1}" = 1 ] && { command -v redis-server >/dev/null 2>&1 || need+=(redis-server); }
# text in report figures and heat-map captions (SVG rendered by sharp through fontconfig)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "covidnet: installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  (apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}") >/tmp/covidnet-apt.log 2>&1 \
    || echo "covidnet: apt-get install ${need[*]} failed (log: /tmp/covidnet-apt.log); continuing without them"
else
  echo "covidnet: optional packages missing: ${need[*]} (Debian/Ubuntu: sudo apt-get install ${need[*]}); continuing without them"
fi
exit 0
