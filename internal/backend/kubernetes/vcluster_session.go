package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/nalabo/terraform-provider-nalabo/internal/vcluster"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Labels and annotations of a vcluster session's namespace.
const (
	// LabelIsolation marks the namespaces of vcluster sessions ("vcluster").
	LabelIsolation = workshop.LabelPrefix + "isolation"
	// The participant's resources (the quota also holds the vCluster's overhead).
	annotationCPU     = workshop.LabelPrefix + "cpu"
	annotationMemory  = workshop.LabelPrefix + "memory"
	annotationStorage = workshop.LabelPrefix + "storage"
	// vclusterSecretPrefix + release is the kubeconfig secret the syncer writes.
	vclusterSecretPrefix = "vc-"
	// vclusterPodSecurity is the default Pod Security level of vcluster session
	// namespaces: the chart's control plane runs as root (baseline allows it,
	// restricted does not), and the virtual cluster's pods are synced into the same
	// namespace.
	vclusterPodSecurity = "baseline"
)

// vclusterTrace, when set (tests), receives the phases of a vcluster session's
// creation with the time since CreateSession began.
var vclusterTrace func(id, phase string, since time.Duration)

func trace(id string, start time.Time, phase string) {
	if vclusterTrace != nil {
		vclusterTrace(id, phase, time.Since(start))
	}
}

func isVCluster(spec *workshop.SessionSpec) bool {
	return spec != nil && spec.Template != nil && spec.Template.Infrastructure == workshop.InfraKubernetes &&
		spec.Template.Isolation == workshop.IsolationVCluster
}

func checkVClusterSpec(spec *workshop.SessionSpec) (workshop.ParsedResources, error) {
	var res workshop.ParsedResources
	if spec.ID == "" {
		return res, errors.New("create session: no session ID")
	}
	r := spec.Resources.Over(spec.Template.Resources).Over(workshop.DefaultResources(workshop.InfraKubernetes))
	res, err := r.Parse()
	if err != nil {
		return res, fmt.Errorf("session %s: resources: %w", spec.ID, err)
	}
	return res, nil
}

// vclusterQuota is the participant's resources plus the vCluster's overhead (control
// plane and CoreDNS limits, the data volume).
func vclusterQuota(s vcluster.Settings, res workshop.ParsedResources) workshop.ParsedResources {
	q := res
	q.MilliCPU += s.CPUMilli + vcluster.DNSCPUMilli
	q.MemoryBytes += s.MemBytes + vcluster.DNSMemoryBytes
	if s.Persistence && q.StorageBytes > 0 {
		if p, err := resource.ParseQuantity(s.PersistenceSize); err == nil {
			q.StorageBytes += p.Value()
		}
	}
	return q
}

// createVClusterSession is CreateSession for isolation = "vcluster": the namespace (as
// in namespace mode), the vCluster release, its readiness, the workspace pod with the
// virtual cluster's kubeconfig, and the template's manifests applied in the virtual
// cluster. On failure everything is removed.
func (b *Backend) createVClusterSession(ctx context.Context, spec *workshop.SessionSpec) (*workshop.Session, error) {
	s, err := b.cfg.VCluster.Settings()
	if err != nil {
		return nil, fmt.Errorf("create session %s: %w", spec.ID, err)
	}
	res, err := checkVClusterSpec(spec)
	if err != nil {
		return nil, err
	}
	objs, err := decodeManifests(spec.Template.Manifests)
	if err != nil {
		return nil, fmt.Errorf("create session %s: %w", spec.ID, err)
	}
	rel, err := b.newVClusterRelease(s, spec)
	if err != nil {
		return nil, fmt.Errorf("create session %s: %w", spec.ID, err)
	}
	unlock := b.lockSession(spec.ID)
	defer unlock()
	sess, err := b.createVCluster(ctx, s, spec, res, objs, rel)
	return createdOrCleaned(ctx, spec.ID, sess, err, b.removeSessionObjects)
}

