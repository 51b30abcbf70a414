package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Names of the objects in a session's namespace.
const (
	fieldManager        = "nalabo"
	workspacePodName    = "workspace"
	workspaceContainer  = "workspace"
	participantSA       = "participant"
	participantRole     = "nalabo-participant"
	quotaName           = "nalabo-quota"
	limitRangeName      = "nalabo-limits"
	kubeconfigSecret    = "nalabo-kubeconfig"
	secretKeyInPod      = "config"      // kubeconfig the workspace uses (in-cluster address)
	secretKeyPartic     = "participant" // kubeconfig handed to the participant
	workspaceHome       = "/home/nalabo"
	workspaceKubeconfig = workspaceHome + "/.kube/config"
	workspaceUID        = int64(1000)
	// maxPods caps pods per session namespace.
	maxPods = 20
	// minTokenSeconds is the API's minimum TokenRequest lifetime.
	minTokenSeconds = 600
)

// cleanupTimeout bounds removing a half-created session on a fresh context.
const cleanupTimeout = 2 * time.Minute

// mutationTimeout bounds one create step that runs past the caller's context.
const mutationTimeout = time.Minute

func sessionSelector() string {
	return workshop.LabelManagedBy + "=" + workshop.ManagedByValue + "," + workshop.LabelSession
}

// CreateSession builds the session namespace and everything in it, and waits until the
// workspace pod and the template's objects are ready (kstatus Current). On any failure
// it deletes the namespace and waits until it is gone.
func (b *Backend) CreateSession(ctx context.Context, spec *workshop.SessionSpec) (*workshop.Session, error) {
	defer workshop.Hold()() // the process waits for the create and its cleanup before exiting
	if spec != nil {
		defer b.reads.change(spec.ID)()
	}
	if isVCluster(spec) {
		if spec.Persistence != nil {
			return nil, fmt.Errorf("create session %s: persistence (a persistent home) is not available on vcluster sessions", spec.ID)
		}
		return b.createVClusterSession(ctx, spec)
	}
	res, err := checkSpec(spec)
	if err != nil {
		return nil, err
	}
	objs, err := decodeManifests(spec.Template.Manifests)
	if err != nil {
		return nil, fmt.Errorf("create session %s: %w", spec.ID, err)
	}
	unlock := b.lockSession(spec.ID)
	defer unlock()
	s, err := b.createSession(ctx, spec, res, objs)
	return createdOrCleaned(ctx, spec.ID, s, err, b.removeNamespace)
}

// createdOrCleaned finishes a create: on failure (unless it is a keepError) it removes
// what was created, on a fresh context bounded by cleanupTimeout, and reports both errors.
func createdOrCleaned(ctx context.Context, id string, s *workshop.Session, err error,
	remove func(context.Context, string) error) (*workshop.Session, error) {
	var keep *keepError
	if errors.As(err, &keep) {
		return nil, fmt.Errorf("create session %s: %w", id, keep.err)
	}
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if cerr := remove(cctx, id); cerr != nil {
			err = fmt.Errorf("%w\n(removing what was created also failed: %v)", err, cerr)
		}
		return nil, fmt.Errorf("create session %s: %w", id, err)
	}
	return s, nil
}

// keepError is a create failure after which nothing must be removed.
type keepError struct{ err error }

func (e *keepError) Error() string { return e.err.Error() }

