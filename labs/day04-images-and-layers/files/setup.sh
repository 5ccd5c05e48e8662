#!/bin/sh
# Prepares the image: a welcome message and a small configuration.
set -e
mkdir -p /etc/berth
echo "Welcome aboard. Every file here came from some layer." > /etc/berth/motd
printf 'colour=blue\nretries=3\n' > /etc/berth/app.conf
