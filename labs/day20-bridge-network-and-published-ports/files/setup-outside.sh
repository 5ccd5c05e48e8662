#!/bin/bash
# Day 20: a stand-in for another machine on the LAN. The namespace "outside" (192.168.50.2)
# reaches this sandbox (192.168.50.1) through the bridge lan0, as a second computer would
# reach a Docker host through a switch.
set -e
ip netns list | awk '{ print $1 }' | grep -qx outside && exit 0
ip netns add outside
ip link add lan0 type bridge
ip link set lan0 up
ip addr add 192.168.50.1/24 dev lan0
ip link add eth0 netns outside type veth peer name lan0-outside
ip link set lan0-outside master lan0 up
nsenter --net=/run/netns/outside ip link set lo up
nsenter --net=/run/netns/outside ip addr add 192.168.50.2/24 dev eth0
nsenter --net=/run/netns/outside ip link set eth0 up
nsenter --net=/run/netns/outside ip route add default via 192.168.50.1