func checkSpec(spec *workshop.SessionSpec) (workshop.ParsedResources, error) {
	var res workshop.ParsedResources
	if spec == nil || spec.Template == nil {
		return res, errors.New("create session: no spec or template given")
	}
	if spec.ID == "" {
		return res, errors.New("create session: no session ID")
	}
	if spec.Template.Infrastructure != workshop.InfraKubernetes || spec.Template.Isolation != workshop.IsolationNamespace {
		return res, fmt.Errorf("create session %s: template %s is not a kubernetes namespace-isolated template", spec.ID, spec.Template.ID)
	}
	r := spec.Resources.Over(spec.Template.Resources).Over(workshop.DefaultResources(workshop.InfraKubernetes))
	res, err := r.Parse()
	if err != nil {
		return res, fmt.Errorf("create session %s: resources: %w", spec.ID, err)
	}
	if err := spec.Persistence.Validate(); err != nil {
		return res, fmt.Errorf("create session %s: persistence: %w", spec.ID, err)
	}
	if spec.Persistence != nil && res.StorageBytes > 0 {
		// The home's claim counts toward the namespace quota's requests.storage.
		if size, _ := workshop.ParseStorage(spec.Persistence.Size); size > res.StorageBytes {
			return res, fmt.Errorf("create session %s: persistence.size %s is more than the session's storage %s (the namespace "+
				"quota's requests.storage, which the home's claim counts toward): lower it or raise resources.storage",
				spec.ID, spec.Persistence.Size, r.Storage)
		}
	}
	return res, nil
}

func (b *Backend) createSession(ctx context.Context, spec *workshop.SessionSpec, res workshop.ParsedResources, objs []*unstructured.Unstructured) (*workshop.Session, error) {
	ns := workshop.SessionObjectName(spec.ID)
	quota, err := b.createSessionBase(ctx, spec, res)
	if err != nil {
		return nil, err
	}
	secret, err := b.createAccess(ctx, spec, res)
	if err != nil {
		return nil, err
	}
	return b.finishSession(ctx, ns, spec.Labels(), quota, secret, objs)
}

// createSessionBase creates the namespace and what in it holds no credential: quota,
// limit range, network policies, the participant's role and its binding. A warm pool
// entry is this and the template's objects.
func (b *Backend) createSessionBase(ctx context.Context, spec *workshop.SessionSpec, res workshop.ParsedResources) (*corev1.ResourceQuota, error) {
	ns := workshop.SessionObjectName(spec.ID)
	core := b.cs.CoreV1()
	create := metav1.CreateOptions{FieldManager: fieldManager}

	if err := b.createNamespace(ctx, namespaceObject(spec)); err != nil {
		return nil, err
	}
	om := objectMeta(ns, spec.Labels())
	quota, err := core.ResourceQuotas(ns).Create(ctx, quotaObject(om(quotaName), res), create)
	if err != nil {
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
	// The registry logins: the default service account of the template's pods (a warm
	// pool entry runs them before it is claimed) references them.
	if err := b.setupPullSecret(ctx, om("")); err != nil {
		return nil, err
	}
	role := &rbacv1.Role{ObjectMeta: om(participantRole), Rules: participantRules()}
	if _, err := b.cs.RbacV1().Roles(ns).Create(ctx, role, create); err != nil {
		return nil, fmt.Errorf("create role: %w", err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: om(participantRole),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: participantRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: participantSA, Namespace: ns}},
	}
	if _, err := b.cs.RbacV1().RoleBindings(ns).Create(ctx, rb, create); err != nil {
		return nil, fmt.Errorf("create role binding: %w", err)
	}
	return quota, nil
}

// objectMeta returns the metadata of a named object in ns with labels.
func objectMeta(ns string, labels map[string]string) func(string) metav1.ObjectMeta {
	return func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}
	}
}

