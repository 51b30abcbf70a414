// Package vclusterenv reads the vCluster test harness's settings (printed by
// `scripts/vcluster-harness.sh --env`) for the tests of every package that starts real
// vClusters. Test support only.
package vclusterenv

import (
	"os"
	"testing"
)

// Harness is where the vCluster chart and its images come from.
type Harness struct {
	Chart string
	// Images built by the local harness; empty: the chart's own images (a registry must
	// be reachable, as with a cluster of your own).
	SyncerImage, ControlPlaneImage, CoreDNSImage string
	// PullPolicy: "Never" for the local images imported into the test cluster, empty (the
	// chart's default) otherwise.
	PullPolicy string
}

// FromEnv skips the test unless NALABO_VCLUSTER_TESTS=1, and fails it when the harness's
// chart path is missing.
func FromEnv(t testing.TB) Harness {
	t.Helper()
	if os.Getenv("NALABO_VCLUSTER_TESTS") != "1" {
		t.Skip("NALABO_VCLUSTER_TESTS=1 is not set (needs a cluster and scripts/vcluster-harness.sh; make test sets it)")
	}
	h := Harness{
		Chart:             os.Getenv("NALABO_VCLUSTER_CHART"),
		SyncerImage:       os.Getenv("NALABO_VCLUSTER_SYNCER_IMAGE"),
		ControlPlaneImage: os.Getenv("NALABO_VCLUSTER_K8S_IMAGE"),
		CoreDNSImage:      os.Getenv("NALABO_VCLUSTER_COREDNS_IMAGE"),
		PullPolicy:        os.Getenv("NALABO_VCLUSTER_PULL_POLICY"),
	}
	if h.Chart == "" {
		t.Fatal(`NALABO_VCLUSTER_CHART is not set: eval "$(scripts/vcluster-harness.sh --env)"`)
	}
	local := h.SyncerImage != "" || h.ControlPlaneImage != "" || h.CoreDNSImage != ""
	if local && (h.SyncerImage == "" || h.ControlPlaneImage == "" || h.CoreDNSImage == "") {
		t.Fatal("NALABO_VCLUSTER_SYNCER_IMAGE, _K8S_IMAGE and _COREDNS_IMAGE: set all three (local harness images) or none (the chart's images)")
	}
	if h.PullPolicy == "" && local {
		h.PullPolicy = "Never"
	}
	return h
}
