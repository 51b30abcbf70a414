package workshop

import (
	"strings"
	"testing"
)

func TestCheckSessionSpec(t *testing.T) {
	tmpl := &Template{ID: "t1", Infrastructure: InfraDocker, Resources: Resources{CPU: "500m"}}
	good := &SessionSpec{ID: NewSessionID(), Template: tmpl, Resources: Resources{Memory: "1Gi"}}
	res, err := CheckSessionSpec(good, InfraDocker)
	if err != nil {
		t.Fatalf("a docker spec for a docker backend: %v", err)
	}
	// Session over template over the Docker defaults (storage 10Gi).
	if res.MilliCPU != 500 || res.MemoryBytes != 1<<30 || res.StorageBytes != 10<<30 {
		t.Errorf("effective resources = %+v, want 500m, 1Gi, 10Gi", res)
	}
	for name, c := range map[string]struct {
		spec  *SessionSpec
		infra InfrastructureType
		want  string
	}{
		"nil":           {nil, InfraDocker, "no spec"},
		"bad id":        {&SessionSpec{ID: "NOT AN ID", Template: tmpl}, InfraDocker, "create session"},
		"not applied":   {&SessionSpec{ID: good.ID, Template: &Template{}}, InfraDocker, "not applied"},
		"other backend": {good, InfraSwarm, `"docker" template, not a swarm one`},
		"bad resources": {&SessionSpec{ID: good.ID, Template: tmpl, Resources: Resources{CPU: "lots"}}, InfraDocker, "resources"},
	} {
		if _, err := CheckSessionSpec(c.spec, c.infra); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, c.want)
		}
	}
}