// createAccess creates the participant's credentials and the workspace that uses them:
// the service account, a token that expires with the session, the kubeconfig secret and
// the workspace pod. A warm pool entry gets them only when claimed.
func (b *Backend) createAccess(ctx context.Context, spec *workshop.SessionSpec, res workshop.ParsedResources) (*corev1.Secret, error) {
	ns := workshop.SessionObjectName(spec.ID)
	core := b.cs.CoreV1()
	create := metav1.CreateOptions{FieldManager: fieldManager}
	om := objectMeta(ns, spec.Labels())
	sa := &corev1.ServiceAccount{ObjectMeta: om(participantSA), AutomountServiceAccountToken: ptr.To(false), ImagePullSecrets: b.imagePullSecrets()}
	if _, err := core.ServiceAccounts(ns).Create(ctx, sa, create); err != nil {
		return nil, fmt.Errorf("create service account: %w", err)
	}
	token, err := b.participantToken(ctx, ns, spec.ExpiresAt)
	if err != nil {
		return nil, err
	}
	inPod, partic, err := b.kubeconfigs(ctx, ns, token)
	if err != nil {
		return nil, err
	}
	secret := &corev1.Secret{
		ObjectMeta: om(kubeconfigSecret), Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{secretKeyInPod: inPod, secretKeyPartic: partic},
	}
	secret, err = core.Secrets(ns).Create(ctx, secret, create)
	if err != nil {
		return nil, fmt.Errorf("create kubeconfig secret: %w", err)
	}
	if spec.Persistence != nil {
		claim, err := homeClaim(om(homeClaimName), spec.Persistence)
		if err != nil {
			return nil, err
		}
		if _, err := core.PersistentVolumeClaims(ns).Create(ctx, claim, create); err != nil {
			return nil, fmt.Errorf("create the home's persistent volume claim: %w", err)
		}
	}
	if _, err := core.Pods(ns).Create(ctx, workspacePod(spec, om(workspacePodName), res, b.imagePullSecrets()), create); err != nil {
		return nil, fmt.Errorf("create workspace pod: %w", err)
	}
	return secret, nil
}

// finishSession applies the template's objects with labels, waits until they (and the
// workspace pod, when secret is set) are ready, marks the namespace complete and returns
// the session assembled from the objects written.
func (b *Backend) finishSession(ctx context.Context, ns string, labels map[string]string, quota *corev1.ResourceQuota,
	secret *corev1.Secret, objs []*unstructured.Unstructured) (*workshop.Session, error) {
	applied, err := b.applyObjects(ctx, ns, labels, objs)
	if err != nil {
		return nil, err
	}
	var await []*unstructured.Unstructured
	if secret != nil {
		pod := &unstructured.Unstructured{}
		pod.SetAPIVersion("v1")
		pod.SetKind("Pod")
		pod.SetName(workspacePodName)
		pod.SetNamespace(ns)
		await = append(await, pod)
	}
	if err := b.waitReady(ctx, append(await, applied...)); err != nil {
		return nil, err
	}
	fctx, cancel, nsObj, err := b.markComplete(ctx, ns)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if secret == nil {
		return sessionFromNamespace(nsObj), nil // a pool entry: no workspace yet
	}
	// The session from the objects just written; only the pod is read again (its status).
	live, err := b.cs.CoreV1().Pods(ns).Get(fctx, workspacePodName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read workspace pod: %w", err)
	}
	return assembleSession(nsObj, quota, secret, false, live, time.Now()), nil
}

// createNamespace creates a session namespace on a context of its own: a create the
// caller gave up on (its ctx ended) may still be committed by the API server after
// the cleanup looked for it, which would leave a namespace nobody removes.
func (b *Backend) createNamespace(ctx context.Context, ns *corev1.Namespace) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mutationTimeout)
	defer cancel()
	if _, err := b.cs.CoreV1().Namespaces().Create(cctx, ns, metav1.CreateOptions{FieldManager: fieldManager}); err != nil {
		if apierrors.IsAlreadyExists(err) {
			// Not ours to remove: the cleanup must not delete another session.
			return &keepError{fmt.Errorf("namespace %s already exists (session ID reused?)", ns.Name)}
		}
		return fmt.Errorf("create namespace %s: %w", ns.Name, err)
	}
	return ctx.Err()
}

// markComplete removes the namespace's "creating" label once the session is ready
// (ctx still alive): from then on the session is complete, a re-apply may adopt it and
// the reconciler no longer counts it as a remnant. Nothing after it may fail on ctx, so
// it returns the context the create finishes under.
func (b *Backend) markComplete(ctx context.Context, ns string) (context.Context, context.CancelFunc, *corev1.Namespace, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, err
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mutationTimeout)
	patch := []byte(`{"metadata":{"labels":{"` + workshop.LabelCreating + `":null}}}`)
	nsObj, err := b.cs.CoreV1().Namespaces().Patch(fctx, ns, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
	if err != nil {
		cancel()
		return nil, nil, nil, fmt.Errorf("mark namespace %s complete: %w", ns, err)
	}
	return fctx, cancel, nsObj, nil
}

