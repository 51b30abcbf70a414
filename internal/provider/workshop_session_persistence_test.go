package provider

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

func TestSamePersistence(t *testing.T) {
	p := func(size string, days int) *workshop.Persistence {
		return &workshop.Persistence{Size: size, RetainDays: days}
	}
	for _, c := range []struct {
		a, b *workshop.Persistence
		want bool
	}{
		{nil, nil, true},
		{p("1Gi", 7), nil, false},
		{nil, p("1Gi", 7), false},
		{p("1Gi", 7), p("1024Mi", 7), true},
		{p("1Gi", 7), p("1Gi", 3), false},
		{p("1Gi", 7), p("2Gi", 7), false},
		{p("1Gi", 7), &workshop.Persistence{Size: "1Gi", RetainDays: 7, PauseExpiry: true}, false},
	} {
		if got := samePersistence(c.a, c.b); got != c.want {
			t.Errorf("%+v %+v: %v", c.a, c.b, got)
		}
	}
}

// TestRefreshState: a live persistent session decides state when it is stopped or
// running; any other status keeps the state's value; a session without persistence is
// always running.
func TestRefreshState(t *testing.T) {
	pers := &workshop.Persistence{Size: "1Gi", RetainDays: 7}
	for _, c := range []struct {
		prior  types.String
		live   *workshop.Session
		expect string
	}{
		{types.StringValue("running"), &workshop.Session{Persistence: pers, Status: workshop.StatusStopped, Stopped: true}, "stopped"},
		{types.StringValue("stopped"), &workshop.Session{Persistence: pers, Status: workshop.StatusRunning}, "running"},
		{types.StringValue("running"), &workshop.Session{Persistence: pers, Status: workshop.StatusExpired, Stopped: true}, "running"},
		{types.StringValue("stopped"), &workshop.Session{Persistence: pers, Status: workshop.StatusOverQuota}, "stopped"},
		{types.StringNull(), &workshop.Session{Persistence: pers, Status: workshop.StatusExpired}, "running"},
		{types.StringValue("stopped"), &workshop.Session{Status: workshop.StatusStopped, Stopped: true}, "running"},
	} {
		m := workshopSessionModel{State: c.prior}
		refreshState(&m, c.live)
		if m.State.ValueString() != c.expect {
			t.Errorf("prior %s, live %+v: %s, want %s", c.prior, c.live, m.State, c.expect)
		}
	}
}

// TestPlanPersistence: state = "stopped" needs persistence (error on state), Swarm
// refuses persistence (error on persistence), a change of state marks status unknown.
func TestPlanPersistence(t *testing.T) {
	persistence := persistenceValue(&workshop.Persistence{Size: "1Gi", RetainDays: 7}, &diag.Diagnostics{})
	model := func(templateID, state string, p types.Object) workshopSessionModel {
		return workshopSessionModel{TemplateID: types.StringValue(templateID), State: types.StringValue(state), Persistence: p,
			Duration: types.StringValue("4h"), Status: types.StringValue("running")}
	}
	var d diag.Diagnostics
	m := model("docker.demo.0123456789ab", "stopped", types.ObjectNull(persistenceAttrTypes))
	planPersistence(&m, nil, &d)
	if !d.HasError() || errorPath(d) != "state" {
		t.Errorf("stopped without persistence: %v", d)
	}
	d = nil
	m = model("swarm.demo.0123456789ab", "running", persistence)
	planPersistence(&m, nil, &d)
	if !d.HasError() || errorPath(d) != "persistence" {
		t.Errorf("persistence on swarm: %v", d)
	}
	d = nil
	prior := model("docker.demo.0123456789ab", "running", persistence)
	m = model("docker.demo.0123456789ab", "stopped", persistence)
	planPersistence(&m, &prior, &d)
	if d.HasError() || !m.Status.IsUnknown() || !m.Ports.IsUnknown() {
		t.Errorf("stop: %v, status %s", d, m.Status)
	}
	m = model("docker.demo.0123456789ab", "running", persistence)
	planPersistence(&m, &prior, &d)
	if d.HasError() || m.Status.IsUnknown() {
		t.Errorf("no change: %v, status %s", d, m.Status)
	}
}

// errorPath is the attribute path of the first error ("" without one).
func errorPath(d diag.Diagnostics) string {
	for _, e := range d.Errors() {
		if p, ok := e.(diag.DiagnosticWithPath); ok {
			return p.Path().String()
		}
	}
	return ""
}

// TestPausedExpiryPlan: a session whose expiry pauses keeps the time its pauses moved
// its expiry (expires_at beyond created_at + duration) in every later expiry, and a
// resume of it is planned with an unknown expiry; a session without pause_expiry
// (the control) keeps neither.
func TestPausedExpiryPlan(t *testing.T) {
	ctx := context.Background()
	model := func(pause bool, state, expires string) workshopSessionModel {
		var d diag.Diagnostics
		m := workshopSessionModel{
			CreatedAt: types.StringValue("2026-12-01T10:00:00Z"), Duration: types.StringValue("2h"),
			ExpiresAt: types.StringValue(expires), State: types.StringValue(state),
			Persistence: persistenceValue(&workshop.Persistence{Size: "1Gi", RetainDays: 7, PauseExpiry: pause}, &d),
		}
		if d.HasError() {
			t.Fatal(d)
		}
		return m
	}
	if got := pausedTime(ctx, model(true, "running", "2026-12-01T12:30:00Z")); got != 30*time.Minute {
		t.Errorf("paused 30m: %s", got)
	}
	if got := pausedTime(ctx, model(false, "running", "2026-12-01T12:30:00Z")); got != 0 {
		t.Errorf("without pause_expiry: %s, want 0", got)
	}
	if got := pausedTime(ctx, model(true, "running", "2026-12-01T11:00:00Z")); got != 0 {
		t.Errorf("expiry before created + duration: %s, want 0", got)
	}
	stopped, running := model(true, "stopped", "2026-12-01T12:00:00Z"), model(true, "running", "2026-12-01T12:00:00Z")
	if !resumesPaused(ctx, running, stopped) {
		t.Error("a resume of a paused session is not seen")
	}
	if resumesPaused(ctx, stopped, running) || resumesPaused(ctx, running, running) {
		t.Error("a stop or no change seen as a resume")
	}
	if resumesPaused(ctx, model(false, "running", "2026-12-01T12:00:00Z"), model(false, "stopped", "2026-12-01T12:00:00Z")) {
		t.Error("a resume without pause_expiry seen as moving the expiry")
	}
}
