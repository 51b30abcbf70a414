package workshop

import (
	"strings"
	"testing"
)

func TestGPUResourcesParseAndInherit(t *testing.T) {
	tmpl := Resources{GPU: "1", GPUResource: "amd.com/gpu"}
	p, err := Resources{}.Over(tmpl).Parse()
	if err != nil || p.GPUs != 1 || p.GPUResource != "amd.com/gpu" {
		t.Fatalf("inherited: %+v %v", p, err)
	}
	p, err = Resources{GPU: "2"}.Over(Resources{}).Parse()
	if err != nil || p.GPUs != 2 || p.GPUResource != DefaultGPUResource {
		t.Fatalf("default resource name: %+v %v", p, err)
	}
	// "0" in a session turns a template's GPU off.
	p, err = Resources{GPU: "0"}.Over(tmpl).Parse()
	if err != nil || p.GPUs != 0 || p.GPUResource != "" {
		t.Fatalf("gpu 0: %+v %v", p, err)
	}
	for in, want := range map[string]string{
		"1.5": "not a whole number", "-1": "outside 0-64", "65": "outside 0-64", "one": "not a whole number",
	} {
		if _, err := (Resources{GPU: in}).Parse(); err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "gpu: ") {
			t.Errorf("gpu %q: %v, want %q", in, err, want)
		}
	}
	for in, want := range map[string]string{
		"gpu": "not an extended resource name", "nvidia/gpu": "not an extended resource name",
		"kubernetes.io/gpu": "kubernetes.io domain", "nvidia.com/g pu": "not an extended resource name",
	} {
		if _, err := (Resources{GPU: "1", GPUResource: in}).Parse(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("gpu_resource %q: %v, want %q", in, err, want)
		}
	}
}

func TestGPUTemplateScheduling(t *testing.T) {
	k8s := func() *Template {
		return &Template{Name: "t", Infrastructure: InfraKubernetes, Isolation: IsolationNamespace,
			Workspace: Workspace{Image: "i"}, Resources: Resources{GPU: "1"}}
	}
	ok := k8s()
	ok.NodeSelector = map[string]string{"nalabo.io/gpu": "true"}
	ok.Tolerations = []Toleration{{Key: "nvidia.com/gpu", Operator: "Exists", Effect: "NoSchedule"}}
	ok.RuntimeClassName = "nvidia"
	if err := ok.Validate(); err != nil {
		t.Fatalf("positive control: %v", err)
	}
	// vCluster templates take a GPU and its placement as namespace ones do.
	vc := *ok
	vc.Isolation = IsolationVCluster
	if err := vc.Validate(); err != nil {
		t.Fatalf("vcluster template with a GPU: %v", err)
	}
	secs := int64(30)
	for name, c := range map[string]struct {
		mut  func(*Template)
		want string
	}{
		"docker node_selector": {func(t *Template) {
			t.Infrastructure, t.Isolation = InfraDocker, ""
			t.NodeSelector = map[string]string{"a": "b"}
		}, "node_selector: applies to kubernetes templates only"},
		"swarm runtime class": {func(t *Template) { t.Infrastructure, t.Isolation = InfraSwarm, ""; t.RuntimeClassName = "nvidia" }, "runtime_class_name: applies to kubernetes"},
		"swarm gpu":           {func(t *Template) { t.Infrastructure, t.Isolation = InfraSwarm, "" }, "gpu is not supported on swarm"},
		"docker amd": {func(t *Template) {
			t.Infrastructure, t.Isolation = InfraDocker, ""
			t.Resources.GPUResource = "amd.com/gpu"
		}, "NVIDIA GPUs only"},
		"bad operator":      {func(t *Template) { t.Tolerations = []Toleration{{Key: "k", Operator: "Equals"}} }, "toleration[0]: operator must be one of"},
		"exists with value": {func(t *Template) { t.Tolerations = []Toleration{{Key: "k", Operator: "Exists", Value: "v"}} }, "takes no value"},
		"bad effect":        {func(t *Template) { t.Tolerations = []Toleration{{Key: "k", Value: "v", Effect: "NoSchedul"}} }, "effect must be one of"},
		"seconds":           {func(t *Template) { t.Tolerations = []Toleration{{Key: "k", Seconds: &secs}} }, "NoExecute"},
		"selector key":      {func(t *Template) { t.NodeSelector = map[string]string{"a b": "c"} }, "node_selector: key \"a b\""},
		"runtime class":     {func(t *Template) { t.RuntimeClassName = "Nvidia_1" }, "runtime_class_name: \"Nvidia_1\""},
	} {
		tmpl := k8s()
		c.mut(tmpl)
		if err := tmpl.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}