func namespaceObject(spec *workshop.SessionSpec) *corev1.Namespace {
	level := spec.Template.PodSecurity
	if level == "" {
		level = "restricted"
	}
	labels := workshop.WithLabels(spec.Labels(),
		"pod-security.kubernetes.io/enforce", level,
		"pod-security.kubernetes.io/enforce-version", "latest",
		"pod-security.kubernetes.io/warn", level,
		"pod-security.kubernetes.io/audit", level,
		workshop.LabelBackend, string(workshop.InfraKubernetes),
		workshop.LabelCreating, "true",
	)
	if spec.Pool == workshop.PoolCold {
		labels[workshop.LabelPool] = workshop.PoolCold
		labels[workshop.LabelPoolKey] = workshop.PoolKey(spec.Template.ID)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: workshop.SessionObjectName(spec.ID), Labels: labels,
		Annotations: map[string]string{annotationTemplateID: spec.Template.ID},
	}}
	if spec.Pool != workshop.PoolFree {
		setParticipantAnnotations(ns.Annotations, spec)
	}
	return ns
}

// setParticipantAnnotations records a session's participant, creation and duration on
// its namespace (at create, or when a warm pool entry is claimed).
func setParticipantAnnotations(a map[string]string, spec *workshop.SessionSpec) {
	a[workshop.LabelPrefix+"created-at"] = spec.CreatedAt.UTC().Format(time.RFC3339)
	a[workshop.LabelPrefix+"duration"] = spec.Duration.String()
	a[workshop.LabelPrefix+"participant"] = spec.Participant
}

func milli(v int64) resource.Quantity { return *resource.NewMilliQuantity(v, resource.DecimalSI) }
func bytesQ(v int64) resource.Quantity {
	return *resource.NewQuantity(v, resource.BinarySI)
}

func quotaSpec(res workshop.ParsedResources) corev1.ResourceQuotaSpec {
	hard := corev1.ResourceList{
		corev1.ResourceRequestsCPU:    milli(res.MilliCPU),
		corev1.ResourceLimitsCPU:      milli(res.MilliCPU),
		corev1.ResourceRequestsMemory: bytesQ(res.MemoryBytes),
		corev1.ResourceLimitsMemory:   bytesQ(res.MemoryBytes),
		corev1.ResourcePods:           *resource.NewQuantity(maxPods, resource.DecimalSI),
	}
	if res.StorageBytes > 0 {
		hard[corev1.ResourceRequestsStorage] = bytesQ(res.StorageBytes)
	}
	gpuQuota(hard, res)
	return corev1.ResourceQuotaSpec{Hard: hard}
}

func quotaObject(om metav1.ObjectMeta, res workshop.ParsedResources) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{ObjectMeta: om, Spec: quotaSpec(res)}
}

// limitRangeSpec gives containers without resources a quarter of the session as
// limit and a sixteenth as request.
func limitRangeSpec(res workshop.ParsedResources) corev1.LimitRangeSpec {
	return corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type: corev1.LimitTypeContainer,
		Default: corev1.ResourceList{
			corev1.ResourceCPU: milli(max(res.MilliCPU/4, 10)), corev1.ResourceMemory: bytesQ(res.MemoryBytes / 4),
		},
		DefaultRequest: corev1.ResourceList{
			corev1.ResourceCPU: milli(max(res.MilliCPU/16, 5)), corev1.ResourceMemory: bytesQ(res.MemoryBytes / 16),
		},
	}}}
}

func limitRangeObject(om metav1.ObjectMeta, res workshop.ParsedResources) *corev1.LimitRange {
	return &corev1.LimitRange{ObjectMeta: om, Spec: limitRangeSpec(res)}
}