// vclusterRelease is what a session's release is installed or upgraded with: the
// chart values and their fingerprint.
type vclusterRelease struct {
	values map[string]any
	state  workshop.VClusterState
}

func (b *Backend) newVClusterRelease(s vcluster.Settings, spec *workshop.SessionSpec) (vclusterRelease, error) {
	vals, err := vcluster.Values(s, spec.Template, valueLabels(spec))
	if err != nil {
		return vclusterRelease{}, err
	}
	b.workloadPullSecrets(vals)
	st, err := s.Fingerprint(spec.Template, spec.ID)
	if err != nil {
		return vclusterRelease{}, err
	}
	return vclusterRelease{values: vals, state: st}, nil
}

func (b *Backend) createVCluster(ctx context.Context, s vcluster.Settings, spec *workshop.SessionSpec, res workshop.ParsedResources,
	objs []*unstructured.Unstructured, rel vclusterRelease) (*workshop.Session, error) {
	start := time.Now()
	cp, err := b.createVClusterBase(ctx, s, spec, res, rel, start)
	if err != nil {
		return nil, err
	}
	inPod, partic, err := vclusterKubeconfigs(cp.kubeconfig, cp.release, cp.inCluster, participantServer(s, spec.ID, cp.ns, cp.release, cp.inCluster), "")
	if err != nil {
		return nil, err
	}
	return b.finishVCluster(ctx, s, spec, res, objs, cp, start, inPod, partic)
}

// vclusterPlane is a started vCluster control plane of a session namespace.
type vclusterPlane struct {
	ns, release string
	clusterIP   string // the release Service's
	inCluster   string // https://<cluster IP>:443
	kubeconfig  []byte // the vc-<release> secret's (the provider's admin credentials)
}

// createVClusterBase creates the session namespace with its quota, limit range, network
// policies and workspace service account, installs the release and waits until the
// control plane is ready. A warm pool entry is this and a virtual API that answers.
func (b *Backend) createVClusterBase(ctx context.Context, s vcluster.Settings, spec *workshop.SessionSpec, res workshop.ParsedResources,
	rel vclusterRelease, start time.Time) (*vclusterPlane, error) {
	ns := workshop.SessionObjectName(spec.ID)
	release := workshop.VClusterReleaseName(spec.ID)
	labels := spec.Labels()
	core := b.cs.CoreV1()
	create := metav1.CreateOptions{FieldManager: fieldManager}

	nsObj := namespaceObject(spec)
	if spec.Template.PodSecurity == "" {
		for _, k := range []string{"enforce", "warn", "audit"} {
			nsObj.Labels["pod-security.kubernetes.io/"+k] = vclusterPodSecurity
		}
	}
	nsObj.Labels[LabelIsolation] = string(workshop.IsolationVCluster)
	setResourceAnnotations(nsObj.Annotations, res)
	setVClusterAnnotations(nsObj.Annotations, rel.state)
	if err := b.createNamespace(ctx, nsObj); err != nil {
		return nil, err
	}
	om := objectMeta(ns, labels)
	if _, err := core.ResourceQuotas(ns).Create(ctx, quotaObject(om(quotaName), vclusterQuota(s, res)), create); err != nil {
		return nil, fmt.Errorf("create resource quota: %w", err)
	}
	if _, err := core.LimitRanges(ns).Create(ctx, limitRangeObject(om(limitRangeName), res), create); err != nil {
		return nil, fmt.Errorf("create limit range: %w", err)
	}
	for _, np := range networkPolicies(om, b.cfg.EgressDeny) {
		if _, err := b.cs.NetworkingV1().NetworkPolicies(ns).Create(ctx, np, create); err != nil {
			return nil, fmt.Errorf("create network policy %s: %w", np.Name, err)
		}
	}
	// The workspace pod's service account: no role on the host; the participant's
	// rights are the virtual cluster's.
	if err := b.setupPullSecret(ctx, om("")); err != nil {
		return nil, err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: om(participantSA), AutomountServiceAccountToken: ptr.To(false), ImagePullSecrets: b.imagePullSecrets()}
	if _, err := core.ServiceAccounts(ns).Create(ctx, sa, create); err != nil {
		return nil, fmt.Errorf("create service account: %w", err)
	}
	trace(spec.ID, start, "namespace")
	if err := b.helmInstall(ctx, s, ns, release, labels, rel.values); err != nil {
		return nil, err
	}
	trace(spec.ID, start, "helm-install")
	svc, err := core.Services(ns).Get(ctx, release, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("vcluster service %s: %w", release, err)
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		return nil, fmt.Errorf("vcluster service %s has no cluster IP", release)
	}
	raw, err := b.waitControlPlane(ctx, ns, release, start, spec.ID)
	if err != nil {
		return nil, err
	}
	return &vclusterPlane{ns: ns, release: release, clusterIP: svc.Spec.ClusterIP,
		inCluster: "https://" + net.JoinHostPort(svc.Spec.ClusterIP, "443"), kubeconfig: raw}, nil
}

