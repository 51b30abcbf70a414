package provider

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Warm pool acceptance tests (namespace isolation: fast). They run in the cluster phase:
//
//	NALABO_K8S_KUBECONFIG=/var/cache/nalabo/k8s/kubeconfig TF_ACC=1 go test ./internal/provider/ -run TestAccWarmPoolKubernetes

// poolIDs lists the session IDs of a template's pool entries in state ("" every state).
func poolIDs(t *testing.T, templateID, state string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sel := workshop.LabelPoolKey + "=" + workshop.PoolKey(templateID)
	if state != "" {
		sel += "," + workshop.LabelPool + "=" + state
	}
	list, err := k8sAdmin(t).CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, ns := range list.Items {
		if ns.DeletionTimestamp == nil {
			ids = append(ids, ns.Labels[workshop.LabelSession])
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// checkPoolFree asserts n free (ready) entries of the template at addr and records their IDs.
func checkPoolFree(t *testing.T, addr string, n int, ids *[]string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		id, err := stateAttr(s, addr, "id")
		if err != nil {
			return err
		}
		free, err := poolIDs(t, id, workshop.PoolFree)
		if err != nil {
			return err
		}
		if len(free) != n {
			return fmt.Errorf("template %s: %d free pool entries %v, want %d", id, len(free), free, n)
		}
		if ids != nil {
			*ids = free
		}
		return nil
	}
}

// checkClaimed asserts that the session at addr is one of the pool entries recorded
// before, labelled claimed and for its participant; with since, its participant service
// account (namespace mode: the one its kubeconfig's token is for) was made after since.
func checkClaimed(t *testing.T, addr, participant string, pool *[]string, since *time.Time) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		id, err := stateAttr(s, addr, "id")
		if err != nil {
			return err
		}
		if !slices.Contains(*pool, id) {
			return fmt.Errorf("%s has ID %s, not one of the pool's entries %v (created cold?)", addr, id, *pool)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cs := k8sAdmin(t)
		name := workshop.SessionObjectName(id)
		ns, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for k, want := range map[string]string{workshop.LabelPool: workshop.PoolClaimed, workshop.LabelParticipant: participant, workshop.LabelCreating: ""} {
			if got := ns.Labels[k]; got != want {
				return fmt.Errorf("namespace %s: label %s = %q, want %q", name, k, got, want)
			}
		}
		// Fresh credentials: the service account whose token the kubeconfig holds was
		// made by the claim (a free entry has none).
		sa, err := cs.CoreV1().ServiceAccounts(name).Get(ctx, "participant", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if since != nil && sa.CreationTimestamp.Before(&metav1.Time{Time: since.Truncate(time.Second)}) {
			return fmt.Errorf("service account participant of %s was created at %s, before the claim (%s)", name, sa.CreationTimestamp, since)
		}
		if sa.Labels[workshop.LabelParticipant] != participant {
			return fmt.Errorf("service account participant of %s: labels %v", name, sa.Labels)
		}
		q, err := cs.CoreV1().ResourceQuotas(name).Get(ctx, "nalabo-quota", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if q.Labels[workshop.LabelPool] != "" || q.Labels[workshop.LabelParticipant] != participant {
			return fmt.Errorf("quota of %s not relabelled: %v", name, q.Labels)
		}
		return nil
	}
}

// checkNoPool asserts that nothing of the template's pool is left.
func checkNoPool(t *testing.T, templateID *string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		ids, err := poolIDs(t, *templateID, "")
		if err != nil {
			return err
		}
		if len(ids) > 0 {
			return fmt.Errorf("pool entries of %s left after destroy: %v", *templateID, ids)
		}
		return nil
	}
}

// checkInfrastructurePool asserts nalabo_infrastructure's free entries of the template.
func checkInfrastructurePool(tmplAddr string, want string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		id, err := stateAttr(s, tmplAddr, "id")
		if err != nil {
			return err
		}
		return resource.TestCheckResourceAttr("data.nalabo_infrastructure.i", "backends.kubernetes.pool_free_by_template."+id, want)(s)
	}
}

func TestAccWarmPoolKubernetes(t *testing.T) {
	kc := k8sKubeconfig(t)
	testAccSetup(t)
	name := acctest.RandName("k8s-pool")
	a, b := name+"-ada", name+"-bob"
	tmpl := k8sTemplateConfig("t", name, nginxDemoManifests, "  warm_pool = 2\n")
	infra := `
data "nalabo_infrastructure" "i" {
  depends_on = [nalabo_workshop_template.t]
}
`
	sessions := fmt.Sprintf(`
resource "nalabo_workshop_session" "a" {
  template_id = nalabo_workshop_template.t.id
  participant = %[1]q
}

resource "nalabo_workshop_session" "b" {
  template_id = nalabo_workshop_template.t.id
  participant = %[2]q
}
`, a, b)
	var pool, refilled []string
	var templateID, idA, idB string
	var claimStart time.Time
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             resource.ComposeAggregateTestCheckFunc(k8sCheckDestroy(t, a, b), checkNoPool(t, &templateID)),
		Steps: []resource.TestStep{
			// The template's create fills the pool (no reconciler leads here).
			{
				Config: k8sProviderConfig(kc) + tmpl + infra,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("nalabo_workshop_template.t", "warm_pool", "2"),
					captureAttr("nalabo_workshop_template.t", "id", &templateID),
					checkPoolFree(t, "nalabo_workshop_template.t", 2, &pool),
					checkInfrastructurePool("nalabo_workshop_template.t", "2"),
				),
			},
			// A class of two claims both entries: their IDs, fresh credentials, isolation.
			// The emptied pool is drift: the plan after the apply shows warm_pool 0 -> 2.
			{
				PreConfig: func() { claimStart = time.Now() },
				Config:    k8sProviderConfig(kc) + tmpl + infra + sessions,
				Check: resource.ComposeAggregateTestCheckFunc(
					func(*terraform.State) error {
						t.Logf("class of 2 claimed from the pool: plan+apply+refresh took %s", time.Since(claimStart).Round(100*time.Millisecond))
						return nil
					},
					resource.TestCheckResourceAttr("nalabo_workshop_session.a", "status", "running"),
					resource.TestCheckResourceAttr("nalabo_workshop_session.b", "status", "running"),
					checkClaimed(t, "nalabo_workshop_session.a", a, &pool, &claimStart),
					checkClaimed(t, "nalabo_workshop_session.b", b, &pool, &claimStart),
					checkDistinct("nalabo_workshop_session.a", "nalabo_workshop_session.b"),
					checkParticipantIsolation("nalabo_workshop_session.a", "nalabo_workshop_session.b", true),
					checkParticipantIsolation("nalabo_workshop_session.b", "nalabo_workshop_session.a", true),
					checkQuota(t, "nalabo_workshop_session.a", "1", "512Mi"),
					checkPoolFree(t, "nalabo_workshop_template.t", 0, nil),
					captureAttr("nalabo_workshop_session.a", "id", &idA),
					captureAttr("nalabo_workshop_session.b", "id", &idB),
				),
				ExpectNonEmptyPlan: true,
			},
			// The next apply refills the pool; the sessions stay.
			{
				Config: k8sProviderConfig(kc) + tmpl + infra + sessions,
				Check: resource.ComposeAggregateTestCheckFunc(
					checkAttrEquals("nalabo_workshop_session.a", "id", &idA),
					checkAttrEquals("nalabo_workshop_session.b", "id", &idB),
					resource.TestCheckResourceAttr("nalabo_workshop_template.t", "warm_pool", "2"),
					checkPoolFree(t, "nalabo_workshop_template.t", 2, &refilled),
					func(*terraform.State) error {
						for _, id := range refilled {
							if slices.Contains(pool, id) {
								return fmt.Errorf("refilled entry %s was an entry handed out before", id)
							}
						}
						return nil
					},
					checkParticipantIsolation("nalabo_workshop_session.a", "nalabo_workshop_session.b", true),
				),
			},
			// Shrinking removes a free entry.
			{
				Config: k8sProviderConfig(kc) + strings.Replace(tmpl, "warm_pool = 2", "warm_pool = 1", 1) + infra + sessions,
				Check: resource.ComposeAggregateTestCheckFunc(
					checkPoolFree(t, "nalabo_workshop_template.t", 1, nil),
					checkAttrEquals("nalabo_workshop_session.a", "id", &idA),
				),
			},
		},
	})
}

