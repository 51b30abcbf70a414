package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/nalabo/terraform-provider-nalabo/internal/vcluster"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// helmGetter is the genericclioptions.RESTClientGetter Helm's kube client needs, built
// from the backend's rest config and pinned to one namespace.
type helmGetter struct {
	rc   *rest.Config
	ns   string
	once sync.Once
	disc discovery.CachedDiscoveryInterface
	err  error
}

func (g *helmGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.rc), nil }

func (g *helmGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	g.once.Do(func() {
		dc, err := discovery.NewDiscoveryClientForConfig(rest.CopyConfig(g.rc))
		if err != nil {
			g.err = err
			return
		}
		g.disc = memory.NewMemCacheClient(dc)
	})
	return g.disc, g.err
}

func (g *helmGetter) ToRESTMapper() (meta.RESTMapper, error) {
	dc, err := g.ToDiscoveryClient()
	if err != nil {
		return nil, err
	}
	return restmapper.NewDeferredDiscoveryRESTMapper(dc), nil
}

func (g *helmGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return clientcmd.NewDefaultClientConfig(*clientcmdapi.NewConfig(),
		&clientcmd.ConfigOverrides{Context: clientcmdapi.Context{Namespace: g.ns}})
}

// helmConfig returns a Helm action configuration for namespace ns (releases stored as
// Secrets there, Helm's default driver).
func (b *Backend) helmConfig(ns string) (*action.Configuration, error) {
	cfg := new(action.Configuration)
	if err := cfg.Init(&helmGetter{rc: b.rest, ns: ns}, ns, "secret", func(string, ...any) {}); err != nil {
		return nil, fmt.Errorf("helm: %w", err)
	}
	return cfg, nil
}

// chartCache keeps the path of a chart downloaded from a repository, per
// repository/name/version, so that a class downloads it once.
var chartCache sync.Map // string -> string (local path)

// loadVClusterChart loads the chart: ChartPath when set, else the repository's chart
// (downloaded once into Helm's cache). Loaded afresh on every call: Helm mutates a
// chart while installing it.
func loadVClusterChart(s vcluster.Settings) (*chart.Chart, error) {
	path := s.ChartPath
	if path == "" {
		key := s.ChartRepository + "|" + s.ChartName + "|" + s.ChartVersion
		if p, ok := chartCache.Load(key); ok {
			path, _ = p.(string) // the cache holds nothing else
		} else {
			opts := action.ChartPathOptions{RepoURL: s.ChartRepository, Version: s.ChartVersion}
			p, err := opts.LocateChart(s.ChartName, cli.New())
			if err != nil {
				return nil, fmt.Errorf("vcluster chart %s %s from %s: %w", s.ChartName, s.ChartVersion, s.ChartRepository, err)
			}
			chartCache.Store(key, p)
			path = p
		}
	}
	c, err := loader.Load(path)
	if err != nil {
		return nil, fmt.Errorf("vcluster chart %s: %w", path, err)
	}
	return c, nil
}

// helmInstall installs (or, when the release exists, upgrades) the session's vCluster
// release. It does not wait: readiness is the caller's.
func (b *Backend) helmInstall(ctx context.Context, s vcluster.Settings, ns, releaseName string, labels map[string]string, vals map[string]any) error {
	ch, err := loadVClusterChart(s)
	if err != nil {
		return err
	}
	cfg, err := b.helmConfig(ns)
	if err != nil {
		return err
	}
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace = releaseName, ns
	in.Timeout = 2 * time.Minute
	in.Labels = maps.Clone(labels)
	if _, err := in.RunWithContext(ctx, ch, vals); err != nil {
		return fmt.Errorf("helm install %s: %w", releaseName, err)
	}
	return nil
}

// helmUpgrade upgrades the release with vals (the chart's defaults plus vals, not the
// previous values).
func (b *Backend) helmUpgrade(ctx context.Context, s vcluster.Settings, ns, releaseName string, labels map[string]string, vals map[string]any) error {
	ch, err := loadVClusterChart(s)
	if err != nil {
		return err
	}
	cfg, err := b.helmConfig(ns)
	if err != nil {
		return err
	}
	up := action.NewUpgrade(cfg)
	up.Namespace = ns
	up.Timeout = 2 * time.Minute
	up.MaxHistory = 3
	up.Labels = maps.Clone(labels)
	if _, err := up.RunWithContext(ctx, releaseName, ch, vals); err != nil {
		return fmt.Errorf("helm upgrade %s: %w", releaseName, err)
	}
	return nil
}

// helmUninstall removes the release; a missing release is not an error.
func (b *Backend) helmUninstall(ns, releaseName string) error {
	cfg, err := b.helmConfig(ns)
	if err != nil {
		return err
	}
	un := action.NewUninstall(cfg)
	un.IgnoreNotFound = true
	un.DeletionPropagation = "background"
	un.Timeout = time.Minute
	if _, err := un.Run(releaseName); err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		return fmt.Errorf("helm uninstall %s: %w", releaseName, err)
	}
	return nil
}

// helmRelease returns the release's last revision, or nil when there is none.
func (b *Backend) helmRelease(ns, releaseName string) (*release.Release, error) {
	cfg, err := b.helmConfig(ns)
	if err != nil {
		return nil, err
	}
	rel, err := cfg.Releases.Last(releaseName)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("helm release %s: %w", releaseName, err)
	}
	return rel, nil
}

// valueLabels are the session's labels as the chart values carry them: without the
// expiry, which changes with every duration update and would otherwise restart the
// control plane (see vcluster.Values). The namespace and the Helm release's secret
// still carry the expiry for the reconciler.
func valueLabels(spec *workshop.SessionSpec) map[string]string {
	l := spec.Labels()
	delete(l, workshop.LabelExpiresAt)
	return l
}
