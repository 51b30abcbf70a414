package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/nalabo/terraform-provider-nalabo/internal/manifest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var _ workshop.PortProxy = (*Backend)(nil)

// vCluster marks the host copy of a synced object with a label and records the
// object's name and namespace inside the virtual cluster in annotations (the host
// name is translated: "<name>-x-<namespace>-x-<release>").
const (
	vclusterManagedBy       = "vcluster.loft.sh/managed-by"
	vclusterObjectName      = "vcluster.loft.sh/object-name"
	vclusterObjectNamespace = "vcluster.loft.sh/object-namespace"
)

// WebPorts lists the ports the session's template declares: workspace.ports (the
// workspace pod's ports) and the ports of every Service in its manifests. Each is
// reached through the API server's proxy (pods/proxy, services/proxy): the gateway needs
// no route into the pod network, no NetworkPolicy admits it (the API server's proxy
// is what connects), and a vCluster session's synced Services are reached the same way
// in the host namespace.
func (b *Backend) WebPorts(ctx context.Context, s *workshop.Session) ([]workshop.WebPort, error) {
	if s.TemplateID == "" {
		return nil, nil
	}
	t, err := b.GetTemplate(ctx, s.TemplateID)
	if errors.Is(err, workshop.ErrNotFound) {
		return nil, nil // the template is gone: nothing is known to be declared
	}
	if err != nil {
		return nil, err
	}
	ns := workshop.SessionObjectName(s.ID)
	var out []workshop.WebPort
	for _, p := range t.Workspace.Ports {
		out = append(out, workshop.WebPort{Service: workshop.WorkspaceService, Port: p,
			Target: b.proxyURL(ns, "pods", workspacePodName+":"+strconv.Itoa(p))})
	}
	if t.Manifests == "" {
		return out, nil
	}
	// Validated when the template was applied: manifests that no longer parse offer
	// no more ports.
	objs, _ := manifest.Parse(t.Manifests)
	vcluster := s.VCluster != nil || t.Isolation == workshop.IsolationVCluster
	for _, o := range objs {
		if o.Kind != "Service" || o.APIVersion != "v1" || (o.Namespace != "" && o.Namespace != ns && !vcluster) {
			continue
		}
		svc, err := b.declaredService(ctx, ns, o.Name, o.Namespace, vcluster)
		if err != nil {
			return nil, err
		}
		if svc == nil {
			continue
		}
		for _, sp := range svc.Spec.Ports {
			if sp.Protocol != "" && sp.Protocol != corev1.ProtocolTCP {
				continue
			}
			out = append(out, workshop.WebPort{Service: o.Name, Port: int(sp.Port),
				Target: b.proxyURL(ns, "services", svc.Name+":"+strconv.Itoa(int(sp.Port)))})
		}
	}
	return out, nil
}

// declaredService reads a Service of the manifests in the session namespace; in a
// vCluster session, the host copy vCluster synced (found by its object-name and
// object-namespace annotations; manifests without a namespace go into "default").
// Nil when it does not exist (yet).
func (b *Backend) declaredService(ctx context.Context, ns, name, virtualNS string, vcluster bool) (*corev1.Service, error) {
	if !vcluster {
		svc, err := b.cs.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read service %s/%s: %w", ns, name, err)
		}
		return svc, nil
	}
	if virtualNS == "" {
		virtualNS = "default"
	}
	list, err := b.cs.CoreV1().Services(ns).List(ctx, metav1.ListOptions{LabelSelector: vclusterManagedBy})
	if err != nil {
		return nil, fmt.Errorf("list services of %s: %w", ns, err)
	}
	for i := range list.Items {
		a := list.Items[i].Annotations
		if a[vclusterObjectName] == name && a[vclusterObjectNamespace] == virtualNS {
			return &list.Items[i], nil
		}
	}
	return nil, nil
}

// proxyURL is the API server's proxy of a pod or service port.
func (b *Backend) proxyURL(ns, resource, nameAndPort string) *url.URL {
	u, err := url.Parse(b.rest.Host)
	if err != nil || u.Host == "" {
		u = &url.URL{Scheme: "https", Host: b.rest.Host}
	}
	u.Path = path.Join("/", u.Path, "api/v1/namespaces", ns, resource, nameAndPort, "proxy") + "/"
	return u
}

// PortTransport carries the backend's credentials to the API server's proxy.
func (b *Backend) PortTransport() http.RoundTripper {
	b.portOnce.Do(func() {
		rt, err := rest.TransportFor(b.rest)
		if err != nil {
			rt = errTransport{err}
		}
		b.portRT = rt
	})
	return b.portRT
}

type errTransport struct{ err error }

func (e errTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("kubernetes transport: %w", e.err)
}
