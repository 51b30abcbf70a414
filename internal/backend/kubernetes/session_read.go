package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"k8s.io/client-go/util/retry"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// GetSession reads a session's namespace, quota, kubeconfig and workspace pod. A
// missing (or terminating) namespace is an error wrapping workshop.ErrNotFound; a
// missing workspace pod or quota makes the session degraded.
func (b *Backend) GetSession(ctx context.Context, id string) (*workshop.Session, error) {
	if s, ok := b.snapshotSession(ctx, id); ok {
		return s, nil
	}
	if s, ok, err := b.getVClusterSession(ctx, id); ok {
		return s, err
	}
	return b.getSession(ctx, id)
}

func (b *Backend) getSession(ctx context.Context, id string) (*workshop.Session, error) {
	name := workshop.SessionObjectName(id)
	ns, err := b.cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && ns.Labels[workshop.LabelSession] != id) {
		return nil, fmt.Errorf("session %s: no namespace %s: %w", id, name, workshop.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("session %s: read namespace %s: %w", id, name, err)
	}
	if ns.DeletionTimestamp != nil {
		return nil, fmt.Errorf("session %s: namespace %s is terminating: %w", id, name, workshop.ErrNotFound)
	}
	q, err := b.cs.CoreV1().ResourceQuotas(name).Get(ctx, quotaName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		q = nil
	case err != nil:
		return nil, fmt.Errorf("session %s: read quota: %w", id, err)
	}
	sec, err := b.cs.CoreV1().Secrets(name).Get(ctx, kubeconfigSecret, metav1.GetOptions{})
	// A reader without rights on secrets (the gateway's least-privilege role) gets the
	// session without the participant's kubeconfig.
	secForbidden := apierrors.IsForbidden(err)
	switch {
	case apierrors.IsNotFound(err) || secForbidden:
		sec = nil
	case err != nil:
		return nil, fmt.Errorf("session %s: read kubeconfig secret: %w", id, err)
	}
	pod, err := b.cs.CoreV1().Pods(name).Get(ctx, workspacePodName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		pod = nil
	case err != nil:
		return nil, fmt.Errorf("session %s: read workspace pod: %w", id, err)
	}
	return assembleSession(ns, q, sec, secForbidden, pod, time.Now()), nil
}

// assembleSession builds a namespace session from its objects (nil: missing, which makes
// it degraded; a secret that could not be read for lack of rights is not).
func assembleSession(ns *corev1.Namespace, q *corev1.ResourceQuota, sec *corev1.Secret, secForbidden bool, pod *corev1.Pod, now time.Time) *workshop.Session {
	s := sessionFromNamespace(ns)
	// A stopped session has no workspace pod on purpose.
	stopped := pod == nil && isStopped(ns)
	degraded := q == nil || (pod == nil && !stopped) || (sec == nil && !secForbidden)
	if q != nil {
		s.Resources = resourcesFromQuota(q)
		s.StorageEnforced = s.Resources.Storage != ""
	}
	if sec != nil {
		s.Kubeconfig = string(sec.Data[secretKeyPartic])
	}
	s.Stopped = pod == nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	s.Status = sessionStatus(now, s.ExpiresAt, degraded, pod)
	if stopped && !degraded {
		s.Status = workshop.StatusStopped
		if !s.ExpiresAt.IsZero() && now.After(s.ExpiresAt) && !workshop.ExpiryPaused(s) {
			s.Status = workshop.StatusExpired
		}
	}
	return s
}

