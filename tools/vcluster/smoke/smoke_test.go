// Package smoke checks the vCluster harness end to end: the v0.30.0 chart (read from the
// Go module cache) installed with the Helm Go SDK into a fresh namespace of the local test
// cluster with the locally built images, the vc-<release> kubeconfig secret, a request
// through the virtual API (the host Service's cluster IP), then uninstall and namespace
// deletion. Gated: NALABO_VCLUSTER_SMOKE=1 and NALABO_K8S_KUBECONFIG; the chart path and
// images come from scripts/vcluster-harness.sh --env.
package smoke

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// getter is the RESTClientGetter the Helm SDK needs, from a rest config and a namespace.
type getter struct {
	rc *rest.Config
	ns string
}

func (g getter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.rc), nil }
func (g getter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(rest.CopyConfig(g.rc))
	if err != nil {
		return nil, err
	}
	return memory.NewMemCacheClient(dc), nil
}
func (g getter) ToRESTMapper() (meta.RESTMapper, error) {
	dc, err := g.ToDiscoveryClient()
	if err != nil {
		return nil, err
	}
	return restmapper.NewDeferredDiscoveryRESTMapper(dc), nil
}
func (g getter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return clientcmd.NewDefaultClientConfig(*clientcmdapi.NewConfig(),
		&clientcmd.ConfigOverrides{Context: clientcmdapi.Context{Namespace: g.ns}})
}

func env(t *testing.T, name string) string {
	v := os.Getenv(name)
	if v == "" {
		t.Skipf("%s is not set (eval \"$(scripts/vcluster-harness.sh --env)\")", name)
	}
	return v
}

func image(ref string) map[string]any {
	i := strings.LastIndex(ref, ":")
	return map[string]any{"registry": "", "repository": ref[:i], "tag": ref[i+1:]}
}

func TestVClusterSmoke(t *testing.T) {
	if os.Getenv("NALABO_VCLUSTER_SMOKE") != "1" {
		t.Skip("NALABO_VCLUSTER_SMOKE=1 is not set")
	}
	kubeconfig := env(t, "NALABO_K8S_KUBECONFIG")
	chartPath := env(t, "NALABO_VCLUSTER_CHART")
	syncer, k8sImg, dns := env(t, "NALABO_VCLUSTER_SYNCER_IMAGE"), env(t, "NALABO_VCLUSTER_K8S_IMAGE"), env(t, "NALABO_VCLUSTER_COREDNS_IMAGE")

	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(rc)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ns := fmt.Sprintf("nalabo-vcsmoke-%d", time.Now().Unix()%100000)
	release := "vcluster-smoke"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns, Labels: map[string]string{"nalabo.io/managed-by": "vcluster-smoke", "pod-security.kubernetes.io/enforce": "baseline"},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer dcancel()
		start := time.Now()
		_ = cs.CoreV1().Namespaces().Delete(dctx, ns, metav1.DeleteOptions{})
		for dctx.Err() == nil {
			if _, err := cs.CoreV1().Namespaces().Get(dctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
				t.Logf("namespace %s deleted in %.1f s", ns, time.Since(start).Seconds())
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Errorf("namespace %s still there", ns)
	})

	cfg := new(action.Configuration)
	if err := cfg.Init(getter{rc, ns}, ns, "secret", t.Logf); err != nil {
		t.Fatal(err)
	}
	ch, err := loader.Load(chartPath)
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{
		"controlPlane": map[string]any{
			"distro": map[string]any{"k8s": map[string]any{"enabled": true, "imagePullPolicy": "Never", "image": image(k8sImg)}},
			"statefulSet": map[string]any{
				"imagePullPolicy": "Never", "image": image(syncer),
				"persistence": map[string]any{"volumeClaim": map[string]any{"enabled": false}},
			},
			"coredns": map[string]any{"enabled": true, "deployment": map[string]any{"image": dns}},
		},
		"telemetry": map[string]any{"enabled": false},
	}
	start := time.Now()
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace = release, ns
	if _, err := in.RunWithContext(ctx, ch, vals); err != nil {
		t.Fatalf("helm install: %v", err)
	}
	t.Logf("helm install returned after %.2f s", time.Since(start).Seconds())

	var secret *corev1.Secret
	for secret == nil {
		if ctx.Err() != nil {
			pods, _ := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
			for _, p := range pods.Items {
				t.Logf("pod %s: %s %+v", p.Name, p.Status.Phase, p.Status.ContainerStatuses)
			}
			t.Fatalf("no secret vc-%s: %v", release, ctx.Err())
		}
		if s, err := cs.CoreV1().Secrets(ns).Get(ctx, "vc-"+release, metav1.GetOptions{}); err == nil && len(s.Data["config"]) > 0 {
			secret = s
		} else {
			time.Sleep(250 * time.Millisecond)
		}
	}
	t.Logf("secret vc-%s after %.2f s", release, time.Since(start).Seconds())

	svc, err := cs.CoreV1().Services(ns).Get(ctx, release, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vrc, err := clientcmd.RESTConfigFromKubeConfig(secret.Data["config"])
	if err != nil {
		t.Fatal(err)
	}
	vrc.Host = "https://" + svc.Spec.ClusterIP + ":443"
	vrc.Timeout = 5 * time.Second
	vcs := kubernetes.NewForConfigOrDie(vrc)
	for {
		_, err := vcs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("virtual API at %s: %v", vrc.Host, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("virtual API (serviceaccounts/default via %s) after %.2f s", vrc.Host, time.Since(start).Seconds())
	v, err := vcs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("virtual cluster version %s", v.GitVersion)
	if !strings.HasPrefix(v.GitVersion, "v1.34.") {
		t.Errorf("virtual cluster runs %s, want v1.34.x", v.GitVersion)
	}

	ustart := time.Now()
	un := action.NewUninstall(cfg)
	if _, err := un.Run(release); err != nil {
		t.Fatalf("helm uninstall: %v", err)
	}
	t.Logf("helm uninstall in %.2f s", time.Since(ustart).Seconds())
}
