package kubernetes

import (
	"context"
	"fmt"
	"net"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/nalabo/terraform-provider-nalabo/internal/vcluster"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// virtualParticipant is the service account (kube-system, cluster-admin of the virtual
// cluster) whose token a claimed vcluster pool entry's participant and workspace get.
const virtualParticipant = "nalabo-participant"

// createVClusterPoolEntry starts a vcluster pool entry: the namespace, the release and a
// virtual API that answers; no workspace, no credential handed out, no template object.
func (b *Backend) createVClusterPoolEntry(ctx context.Context, spec *workshop.SessionSpec) error {
	s, err := b.cfg.VCluster.Settings()
	if err != nil {
		return fmt.Errorf("pool entry of %s: %w", spec.Template.ID, err)
	}
	res, err := checkVClusterSpec(spec)
	if err != nil {
		return err
	}
	rel, err := b.newVClusterRelease(s, spec)
	if err != nil {
		return fmt.Errorf("pool entry of %s: %w", spec.Template.ID, err)
	}
	_, err = createdOrCleaned(ctx, spec.ID, nil, b.startVClusterEntry(ctx, s, spec, res, rel), b.removeSessionObjects)
	return err
}

func (b *Backend) startVClusterEntry(ctx context.Context, s vcluster.Settings, spec *workshop.SessionSpec, res workshop.ParsedResources, rel vclusterRelease) error {
	cp, err := b.createVClusterBase(ctx, s, spec, res, rel, time.Now())
	if err != nil {
		return err
	}
	err = b.withVirtualAPI(ctx, s, cp.ns, cp.release, cp.kubeconfig, cp.clusterIP, func(vb *Backend) error { return vb.waitVirtualAPI(ctx) })
	if err != nil {
		return fmt.Errorf("vcluster %s: the virtual API does not answer: %w", cp.release, err)
	}
	_, cancel, _, err := b.markComplete(ctx, cp.ns)
	if err != nil {
		return err
	}
	cancel()
	return nil
}

// finishVClusterClaim makes a claimed vcluster entry spec's session: quota and limit
// range resized, host objects relabelled, a token of a new cluster-admin service account
// of the virtual cluster (expiring with the session) in both kubeconfigs, the workspace
// pod and the template's objects in the virtual cluster. On failure the entry is removed.
func (b *Backend) finishVClusterClaim(ctx context.Context, spec *workshop.SessionSpec) (*workshop.Session, error) {
	s, err := b.cfg.VCluster.Settings()
	if err != nil {
		return createdOrCleaned(ctx, spec.ID, nil, err, b.removeSessionObjects)
	}
	res, err := checkVClusterSpec(spec)
	if err != nil {
		return createdOrCleaned(ctx, spec.ID, nil, err, b.removeSessionObjects)
	}
	objs, err := decodeManifests(spec.Template.Manifests)
	if err != nil {
		return createdOrCleaned(ctx, spec.ID, nil, err, b.removeSessionObjects)
	}
	sess, err := b.claimVClusterEntry(ctx, s, spec, res, objs)
	return createdOrCleaned(ctx, spec.ID, sess, err, b.removeSessionObjects)
}

func (b *Backend) claimVClusterEntry(ctx context.Context, s vcluster.Settings, spec *workshop.SessionSpec, res workshop.ParsedResources,
	objs []*unstructured.Unstructured) (*workshop.Session, error) {
	start := time.Now()
	ns := workshop.SessionObjectName(spec.ID)
	release := workshop.VClusterReleaseName(spec.ID)
	if _, err := b.resizeAndRelabel(ctx, ns, spec.Labels(), quotaSpec(vclusterQuota(s, res)), res); err != nil {
		return nil, err
	}
	svc, err := b.cs.CoreV1().Services(ns).Get(ctx, release, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("vcluster service %s: %w", release, err)
	}
	sec, err := b.cs.CoreV1().Secrets(ns).Get(ctx, vclusterSecretPrefix+release, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read secret %s%s: %w", vclusterSecretPrefix, release, err)
	}
	cp := &vclusterPlane{ns: ns, release: release, clusterIP: svc.Spec.ClusterIP, kubeconfig: sec.Data["config"]}
	cp.inCluster = "https://" + net.JoinHostPort(cp.clusterIP, "443")
	inPod, partic, err := b.claimedKubeconfigs(ctx, s, spec, cp)
	if err != nil {
		return nil, err
	}
	trace(spec.ID, start, "claimed")
	return b.finishVCluster(ctx, s, spec, res, objs, cp, start, inPod, partic)
}

// claimedKubeconfigs mints a token of the virtual cluster's participant service account
// that expires with spec and returns both kubeconfigs with it: at the claim, after the
// control plane was replaced (its data may be gone) and when the expiry changes.
func (b *Backend) claimedKubeconfigs(ctx context.Context, s vcluster.Settings, spec *workshop.SessionSpec, cp *vclusterPlane) (inPod, partic []byte, err error) {
	var token string
	err = b.withVirtualAPI(ctx, s, cp.ns, cp.release, cp.kubeconfig, cp.clusterIP, func(vb *Backend) error {
		if err := vb.waitVirtualAPI(ctx); err != nil {
			return err
		}
		var err error
		token, err = vb.mintVirtualToken(ctx, spec.ExpiresAt)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("vcluster %s: participant credentials: %w", cp.release, err)
	}
	return vclusterKubeconfigs(cp.kubeconfig, cp.release, cp.inCluster, participantServer(s, spec.ID, cp.ns, cp.release, cp.inCluster), token)
}

// releaseSpec is the spec a session's release is installed and upgraded with: a
// claimed entry keeps the labels it was installed with as a free entry (the chart hashes
// its values into the control plane's pod template: other labels would restart it).
func releaseSpec(spec *workshop.SessionSpec, ns *corev1.Namespace) *workshop.SessionSpec {
	if ns.Labels[workshop.LabelPool] != workshop.PoolClaimed {
		return spec
	}
	entry := *spec
	entry.Participant, entry.Pool = "", workshop.PoolFree
	return &entry
}

// mintVirtualToken creates (vb: the virtual cluster) the participant's service account
// bound to cluster-admin and returns a token for it that expires with the session.
func (b *Backend) mintVirtualToken(ctx context.Context, expires time.Time) (string, error) {
	create := metav1.CreateOptions{FieldManager: fieldManager}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: virtualParticipant, Namespace: metav1.NamespaceSystem},
		AutomountServiceAccountToken: ptr.To(false)}
	if _, err := b.cs.CoreV1().ServiceAccounts(metav1.NamespaceSystem).Create(ctx, sa, create); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create service account: %w", err)
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: virtualParticipant},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: virtualParticipant, Namespace: metav1.NamespaceSystem}},
	}
	if _, err := b.cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, create); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create cluster role binding: %w", err)
	}
	secs := max(int64(time.Until(expires).Seconds()), minTokenSeconds)
	tr, err := b.cs.CoreV1().ServiceAccounts(metav1.NamespaceSystem).CreateToken(ctx, virtualParticipant,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &secs}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("request token: %w", err)
	}
	return tr.Status.Token, nil
}
