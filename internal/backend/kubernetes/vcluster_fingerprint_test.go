package kubernetes

import (
	"strings"
	"testing"

	"github.com/nalabo/terraform-provider-nalabo/internal/vcluster"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

func TestRecordedVClusterAndCheckInPlace(t *testing.T) {
	want := workshop.VClusterState{Release: "vcluster-a", Chart: "c", ValuesSHA256: "h", Persistence: "", BackingStore: vcluster.BackingStoreSQLite}
	a := map[string]string{}
	setVClusterAnnotations(a, want)
	if got := recordedVCluster(a, "vcluster-a", nil); *got != want {
		t.Errorf("recorded %+v, want %+v", got, want)
	}
	// A session older than the annotations: the release's values tell the data store.
	old := recordedVCluster(map[string]string{}, "vcluster-a", map[string]any{"controlPlane": map[string]any{
		"statefulSet": map[string]any{"persistence": map[string]any{"volumeClaim": map[string]any{"enabled": true, "size": "1Gi"}}},
	}})
	if old.Chart != "" || old.ValuesSHA256 != "" || old.Persistence != "1Gi" || old.BackingStore != vcluster.BackingStoreSQLite {
		t.Errorf("old session: %+v", old)
	}
	if err := vcluster.CheckInPlace(old, want); err == nil || !strings.Contains(err.Error(), `persistence changes from "1Gi" to ""`) {
		t.Errorf("persistence change: %v", err)
	}
	other := want
	other.BackingStore = vcluster.BackingStoreEtcdEmbedded
	if err := vcluster.CheckInPlace(&want, other); err == nil || !strings.Contains(err.Error(), "backing store") {
		t.Errorf("backing store change: %v", err)
	}
	other = want
	other.ValuesSHA256, other.Chart = "h2", "c2"
	if err := vcluster.CheckInPlace(&want, other); err != nil {
		t.Errorf("values change must be in place: %v", err)
	}
}
