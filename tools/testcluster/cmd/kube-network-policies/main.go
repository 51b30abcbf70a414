// Command kube-network-policies is sigs.k8s.io/kube-network-policies v0.8.0's cmd/main.go
// (Apache-2.0, The Kubernetes Authors) with one change: a -kubeconfig flag, so that the
// test cluster runs it as a host process with its own client certificate instead of as a
// DaemonSet pod (upstream only reads the in-cluster service account). The controller,
// the packet evaluation and every other flag are upstream's.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/component-base/logs"
	logsapi "k8s.io/component-base/logs/api/v1"
	_ "k8s.io/component-base/logs/json/register"
	nodeutil "k8s.io/component-helpers/node/util"
	"k8s.io/klog/v2"
	"sigs.k8s.io/kube-network-policies/pkg/networkpolicy"
)

var (
	kubeconfig          string
	failOpen            bool
	queueID             int
	metricsBindAddress  string
	hostnameOverride    string
	netfilterBug1766Fix bool
)

func init() {
	flag.StringVar(&kubeconfig, "kubeconfig", "", "Path of a kubeconfig file; empty: the in-cluster service account (upstream's behaviour)")
	flag.BoolVar(&failOpen, "fail-open", false, "If set, don't drop packets if the controller is not running")
	flag.IntVar(&queueID, "nfqueue-id", 100, "Number of the nfqueue used")
	flag.StringVar(&metricsBindAddress, "metrics-bind-address", ":9080", "The IP address and port for the metrics server to serve on")
	flag.StringVar(&hostnameOverride, "hostname-override", "", "If non-empty, will be used as the name of the Node that kube-network-policies is running on.")
	flag.BoolVar(&netfilterBug1766Fix, "netfilter-bug-1766-fix", true, "If set, process DNS packets on the PREROUTING hooks (not needed for kernels 6.12+)")
	flag.Usage = func() {
		fmt.Fprint(os.Stderr, "Usage: kube-network-policies [options]\n\n")
		flag.PrintDefaults()
	}
}

func main() { os.Exit(run()) }

func run() int {
	c := logsapi.NewLoggingConfiguration()
	logsapi.AddGoFlags(c, flag.CommandLine)
	flag.Parse()
	logs.InitLogs()
	if err := logsapi.ValidateAndApply(c, nil); err != nil {
		fmt.Fprintf(os.Stderr, "%v\n", err)
		return 1
	}
	// SIGTERM too (upstream: SIGINT only), so that testcluster-down stops it gracefully
	// and the controller removes its nftables table.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
	defer cancel()
	logger := klog.FromContext(ctx)
	flag.VisitAll(func(f *flag.Flag) { logger.Info("flag", "name", f.Name, "value", f.Value) })

	if _, _, err := net.SplitHostPort(metricsBindAddress); err != nil {
		logger.Error(err, "parsing metrics bind address", "address", metricsBindAddress)
		return 1
	}
	nodeName, err := nodeutil.GetHostname(hostnameOverride)
	if err != nil {
		logger.Error(err, "can not obtain the node name; set -hostname-override")
		return 1
	}
	cfg := networkpolicy.Config{
		FailOpen:            failOpen,
		QueueID:             queueID,
		NodeName:            nodeName,
		NetfilterBug1766Fix: netfilterBug1766Fix,
	}
	var config *rest.Config
	if kubeconfig != "" {
		config, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	} else {
		config, err = rest.InClusterConfig()
	}
	if err != nil {
		logger.Error(err, "kubernetes client configuration")
		return 1
	}
	config.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	config.ContentType = "application/vnd.kubernetes.protobuf"
	clientset, err := kubernetes.NewForConfig(config)
	if err != nil {
		logger.Error(err, "kubernetes client")
		return 1
	}
	informersFactory := informers.NewSharedInformerFactory(clientset, 0)

	http.Handle("/metrics", promhttp.Handler())
	go func() { utilruntime.HandleError(http.ListenAndServe(metricsBindAddress, nil)) }()

	// AdminNetworkPolicy and BaselineAdminNetworkPolicy (alpha, CRDs) stay off, as by
	// upstream's default.
	controller, err := networkpolicy.NewController(
		clientset,
		informersFactory.Networking().V1().NetworkPolicies(),
		informersFactory.Core().V1().Namespaces(),
		informersFactory.Core().V1().Pods(),
		nil, nil, nil, nil,
		cfg,
	)
	if err != nil {
		logger.Error(err, "Can not start network policy controller")
		return 1
	}
	go func() { utilruntime.HandleError(controller.Run(ctx)) }()
	informersFactory.Start(ctx.Done())
	<-ctx.Done()
	// Grace period for the controller's cleanup (it deletes its nftables table); upstream
	// waits 5 s, 1 s is plenty for one table and keeps testcluster-down quick.
	time.Sleep(time.Second)
	return 0
}