// finishVCluster creates the kubeconfig secret and the workspace pod, applies the
// template's objects in the virtual cluster and waits until everything is ready, then
// marks the session complete.
func (b *Backend) finishVCluster(ctx context.Context, s vcluster.Settings, spec *workshop.SessionSpec, res workshop.ParsedResources,
	objs []*unstructured.Unstructured, cp *vclusterPlane, start time.Time, inPod, partic []byte) (*workshop.Session, error) {
	core := b.cs.CoreV1()
	create := metav1.CreateOptions{FieldManager: fieldManager}
	labels := spec.Labels()
	om := objectMeta(cp.ns, labels)
	secret := &corev1.Secret{
		ObjectMeta: om(kubeconfigSecret), Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{secretKeyInPod: inPod, secretKeyPartic: partic},
	}
	if _, err := core.Secrets(cp.ns).Create(ctx, secret, create); err != nil {
		return nil, fmt.Errorf("create kubeconfig secret: %w", err)
	}
	if _, err := core.Pods(cp.ns).Create(ctx, workspacePod(spec, om(workspacePodName), res, b.imagePullSecrets()), create); err != nil {
		return nil, fmt.Errorf("create workspace pod: %w", err)
	}
	pod := &unstructured.Unstructured{}
	pod.SetAPIVersion("v1")
	pod.SetKind("Pod")
	pod.SetName(workspacePodName)
	pod.SetNamespace(cp.ns)
	wsCtx, wsCancel := context.WithCancel(ctx)
	defer wsCancel()
	wsDone := make(chan error, 1)
	go func() { wsDone <- b.waitReady(wsCtx, []*unstructured.Unstructured{pod}) }()

	verr := b.withVirtualAPI(ctx, s, cp.ns, cp.release, cp.kubeconfig, cp.clusterIP, func(vb *Backend) error {
		return applyTemplateVirtual(ctx, vb, spec.ID, cp.release, start, labels, objs)
	})
	if verr != nil {
		wsCancel()
		<-wsDone //nolint:errcheck // cancelled: verr is the error
		return nil, b.withHostPodProblems(verr, cp.ns, cp.release)
	}
	werr := <-wsDone
	if werr != nil {
		return nil, werr
	}
	trace(spec.ID, start, "ready")
	fctx, cancel, _, err := b.markComplete(ctx, cp.ns)
	if err != nil {
		return nil, err
	}
	defer cancel()
	return b.readVClusterSession(fctx, spec.ID)
}