func sessionFromNamespace(ns *corev1.Namespace) *workshop.Session {
	s := &workshop.Session{
		ID:             ns.Labels[workshop.LabelSession],
		Infrastructure: workshop.InfraKubernetes,
		TemplateID:     ns.Annotations[annotationTemplateID],
		TemplateName:   ns.Labels[workshop.LabelTemplate],
		Participant:    ns.Annotations[workshop.LabelPrefix+"participant"],
		CreatedAt:      ns.CreationTimestamp.UTC(),
		WorkspaceName:  workspacePodName,
		Namespace:      ns.Name,
		Containers:     []string{workspacePodName},
	}
	if s.Participant == "" {
		s.Participant = ns.Labels[workshop.LabelParticipant]
	}
	if t, err := time.Parse(time.RFC3339, ns.Annotations[workshop.LabelPrefix+"created-at"]); err == nil {
		s.CreatedAt = t.UTC()
	}
	if t, ok := workshop.ParseExpiresAt(ns.Labels); ok {
		s.ExpiresAt = t
	}
	s.Incomplete = ns.Labels[workshop.LabelCreating] != ""
	s.Claimed = ns.Labels[workshop.LabelClaimed] == "true"
	s.Persistence = workshop.PersistenceFromLabels(ns.Labels)
	s.Stopped = isStopped(ns)
	s.StoppedAt, _ = workshop.ParseStoppedAt(ns.Labels)
	s.Pool = ns.Labels[workshop.LabelPool]
	return s
}

func resourcesFromQuota(q *corev1.ResourceQuota) workshop.Resources {
	var r workshop.Resources
	if c, ok := q.Spec.Hard[corev1.ResourceLimitsCPU]; ok {
		r.CPU = workshop.FormatMilliCPU(c.MilliValue())
	}
	if m, ok := q.Spec.Hard[corev1.ResourceLimitsMemory]; ok {
		r.Memory = workshop.FormatBytes(m.Value())
	}
	if st, ok := q.Spec.Hard[corev1.ResourceRequestsStorage]; ok {
		r.Storage = workshop.FormatBytes(st.Value())
	}
	r.GPU, r.GPUResource = gpusFromQuota(q)
	return r
}

func sessionStatus(now, expires time.Time, degraded bool, pod *corev1.Pod) string {
	switch {
	case degraded || pod == nil:
		return workshop.StatusDegraded
	case !expires.IsZero() && now.After(expires):
		return workshop.StatusExpired
	case pod.Status.Phase == corev1.PodFailed:
		return workshop.StatusFailed
	case pod.Status.Phase == corev1.PodSucceeded:
		return workshop.StatusStopped
	case pod.Status.Phase == corev1.PodPending:
		return workshop.StatusPending
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			if c.Status == corev1.ConditionTrue {
				return workshop.StatusRunning
			}
			return workshop.StatusUnhealthy
		}
	}
	return workshop.StatusPending
}

// ListSessions lists the session namespaces by label (no per-session reads: Status is
// derived from expiry only, Resources and Kubeconfig are left empty).
func (b *Backend) ListSessions(ctx context.Context) ([]*workshop.Session, error) {
	list, err := b.cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: sessionSelector()})
	if err != nil {
		return nil, fmt.Errorf("list session namespaces: %w", err)
	}
	now := time.Now()
	out := make([]*workshop.Session, 0, len(list.Items))
	for i := range list.Items {
		ns := &list.Items[i]
		if ns.Labels[workshop.LabelBackend] != string(workshop.InfraKubernetes) {
			continue
		}
		s := sessionFromNamespace(ns)
		switch {
		case ns.DeletionTimestamp != nil:
			s.Status = workshop.StatusStopped
		case !s.ExpiresAt.IsZero() && now.After(s.ExpiresAt) && !workshop.ExpiryPaused(s):
			s.Status = workshop.StatusExpired
		case s.Stopped:
			s.Status = workshop.StatusStopped
		default:
			s.Status = workshop.StatusRunning
		}
		out = append(out, s)
	}
	return out, nil
}

