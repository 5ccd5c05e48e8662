"""Berth's one way of building Go programs from modules (no Django here).

`toolchain.gobuild.build()` reads labs/images/toolchain.yaml and builds each pinned program from
the Go module proxy into a cache under BERTH_DATA_DIR (default <repo>/var).
"""