// applyTemplateVirtual waits until the virtual API answers, then applies the template's
// objects in the virtual cluster and waits until they are ready.
func applyTemplateVirtual(ctx context.Context, vb *Backend, id, release string, start time.Time, labels map[string]string, objs []*unstructured.Unstructured) error {
	if err := vb.waitVirtualAPI(ctx); err != nil {
		return fmt.Errorf("vcluster %s: the virtual API does not answer: %w", release, err)
	}
	trace(id, start, "virtual-api")
	// An object applied while the syncer is still starting has been seen to vanish
	// again (NotFound right after a successful apply): apply again, up to 3 times.
	for attempt := 1; ; attempt++ {
		applied, err := applyVirtual(ctx, vb, labels, objs)
		if err != nil {
			return err
		}
		trace(id, start, "manifests-applied")
		err = retryTransient(ctx, func() error { return vb.waitReady(ctx, applied) })
		if err == nil {
			break
		}
		if !apierrors.IsNotFound(err) || attempt == 3 || ctx.Err() != nil {
			return fmt.Errorf("in the virtual cluster: %w", err)
		}
	}
	trace(id, start, "manifests-ready")
	return nil
}

// readVClusterSession is getVClusterSession for a session that must be a vcluster one.
func (b *Backend) readVClusterSession(ctx context.Context, id string) (*workshop.Session, error) {
	sess, ok, err := b.getVClusterSession(ctx, id)
	if err == nil && !ok {
		err = fmt.Errorf("session %s: no vcluster session namespace %s: %w", id, workshop.SessionObjectName(id), workshop.ErrNotFound)
	}
	return sess, err
}

func setResourceAnnotations(a map[string]string, res workshop.ParsedResources) {
	a[annotationCPU] = workshop.FormatMilliCPU(res.MilliCPU)
	a[annotationMemory] = workshop.FormatBytes(res.MemoryBytes)
	if res.StorageBytes > 0 {
		a[annotationStorage] = workshop.FormatBytes(res.StorageBytes)
	} else {
		delete(a, annotationStorage)
	}
}

func participantServer(s vcluster.Settings, id, ns, release, inCluster string) string {
	if s.ParticipantServer == "" {
		return inCluster
	}
	return strings.NewReplacer("{namespace}", ns, "{release}", release, "{id}", id).Replace(s.ParticipantServer)
}

// waitControlPlane waits the way `vcluster create` does: the control-plane pod ready,
// then the vc-<release> kubeconfig secret, which it returns. The virtual API request
// follows (waitVirtualAPI). An error names the step it is stuck at.
func (b *Backend) waitControlPlane(ctx context.Context, ns, release string, start time.Time, id string) ([]byte, error) {
	step := "control-plane pod not created yet"
	podReadySeen := false
	for {
		msg, fatal, raw, err := b.controlPlaneStep(ctx, ns, release)
		if err != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("vcluster %s: %w", release, err)
		}
		if fatal {
			return nil, fmt.Errorf("vcluster %s: %s", release, msg)
		}
		if raw != nil {
			trace(id, start, "kubeconfig-secret")
			return raw, nil
		}
		if msg != "" {
			step = msg
		}
		if !podReadySeen && strings.HasPrefix(step, "waiting for secret") {
			podReadySeen = true
			trace(id, start, "pod-ready")
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("vcluster %s not ready before the deadline: %s: %w", release, step, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// controlPlaneStep looks once: it returns what is awaited (and whether polling cannot
// fix it), or the kubeconfig once the pod is ready and the secret exists.
func (b *Backend) controlPlaneStep(ctx context.Context, ns, release string) (msg string, fatal bool, kubeconfig []byte, err error) {
	core := b.cs.CoreV1()
	pods, err := core.Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: controlPlaneSelector(release)})
	if err != nil {
		return "", false, nil, fmt.Errorf("list control-plane pods: %w", err)
	}
	var pod *corev1.Pod
	for i := range pods.Items {
		if pods.Items[i].DeletionTimestamp == nil {
			pod = &pods.Items[i]
			break
		}
	}
	if pod == nil {
		// Nothing created: the workload controller says why (Pod Security, quota...).
		if ev := b.lastWarning(ctx, ns, release); ev != "" {
			return "control-plane pod not created: " + ev, strings.Contains(ev, "violates PodSecurity"), nil, nil
		}
		return "control-plane pod not created yet", false, nil, nil
	}
	if !podReady(pod) {
		return b.podPendingReason(ctx, pod, release)
	}
	sec, err := core.Secrets(ns).Get(ctx, vclusterSecretPrefix+release, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "waiting for secret " + vclusterSecretPrefix + release + " (control-plane pod ready)", false, nil, nil
	}
	if err != nil {
		return "", false, nil, fmt.Errorf("read secret %s%s: %w", vclusterSecretPrefix, release, err)
	}
	raw := sec.Data["config"]
	if len(raw) == 0 {
		return "secret " + vclusterSecretPrefix + release + " has no config yet", false, nil, nil
	}
	return "", false, raw, nil
}

// podPendingReason names why the control-plane pod is not ready: unschedulable,
// an image missing, a data PVC unbound, a container waiting or not ready.
func (b *Backend) podPendingReason(ctx context.Context, pod *corev1.Pod, release string) (string, bool, []byte, error) {
	name := "control-plane pod " + pod.Name
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			msg := name + " pending: " + c.Reason + ": " + c.Message
			if pvc := b.unboundPVC(ctx, pod.Namespace, "data-"+release+"-0"); pvc != "" {
				msg += "; " + pvc
			}
			return msg, false, nil, nil
		}
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(pod)
	if err == nil {
		if reason, fatal := podWaiting(&unstructured.Unstructured{Object: u}); reason != "" {
			if fatal && strings.Contains(reason, "ErrImageNeverPull") {
				return name + ": image missing on the node: " + reason, true, nil, nil
			}
			return name + " " + string(pod.Status.Phase) + ": " + reason, fatal, nil, nil
		}
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if t := cs.LastTerminationState.Terminated; t != nil && !cs.Ready {
			return fmt.Sprintf("%s: container %s restarted %d times (last exit %d: %s)", name, cs.Name, cs.RestartCount, t.ExitCode, t.Reason), false, nil, nil
		}
	}
	return name + " " + string(pod.Status.Phase) + ", not ready yet", false, nil, nil
}

