package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/vcluster"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Annotations of a vcluster session's namespace recording what its release was
// installed with (workshop.VClusterState), so that a plan can tell an in-place Helm
// upgrade from a change that needs a new session.
const (
	annotationVClusterChart        = workshop.LabelPrefix + "vcluster-chart"
	annotationVClusterValuesSHA256 = workshop.LabelPrefix + "vcluster-values-sha256"
	annotationVClusterPersistence  = workshop.LabelPrefix + "vcluster-persistence"
	annotationVClusterBackingStore = workshop.LabelPrefix + "vcluster-backing-store"
)

// setVClusterAnnotations records st on a session namespace's annotations.
func setVClusterAnnotations(a map[string]string, st workshop.VClusterState) {
	a[annotationVClusterChart] = st.Chart
	a[annotationVClusterValuesSHA256] = st.ValuesSHA256
	a[annotationVClusterPersistence] = st.Persistence
	a[annotationVClusterBackingStore] = st.BackingStore
}

// recordedVCluster is what a session's release was installed with: the namespace's
// annotations a; for a session created before they existed, persistence and backing
// store from relValues, the values Helm stored with the release (chart and values hash
// stay empty: unknown).
func recordedVCluster(a map[string]string, release string, relValues map[string]any) *workshop.VClusterState {
	st := &workshop.VClusterState{
		Release:      release,
		Chart:        a[annotationVClusterChart],
		ValuesSHA256: a[annotationVClusterValuesSHA256],
		Persistence:  a[annotationVClusterPersistence],
		BackingStore: a[annotationVClusterBackingStore],
	}
	if _, ok := a[annotationVClusterBackingStore]; !ok && relValues != nil {
		st.BackingStore = vcluster.BackingStoreOf(relValues)
		st.Persistence = vcluster.PersistenceOf(relValues, st.BackingStore)
	}
	return st
}

// patchVClusterAnnotations records st on the session namespace.
func (b *Backend) patchVClusterAnnotations(ctx context.Context, ns string, st workshop.VClusterState) error {
	a := map[string]string{}
	setVClusterAnnotations(a, st)
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": a}})
	if _, err := b.cs.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("record the vcluster fingerprint on namespace %s: %w", ns, err)
	}
	return nil
}