func participantRules() []rbacv1.PolicyRule {
	all := []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	read := []string{"get", "list", "watch"}
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Verbs: all, Resources: []string{
			"pods", "pods/log", "pods/exec", "pods/attach", "pods/portforward", "services", "endpoints",
			"configmaps", "secrets", "persistentvolumeclaims",
		}},
		{APIGroups: []string{""}, Verbs: read, Resources: []string{"events", "serviceaccounts", "resourcequotas", "limitranges"}},
		{APIGroups: []string{"apps"}, Verbs: all, Resources: []string{
			"deployments", "deployments/scale", "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale", "daemonsets",
		}},
		{APIGroups: []string{"batch"}, Verbs: all, Resources: []string{"jobs", "cronjobs"}},
		{APIGroups: []string{"networking.k8s.io"}, Verbs: all, Resources: []string{"ingresses"}},
		{APIGroups: []string{"networking.k8s.io"}, Verbs: read, Resources: []string{"networkpolicies"}},
		{APIGroups: []string{"autoscaling"}, Verbs: all, Resources: []string{"horizontalpodautoscalers"}},
		{APIGroups: []string{"policy"}, Verbs: all, Resources: []string{"poddisruptionbudgets"}},
		{APIGroups: []string{"events.k8s.io"}, Verbs: read, Resources: []string{"events"}},
		{APIGroups: []string{"metrics.k8s.io"}, Verbs: read, Resources: []string{"pods"}},
	}
}

// participantToken requests a token for the participant service account that expires
// with the session (the API's minimum is ten minutes).
func (b *Backend) participantToken(ctx context.Context, ns string, expires time.Time) (string, error) {
	secs := int64(time.Until(expires).Seconds())
	if secs < minTokenSeconds {
		secs = minTokenSeconds
	}
	tr := &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &secs}}
	out, err := b.cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, participantSA, tr, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("request participant token: %w", err)
	}
	return out.Status.Token, nil
}

// kubeconfigs returns the workspace's kubeconfig (the in-cluster API address) and the
// participant's (ParticipantServer, default the backend's address).
func (b *Backend) kubeconfigs(ctx context.Context, ns, token string) (inPod, participant []byte, err error) {
	ca := b.rest.CAData
	if len(ca) == 0 && b.rest.CAFile != "" {
		if ca, err = os.ReadFile(b.rest.CAFile); err != nil {
			return nil, nil, fmt.Errorf("read cluster CA %s: %w", b.rest.CAFile, err)
		}
	}
	inCluster := "https://kubernetes.default.svc"
	if svc, err := b.cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{}); err == nil && svc.Spec.ClusterIP != "" {
		port := "443"
		if len(svc.Spec.Ports) > 0 {
			port = strconv.Itoa(int(svc.Spec.Ports[0].Port))
		}
		inCluster = "https://" + net.JoinHostPort(svc.Spec.ClusterIP, port)
	}
	external := b.cfg.ParticipantServer
	if external == "" {
		external = b.rest.Host
	}
	build := func(server string, caData []byte) ([]byte, error) {
		c := clientcmdapi.NewConfig()
		c.Clusters["nalabo"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caData, InsecureSkipTLSVerify: b.cfg.Insecure && len(caData) == 0}
		c.AuthInfos[participantSA] = &clientcmdapi.AuthInfo{Token: token}
		c.Contexts[ns] = &clientcmdapi.Context{Cluster: "nalabo", AuthInfo: participantSA, Namespace: ns}
		c.CurrentContext = ns
		return clientcmd.Write(*c)
	}
	if inPod, err = build(inCluster, ca); err != nil {
		return nil, nil, err
	}
	if participant, err = build(external, ca); err != nil {
		return nil, nil, err
	}
	return inPod, participant, nil
}