func (b *Backend) unboundPVC(ctx context.Context, ns, name string) string {
	pvc, err := b.cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil || pvc.Status.Phase == corev1.ClaimBound {
		return ""
	}
	msg := "PVC " + name + " " + string(pvc.Status.Phase)
	if ev := b.lastWarning(ctx, ns, name); ev != "" {
		msg += ": " + ev
	}
	return msg
}

// lastWarning returns the newest Warning event about the object named name in ns.
func (b *Backend) lastWarning(ctx context.Context, ns, name string) string {
	evs, err := b.cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name + ",type=Warning"})
	if err != nil || len(evs.Items) == 0 {
		return ""
	}
	sort.Slice(evs.Items, func(i, j int) bool { return eventTime(&evs.Items[i]).Before(eventTime(&evs.Items[j])) })
	e := evs.Items[len(evs.Items)-1]
	return e.Reason + ": " + e.Message
}

func eventTime(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// vclusterKubeconfigs returns the workspace's kubeconfig (the Service's in-cluster
// address) and the participant's, both with the virtual cluster's credentials from the
// vc-<release> kubeconfig.
//
// A non-empty token replaces the client certificate: a claimed warm pool entry's
// participant gets a token minted at the claim (the certificate was made with the
// control plane, before anyone claimed it).
func vclusterKubeconfigs(raw []byte, release, inCluster, participant, token string) (inPod, partic []byte, err error) {
	src, err := clientcmd.Load(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("vcluster kubeconfig: %w", err)
	}
	cur := src.Contexts[src.CurrentContext]
	if cur == nil || src.Clusters[cur.Cluster] == nil || src.AuthInfos[cur.AuthInfo] == nil {
		return nil, nil, errors.New("vcluster kubeconfig: no current context with cluster and user")
	}
	ca := src.Clusters[cur.Cluster].CertificateAuthorityData
	user := src.AuthInfos[cur.AuthInfo]
	build := func(server string) ([]byte, error) {
		c := clientcmdapi.NewConfig()
		c.Clusters[release] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
		c.AuthInfos[release] = &clientcmdapi.AuthInfo{ClientCertificateData: user.ClientCertificateData, ClientKeyData: user.ClientKeyData, Token: user.Token}
		if token != "" {
			c.AuthInfos[release] = &clientcmdapi.AuthInfo{Token: token}
		}
		c.Contexts[release] = &clientcmdapi.Context{Cluster: release, AuthInfo: release, Namespace: "default"}
		c.CurrentContext = release
		return clientcmd.Write(*c)
	}
	if inPod, err = build(inCluster); err != nil {
		return nil, nil, err
	}
	if partic, err = build(participant); err != nil {
		return nil, nil, err
	}
	return inPod, partic, nil
}

// withVirtualAPI runs fn with a backend whose clients talk to the virtual API: through a
// port-forward (re-established on failure) or the Service's cluster IP.
func (b *Backend) withVirtualAPI(ctx context.Context, s vcluster.Settings, ns, release string, kubeconfig []byte, clusterIP string, fn func(vb *Backend) error) error {
	server, serverName := "https://"+net.JoinHostPort(clusterIP, "443"), ""
	if s.APIAccess == vcluster.AccessPortForward {
		t, err := b.openTunnel(ctx, ns, release)
		if err != nil {
			return fmt.Errorf("vcluster %s: %w", release, err)
		}
		defer t.Close()
		server, serverName = t.server(), "localhost"
	}
	rc, err := virtualRESTConfig(kubeconfig, server, serverName)
	if err != nil {
		return err
	}
	vb, err := newVirtualBackend(b.cfg, rc)
	if err != nil {
		return err
	}
	return fn(vb)
}

func newVirtualBackend(cfg Config, rc *rest.Config) (*Backend, error) {
	cs, err := k8s.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		return nil, err
	}
	return &Backend{cfg: cfg, rest: rc, cs: cs, dyn: dyn,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// waitVirtualAPI waits until a request through the virtual API succeeds: the default
// service account of the default namespace (made by the virtual controller-manager).
func (b *Backend) waitVirtualAPI(ctx context.Context) error {
	var last error
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := b.cs.CoreV1().ServiceAccounts("default").Get(rctx, "default", metav1.GetOptions{})
		cancel()
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%v: %w", last, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// applyVirtual server-side applies the template's objects in the virtual cluster with
// the session's labels: cluster-scoped kinds are allowed; namespaced objects without a
// namespace go into "default". A kind unknown yet (a CRD of the same manifest) is
// retried until ctx ends.
func applyVirtual(ctx context.Context, vb *Backend, labels map[string]string, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for i, in := range objs {
		o := in.DeepCopy()
		gvk := o.GroupVersionKind()
		l := o.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		for k, v := range labels {
			l[k] = v
		}
		o.SetLabels(l)
		var applied *unstructured.Unstructured
		err := retryTransient(ctx, func() error {
			mapping, err := vb.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if meta.IsNoMatchError(err) {
				vb.mapper.Reset()
				mapping, err = vb.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			}
			if err != nil {
				return err
			}
			var ri dynamic.ResourceInterface = vb.dyn.Resource(mapping.Resource)
			if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
				if o.GetNamespace() == "" {
					o.SetNamespace("default")
				}
				ri = vb.dyn.Resource(mapping.Resource).Namespace(o.GetNamespace())
			} else {
				o.SetNamespace("")
			}
			applied, err = ri.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("apply manifest document %d (%s %s) in the virtual cluster: %w", i+1, gvk.Kind, o.GetName(), err)
		}
		out = append(out, applied)
	}
	return out, nil
}

// retryTransient runs fn until it succeeds, fails with a lasting error, or ctx ends.
// Transient: connection refused/reset, EOF (a tunnel being re-established), a kind
// not known yet, 429/5xx.
func retryTransient(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		if err == nil || !isTransient(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func isTransient(err error) bool {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &ne):
		return true
	case meta.IsNoMatchError(err), apierrors.IsServiceUnavailable(err), apierrors.IsTooManyRequests(err),
		apierrors.IsInternalError(err), apierrors.IsServerTimeout(err), apierrors.IsTimeout(err):
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "connection reset") ||
		strings.Contains(msg, "broken pipe") || strings.Contains(msg, "EOF")
}

// getVClusterSession reads a vcluster session; handled is false when the namespace is
// not a vcluster session's (missing, or namespace isolation). A missing release or
// kubeconfig makes the session degraded; a control plane that is not ready, unhealthy.
func (b *Backend) getVClusterSession(ctx context.Context, id string) (*workshop.Session, bool, error) {
	name := workshop.SessionObjectName(id)
	ns, err := b.cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, false, nil // getSession says so
	case err != nil:
		// The same words as getSession, without asking the API a second time.
		return nil, true, fmt.Errorf("session %s: read namespace %s: %w", id, name, err)
	case ns.Labels[LabelIsolation] != string(workshop.IsolationVCluster) || ns.Labels[workshop.LabelSession] != id:
		return nil, false, nil
	}
	if ns.DeletionTimestamp != nil {
		return nil, true, fmt.Errorf("session %s: namespace %s is terminating: %w", id, name, workshop.ErrNotFound)
	}
	release := workshop.VClusterReleaseName(id)
	s := sessionFromNamespace(ns)
	s.Resources = workshop.Resources{CPU: ns.Annotations[annotationCPU], Memory: ns.Annotations[annotationMemory], Storage: ns.Annotations[annotationStorage]}
	if q, err := b.cs.CoreV1().ResourceQuotas(name).Get(ctx, quotaName, metav1.GetOptions{}); err == nil {
		s.StorageEnforced = s.Resources.Storage != ""
		// The quota's GPUs are the participant's (the vCluster's overhead has none).
		s.Resources.GPU, s.Resources.GPUResource = gpusFromQuota(q)
	}
	degraded := false
	rel, err := b.helmRelease(name, release)
	if err != nil {
		return nil, true, fmt.Errorf("session %s: %w", id, err)
	}
	if rel == nil || rel.Info == nil || (rel.Info.Status != "deployed" && rel.Info.Status != "pending-upgrade") {
		degraded = true
	}
	var relValues map[string]any
	if rel != nil {
		relValues = rel.Config
	}
	s.VCluster = recordedVCluster(ns.Annotations, release, relValues)
	sec, err := b.cs.CoreV1().Secrets(name).Get(ctx, kubeconfigSecret, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		degraded = true
	case err != nil:
		return nil, true, fmt.Errorf("session %s: read kubeconfig secret: %w", id, err)
	default:
		s.Kubeconfig = string(sec.Data[secretKeyPartic])
	}
	pod, err := b.cs.CoreV1().Pods(name).Get(ctx, workspacePodName, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, true, fmt.Errorf("session %s: read workspace pod: %w", id, err)
	}
	if err != nil {
		pod, degraded = nil, true
	}
	s.Status = sessionStatus(time.Now(), s.ExpiresAt, degraded, pod)
	if s.Status == workshop.StatusRunning {
		if _, err := b.readyControlPlanePod(ctx, name, release); err != nil {
			s.Status = workshop.StatusUnhealthy
		}
	}
	return s, true, nil
}

// ValidateVClusterManifests checks a vcluster template's manifests without a cluster:
// every document parses and names apiVersion, kind and metadata.name. Cluster-scoped
// kinds and namespaces are allowed: they land in the virtual cluster.
func ValidateVClusterManifests(content string) error {
	if strings.TrimSpace(content) == "" {
		return nil
	}
	objs, err := decodeManifests(content)
	if err != nil {
		return err
	}
	var errs []error
	for i, o := range objs {
		if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" {
			errs = append(errs, fmt.Errorf("document %d: apiVersion, kind and metadata.name are required", i+1))
		}
		if strings.HasSuffix(o.GetKind(), "List") {
			errs = append(errs, fmt.Errorf("document %d (%s %s): lists are not supported; give one object per document", i+1, o.GetKind(), o.GetName()))
		}
	}
	return errors.Join(errs...)
}
