// Command etcd is etcd v3.7 built from the same module graph as the Kubernetes binaries
// (Debian's etcd 3.4 lacks RequestWatchProgress, and the apiserver's watches degrade).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