// workspacePod is the session's workspace; pullSecrets are registry_auth's (nil without).
func workspacePod(spec *workshop.SessionSpec, om metav1.ObjectMeta, res workshop.ParsedResources, pullSecrets []corev1.LocalObjectReference) *corev1.Pod {
	om.Labels = workshop.WithLabels(om.Labels, workshop.LabelRole, workshop.RoleWorkspace)
	ws := spec.Template.Workspace
	uid := workspaceUID
	if n, err := strconv.ParseInt(ws.User, 10, 64); err == nil && n > 0 {
		uid = n
	}
	env := []corev1.EnvVar{{Name: "KUBECONFIG", Value: workspaceKubeconfig}, {Name: "HOME", Value: workspaceHome}}
	for k, v := range ws.Env {
		env = append(env, corev1.EnvVar{Name: k, Value: v})
	}
	sortEnv(env)
	pod := &corev1.Pod{
		ObjectMeta: om,
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken:  ptr.To(false),
			ServiceAccountName:            participantSA,
			ImagePullSecrets:              pullSecrets,
			TerminationGracePeriodSeconds: ptr.To(int64(5)),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(uid), RunAsGroup: ptr.To(uid), FSGroup: ptr.To(uid),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Volumes: []corev1.Volume{
				{Name: "home", VolumeSource: homeVolume(spec)},
				{Name: "kubeconfig", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
					SecretName: kubeconfigSecret, DefaultMode: ptr.To(int32(0o440)),
					Items: []corev1.KeyToPath{{Key: secretKeyInPod, Path: "config"}},
				}}},
			},
			Containers: []corev1.Container{{
				Name: workspaceContainer, Image: spec.Template.WorkspaceImage(), ImagePullPolicy: corev1.PullIfNotPresent,
				Command: ws.Command, Env: env, WorkingDir: ws.WorkingDir,
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: milli(max(res.MilliCPU/8, 5)), corev1.ResourceMemory: bytesQ(res.MemoryBytes / 8)},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: milli(max(res.MilliCPU/2, 10)), corev1.ResourceMemory: bytesQ(res.MemoryBytes / 2)},
				},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false), RunAsNonRoot: ptr.To(true),
					Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "home", MountPath: workspaceHome},
					{Name: "kubeconfig", MountPath: workspaceKubeconfig, SubPath: "config", ReadOnly: true},
				},
			}},
		},
	}
	withGPUs(pod, spec.Template, res)
	return pod
}

func sortEnv(env []corev1.EnvVar) {
	for i := 1; i < len(env); i++ {
		for j := i; j > 0 && env[j].Name < env[j-1].Name; j-- {
			env[j], env[j-1] = env[j-1], env[j]
		}
	}
}

// applyObjects server-side applies the template's objects into ns with the session's
// labels; a cluster-scoped kind (by discovery) is refused.
func (b *Backend) applyObjects(ctx context.Context, ns string, labels map[string]string, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for i, in := range objs {
		o := in.DeepCopy()
		gvk := o.GroupVersionKind()
		mapping, err := b.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			b.mapper.Reset()
			mapping, err = b.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		}
		if err != nil {
			return nil, fmt.Errorf("manifest document %d (%s %s): %w", i+1, gvk.Kind, o.GetName(), err)
		}
		if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
			return nil, fmt.Errorf("manifest document %d (%s %s): cluster-scoped, which namespace isolation does not allow", i+1, gvk.Kind, o.GetName())
		}
		o.SetNamespace(ns)
		l := o.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		for k, v := range labels {
			l[k] = v
		}
		o.SetLabels(l)
		applied, err := b.dyn.Resource(mapping.Resource).Namespace(ns).Apply(ctx, o.GetName(), o,
			metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
		if err != nil {
			return nil, fmt.Errorf("apply manifest document %d (%s %s): %w", i+1, gvk.Kind, o.GetName(), err)
		}
		out = append(out, applied)
	}
	return out, nil
}

// waitNamespaceGone waits (by watch) until the namespace is deleted.
func (b *Backend) waitNamespaceGone(ctx context.Context, ns string) error {
	if err := waitGoneWatch(ctx, b.dyn.Resource(namespacesGVR), ns, ""); err != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	return nil
}
