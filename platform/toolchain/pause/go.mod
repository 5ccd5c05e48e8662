module berth.local/toolchain/pause

go 1.26
