package reconciler

import (
	"testing"

	"github.com/nalabo/terraform-provider-nalabo/internal/backend/docker"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/kubernetes"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/swarm"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// TestSwarmReconcilerNeedsNoLogins: the reconciler's Swarm backend is built without
// registry logins (NALABO_SWARM_HOST and NALABO_SWARM_NODE_HOSTS only), which holds as
// long as the reconciler never makes it pull: it fills no warm pool, stops no session
// (expired persistent ones, over quota ones) and so never creates or updates a service.
// Should the Swarm backend gain one of these, this fails: give the reconciler logins for
// it then. Controls: the Kubernetes backend keeps warm pools, the Docker one stops
// sessions.
func TestSwarmReconcilerNeedsNoLogins(t *testing.T) {
	pulls := func(b workshop.Backend) []string {
		var out []string
		if _, ok := b.(workshop.WarmPooler); ok {
			out = append(out, "WarmPooler")
		}
		if _, ok := b.(workshop.SessionPauser); ok {
			out = append(out, "SessionPauser")
		}
		if _, ok := b.(workshop.StorageMeter); ok {
			out = append(out, "StorageMeter")
		}
		return out
	}
	if got := pulls((*swarm.Backend)(nil)); len(got) != 0 {
		t.Errorf("the Swarm backend implements %v: the reconciler would start or restart its services without registry logins", got)
	}
	if got := pulls((*kubernetes.Backend)(nil)); len(got) == 0 {
		t.Error("control: the Kubernetes backend implements none of the interfaces looked at")
	}
	if got := pulls((*docker.Backend)(nil)); len(got) == 0 {
		t.Error("control: the Docker backend implements none of the interfaces looked at")
	}
}