// checkDistinct asserts that two sessions have different IDs.
func checkDistinct(a, b string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		ia, err := stateAttr(s, a, "id")
		if err != nil {
			return err
		}
		ib, err := stateAttr(s, b, "id")
		if err != nil {
			return err
		}
		if ia == ib {
			return fmt.Errorf("%s and %s share the ID %s", a, b, ia)
		}
		return nil
	}
}

// TestAccWarmPoolKubernetes_concurrentClaims: three `terraform apply`s in three working
// directories (run in parallel) each create one session of a template whose pool holds
// two entries: the two entries go to two of them, never one to both, and the third
// session starts cold.
func TestAccWarmPoolKubernetes_concurrentClaims(t *testing.T) {
	kc := k8sKubeconfig(t)
	testAccSetup(t)
	name := acctest.RandName("k8s-poolrace")
	var templateID string
	var pool []string
	participants := []string{name + "-p0", name + "-p1", name + "-p2"}
	got := map[string]string{}   // participant -> session ID
	label := map[string]string{} // participant -> its namespace's nalabo.io/pool
	var mu sync.Mutex
	runClass := func(*terraform.State) error {
		t.Run("class", func(t *testing.T) {
			for _, p := range participants {
				t.Run(p, func(t *testing.T) {
					t.Parallel()
					resource.Test(t, resource.TestCase{
						ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
						Steps: []resource.TestStep{{
							Config: k8sProviderConfig(kc) + fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = %q
  participant = %q
}
`, templateID, p),
							Check: func(s *terraform.State) error {
								id, err := stateAttr(s, "nalabo_workshop_session.s", "id")
								if err != nil {
									return err
								}
								ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
								defer cancel()
								ns, err := k8sAdmin(t).CoreV1().Namespaces().Get(ctx, workshop.SessionObjectName(id), metav1.GetOptions{})
								if err != nil {
									return err
								}
								mu.Lock()
								got[p], label[p] = id, ns.Labels[workshop.LabelPool]
								mu.Unlock()
								return nil
							},
						}},
					})
				})
			}
		})
		fromPool, ids, labels := 0, map[string]bool{}, map[string]int{}
		for _, l := range label {
			labels[l]++
		}
		if labels[workshop.PoolClaimed] != 2 || labels[workshop.PoolCold] != 1 {
			return fmt.Errorf("pool labels of the sessions %v: want 2 claimed, 1 cold", label)
		}
		for p, id := range got {
			if ids[id] {
				return fmt.Errorf("session ID %s handed out twice: %v", id, got)
			}
			ids[id] = true
			if slices.Contains(pool, id) {
				fromPool++
			} else {
				t.Logf("%s started cold as %s", p, id)
			}
		}
		if len(got) != 3 || fromPool != 2 {
			return fmt.Errorf("sessions %v: %d from the pool %v, want 3 sessions, 2 from the pool", got, fromPool, pool)
		}
		return nil
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             resource.ComposeAggregateTestCheckFunc(k8sCheckDestroy(t, participants...), checkNoPool(t, &templateID)),
		Steps: []resource.TestStep{{
			Config: k8sProviderConfig(kc) + k8sTemplateConfig("t", name, "", "  warm_pool = 2\n"),
			Check: resource.ComposeAggregateTestCheckFunc(
				captureAttr("nalabo_workshop_template.t", "id", &templateID),
				checkPoolFree(t, "nalabo_workshop_template.t", 2, &pool),
				runClass,
			),
			// The class emptied the pool: the plan after the apply refills it.
			ExpectNonEmptyPlan: true,
		}},
	})
}

// TestAccWarmPoolKubernetes_dockerRefused: warm_pool on a docker template is a plan-time
// error naming the attribute; the positive control (a kubernetes template with a pool)
// plans in TestAccWarmPoolKubernetes.
func TestAccWarmPoolKubernetes_dockerRefused(t *testing.T) {
	testAccSetup(t)
	acctest.PreCheck(t)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: `
resource "nalabo_workshop_template" "t" {
  name                = "pool-docker"
  infrastructure_type = "docker"
  workspace { image = "nalabo-test/shell:1" }
  warm_pool           = 3
}
`,
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`(?s)Attribute applies to kubernetes templates only.*warm_pool`),
		}},
	})
}
