package docker

import (
	"fmt"
	"testing"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Two clients (a terraform destroy and a reconciler, say) delete the same sessions at
// the same moment: neither fails, and nothing of the sessions remains.
func TestDeleteSessionRace(t *testing.T) {
	b1 := newTestBackend(t)
	b2 := newTestBackend(t)
	tpl := applyTemplate(t, b1, &workshop.Template{Name: "dtest-race", Workspace: workshop.Workspace{Image: imageShell1}})
	const n = 4
	specs := make([]*workshop.SessionSpec, n)
	for i := range specs {
		specs[i] = newSpec(tpl, fmt.Sprintf("racer-%d", i))
		specs[i].Resources = workshop.Resources{CPU: "100m", Memory: "32Mi", Storage: "1Gi"}
	}
	ctx := testCtx(t, 10*time.Minute)
	for i, err := range runAll(n, func(i int) error { _, err := b1.CreateSession(ctx, specs[i]); return err }) {
		if err != nil {
			t.Fatalf("create session %d: %v", i, err)
		}
	}
	errs := runAll(2*n, func(i int) error {
		b := b1
		if i%2 == 1 {
			b = b2
		}
		return b.DeleteSession(ctx, specs[i/2].ID)
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("delete %d (session %s, client %d): %v", i, specs[i/2].ID, i%2+1, err)
		}
	}
	for _, s := range specs {
		if left := leftovers(t, b1, s.ID); len(left) > 0 {
			t.Errorf("session %s left %v", s.ID, left)
		}
	}
}
