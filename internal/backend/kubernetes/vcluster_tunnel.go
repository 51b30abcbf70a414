package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// vclusterAPIPort is the control plane's HTTPS port in its pod; the Service maps 443 to it.
const vclusterAPIPort = 8443

// vtunnel is a port-forward from 127.0.0.1:<port> to a vCluster control-plane pod's
// API port, over the host API (client-go portforward: WebSocket, SPDY fallback). When
// the forwarded connection is lost (the pod restarted, the stream broke) it is
// re-established on the same local port, so clients built on it keep working after a
// retry.
type vtunnel struct {
	b           *Backend
	ns, release string
	port        int

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	restarts int
	lastErr  error
}

// openTunnel forwards a local port to the release's ready control-plane pod. It lives
// until Close or until ctx ends.
func (b *Backend) openTunnel(ctx context.Context, ns, release string) (*vtunnel, error) {
	tctx, cancel := context.WithCancel(ctx)
	t := &vtunnel{b: b, ns: ns, release: release, ctx: tctx, cancel: cancel, done: make(chan struct{})}
	errCh, err := t.start()
	if err != nil {
		cancel()
		return nil, err
	}
	go t.supervise(errCh)
	return t, nil
}

// Close stops forwarding and waits until the forwarder is down.
func (t *vtunnel) Close() {
	t.cancel()
	<-t.done
}

// Restarts is how often the forward was re-established.
func (t *vtunnel) Restarts() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.restarts
}

func (t *vtunnel) supervise(errCh <-chan error) {
	defer close(t.done)
	for {
		select {
		case <-t.ctx.Done():
			<-errCh //nolint:errcheck // the forwarder ends with the context
			return
		case err := <-errCh:
			if t.ctx.Err() != nil {
				return
			}
			t.mu.Lock()
			t.lastErr = err
			t.mu.Unlock()
		}
		// Re-establish, with a short backoff, until it works or the tunnel is closed.
		delay := 100 * time.Millisecond
		for {
			select {
			case <-t.ctx.Done():
				return
			case <-time.After(delay):
			}
			ch, err := t.start()
			if err == nil {
				errCh = ch
				t.mu.Lock()
				t.restarts++
				t.mu.Unlock()
				break
			}
			t.mu.Lock()
			t.lastErr = err
			t.mu.Unlock()
			delay = min(2*delay, 2*time.Second)
		}
	}
}

// start forwards once; the returned channel receives ForwardPorts' result when the
// forward ends.
func (t *vtunnel) start() (<-chan error, error) {
	pod, err := t.b.readyControlPlanePod(t.ctx, t.ns, t.release)
	if err != nil {
		return nil, err
	}
	u := t.b.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(t.ns).Name(pod).SubResource("portforward").URL()
	rt, upgrader, err := spdy.RoundTripperFor(t.b.rest)
	if err != nil {
		return nil, fmt.Errorf("port-forward to %s/%s: %w", t.ns, pod, err)
	}
	spdyDialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
	wsDialer, err := portforward.NewSPDYOverWebsocketDialer(u, t.b.rest)
	if err != nil {
		return nil, fmt.Errorf("port-forward to %s/%s: %w", t.ns, pod, err)
	}
	dialer := portforward.NewFallbackDialer(wsDialer, spdyDialer, websocketUpgradeFailed)
	ready := make(chan struct{})
	fw, err := portforward.NewOnAddressesWithContext(t.ctx, dialer, []string{"127.0.0.1"},
		[]string{strconv.Itoa(t.port) + ":" + strconv.Itoa(vclusterAPIPort)}, ready, io.Discard, io.Discard)
	if err != nil {
		return nil, fmt.Errorf("port-forward to %s/%s: %w", t.ns, pod, err)
	}
	errCh := make(chan error, 1)
	go func() { errCh <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-errCh:
		if err == nil {
			err = errors.New("stopped before it was ready")
		}
		return nil, fmt.Errorf("port-forward to %s/%s: %w", t.ns, pod, err)
	case <-t.ctx.Done():
		<-errCh //nolint:errcheck // the forwarder ends with the context
		return nil, t.ctx.Err()
	}
	if t.port == 0 {
		ports, err := fw.GetPorts()
		if err != nil || len(ports) == 0 {
			fw.Close()
			<-errCh //nolint:errcheck // closed: the missing port is the error
			return nil, fmt.Errorf("port-forward to %s/%s: no local port: %v", t.ns, pod, err)
		}
		t.port = int(ports[0].Local)
	}
	return errCh, nil
}

// readyControlPlanePod returns the name of a running, ready control-plane pod of the
// release.
func (b *Backend) readyControlPlanePod(ctx context.Context, ns, release string) (string, error) {
	pods, err := b.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: controlPlaneSelector(release)})
	if err != nil {
		return "", fmt.Errorf("list control-plane pods: %w", err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && podReady(&p) {
			return p.Name, nil
		}
	}
	return "", fmt.Errorf("no ready control-plane pod of %s in %s", release, ns)
}

func controlPlaneSelector(release string) string { return "app=vcluster,release=" + release }

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// virtualRESTConfig builds a client configuration for the virtual API from the
// vc-<release> kubeconfig (the virtual cluster's admin credentials), pointed at server
// (the tunnel or the Service), checking the certificate against serverName when given.
func virtualRESTConfig(kubeconfig []byte, server, serverName string) (*rest.Config, error) {
	rc, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("vcluster kubeconfig: %w", err)
	}
	rc.Host = server
	rc.TLSClientConfig.ServerName = serverName
	rc.UserAgent = "terraform-provider-nalabo"
	rc.QPS, rc.Burst = 50, 100
	rc.Timeout = 30 * time.Second
	return rc, nil
}

// tunnelServer is the tunnel's local address for clients.
func (t *vtunnel) server() string {
	return "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(t.port))
}
