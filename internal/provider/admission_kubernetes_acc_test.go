package provider

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
)

// k8sAdmissionConfig is a plan of a class of two 2-CPU namespace sessions under a
// kubernetes overcommit, with nalabo_infrastructure.
func k8sAdmissionConfig(kubeconfig, name string, cpuRatio int, class bool) string {
	cfg := fmt.Sprintf(`
provider "nalabo" {
  kubernetes {
    config_path = %q
    namespace   = "nalabo-acc"
    overcommit  = { cpu = %d, memory = 1000 }
  }
}

data "nalabo_infrastructure" "this" {}
`, kubeconfig, cpuRatio)
	if !class {
		return cfg
	}
	return cfg + fmt.Sprintf(`
resource "nalabo_workshop_template" "t" {
  name                = %q
  infrastructure_type = "kubernetes"
  isolation           = "namespace"
  workspace {
    image   = "nalabo-test/k8s-workspace:1"
    command = ["sleep", "infinity"]
  }
  resources = { cpu = "2", memory = "64Mi", storage = "1Gi" }
}

resource "nalabo_workshop_session" "s" {
  count       = 2
  template_id = nalabo_workshop_template.t.id
  participant = format("%s-%%d", count.index)
}
`, name, name)
}

// The cluster's capacity is its schedulable nodes' allocatable (read here with the
// admin client, independently of the backend), and a class beyond it × overcommit is
// refused at plan with that figure.
func TestAccKubernetesAdmission(t *testing.T) {
	kubeconfig := k8sKubeconfig(t)
	acctest.RequireTerraform(t)
	clearAdmissionEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nodes, err := k8sAdmin(t).CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var milliCPU int64
	for _, n := range nodes.Items {
		tainted := false
		for _, tn := range n.Spec.Taints {
			tainted = tainted || tn.Effect == corev1.TaintEffectNoSchedule || tn.Effect == corev1.TaintEffectNoExecute
		}
		if !n.Spec.Unschedulable && !tainted {
			milliCPU += n.Status.Allocatable.Cpu().MilliValue()
		}
	}
	if milliCPU == 0 || milliCPU >= 4000 {
		t.Skipf("the test cluster's schedulable CPU is %dm: the class of 2 × 2 CPU is meant to exceed it", milliCPU)
	}
	name := acctest.RandName("kadm")
	ds := "data.nalabo_infrastructure.this"
	cores := strconv.FormatFloat(float64(milliCPU)/1000, 'f', -1, 64)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: k8sAdmissionConfig(kubeconfig, name, 100, false),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(ds, "backends.kubernetes.allocatable_cpu_millicores", strconv.FormatInt(milliCPU, 10)),
					resource.TestCheckResourceAttr(ds, "backends.kubernetes.overcommit_cpu", "100"),
					resource.TestCheckResourceAttr(ds, "backends.kubernetes.admissible_cpu_millicores", strconv.FormatInt(milliCPU*100, 10)),
					resource.TestCheckResourceAttr(ds, "backends.kubernetes.details.capacity_source", "nodes' allocatable"),
					resource.TestCheckResourceAttr(ds, "backends.docker.overcommit_cpu", "4"),
					resource.TestCheckNoResourceAttr(ds, "max_sessions"),
				),
			},
			{
				Config:      k8sAdmissionConfig(kubeconfig, name, 1, true),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(fmt.Sprintf(`(?s)The class does not fit the Kubernetes cluster.*new\s+sessions\s+×\s+2\s+CPU\s+planned\s+so\s+far.*the\s+Kubernetes\s+cluster\s+\(nodes'\s+allocatable\)\s+has\s+%s\s+CPU\s+×\s+overcommit\s+1\s+=\s+%s\s+CPU`, regexp.QuoteMeta(cores), regexp.QuoteMeta(cores))),
			},
			{
				// Positive control: room for it.
				Config:             k8sAdmissionConfig(kubeconfig, name, 100, true),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
		},
	})
}
