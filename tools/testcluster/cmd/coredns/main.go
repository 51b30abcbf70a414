// Command coredns is CoreDNS v1.12.1 with only the plugins the vCluster v0.30.0 Corefile
// uses (github.com/loft-sh/vcluster pkg/coredns/template.go: errors, health, ready, rewrite,
// kubernetes, hosts, prometheus, forward, cache, loop, reload, loadbalance), the way a
// plugin.cfg build selects them; the upstream main imports all ~60 plugins and their cloud
// SDKs. The Kubernetes plugin shares this module's client-go with the test cluster.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/rewrite"
)

func main() {
	coremain.Run()
}