// UpdateSession changes the quota, the limit range and the expiry in place; a new expiry
// also gets a new participant token (and kubeconfig) that expires with the session.
func (b *Backend) UpdateSession(ctx context.Context, id string, spec *workshop.SessionSpec) (*workshop.Session, error) {
	defer b.reads.change(id)()
	if spec == nil || spec.Template == nil {
		return nil, errors.New("update session: no spec or template given")
	}
	if !isVCluster(spec) {
		// The namespace says which isolation the session has, whatever the caller's
		// template says (a template that could not be read is a bare stand-in).
		ns, err := b.cs.CoreV1().Namespaces().Get(ctx, workshop.SessionObjectName(id), metav1.GetOptions{})
		if err == nil && ns.Labels[LabelIsolation] == string(workshop.IsolationVCluster) {
			t := *spec.Template
			t.Infrastructure, t.Isolation = workshop.InfraKubernetes, workshop.IsolationVCluster
			spec.Template = &t
		}
	}
	if isVCluster(spec) {
		return b.updateVClusterSession(ctx, id, spec)
	}
	spec.ID = id
	res, err := checkSpec(spec)
	if err != nil {
		return nil, err
	}
	unlock := b.lockSession(id)
	defer unlock()
	name := workshop.SessionObjectName(id)
	core := b.cs.CoreV1()
	ns, err := core.Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("update session %s: %w", id, workshop.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("update session %s: %w", id, err)
	}
	if !spec.ExpiresAt.IsZero() {
		ns.Labels[workshop.LabelExpiresAt] = strconv.FormatInt(spec.ExpiresAt.Unix(), 10)
		ns.Annotations[workshop.LabelPrefix+"duration"] = spec.Duration.String()
		if _, err := core.Namespaces().Update(ctx, ns, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return nil, fmt.Errorf("update session %s: namespace: %w", id, err)
		}
		// A TokenRequest cannot be extended: request a new token that expires with the
		// session and rewrite both kubeconfigs (the workspace's mounted copy follows
		// within the kubelet's sync period). The old token expires on its own.
		if err := b.refreshKubeconfigs(ctx, name, spec.ExpiresAt); err != nil {
			return nil, fmt.Errorf("update session %s: %w", id, err)
		}
	}
	if err := b.updateQuota(ctx, name, func(q *corev1.ResourceQuota) { q.Spec = quotaSpec(res) }); err != nil {
		return nil, fmt.Errorf("update session %s: %w", id, err)
	}
	lr, err := core.LimitRanges(name).Get(ctx, limitRangeName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("update session %s: read limit range: %w", id, err)
	}
	lr.Spec = limitRangeSpec(res)
	if _, err := core.LimitRanges(name).Update(ctx, lr, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		return nil, fmt.Errorf("update session %s: limit range: %w", id, err)
	}
	return b.getSession(ctx, id)
}

// DeleteSession deletes the session namespace and waits until it is gone. A missing
// session is not an error.
func (b *Backend) DeleteSession(ctx context.Context, id string) error {
	defer b.reads.change(id)()
	unlock := b.lockSession(id)
	defer unlock()
	if err := b.removeSessionObjects(ctx, id); err != nil {
		return fmt.Errorf("delete session %s: %w", id, err)
	}
	return nil
}

// refreshKubeconfigs requests a participant token expiring at expires and rewrites the
// kubeconfig secret with it.
func (b *Backend) refreshKubeconfigs(ctx context.Context, ns string, expires time.Time) error {
	token, err := b.participantToken(ctx, ns, expires)
	if err != nil {
		return err
	}
	inPod, partic, err := b.kubeconfigs(ctx, ns, token)
	if err != nil {
		return err
	}
	secrets := b.cs.CoreV1().Secrets(ns)
	sec, err := secrets.Get(ctx, kubeconfigSecret, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read kubeconfig secret: %w", err)
	}
	sec.Data = map[string][]byte{secretKeyInPod: inPod, secretKeyPartic: partic}
	if _, err := secrets.Update(ctx, sec, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("update kubeconfig secret: %w", err)
	}
	return nil
}

// updateQuota applies mutate to the session quota of ns and writes it, reading it
// again when the quota controller updated its status in between (a conflict).
func (b *Backend) updateQuota(ctx context.Context, ns string, mutate func(*corev1.ResourceQuota)) error {
	quotas := b.cs.CoreV1().ResourceQuotas(ns)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		q, err := quotas.Get(ctx, quotaName, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("read quota: %w", err)
		}
		mutate(q)
		if _, err := quotas.Update(ctx, q, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("quota: %w", err)
		}
		return nil
	})
}
