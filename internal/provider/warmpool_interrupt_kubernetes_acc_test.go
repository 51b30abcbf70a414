package provider

import (
	"context"
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// poolNamespaces lists the live (not terminating) warm pool entries of every copy of
// the template called name, and which of them are ready (free, not being created).
func poolNamespaces(t *testing.T, name string) (all, ready []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sel := workshop.LabelManagedBy + "=" + workshop.ManagedByValue + "," + workshop.LabelTemplate + "=" + name + "," + workshop.LabelPoolKey
	list, err := k8sAdmin(t).CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range list.Items {
		if ns.DeletionTimestamp != nil {
			continue
		}
		all = append(all, ns.Name)
		if ns.Labels[workshop.LabelPool] == workshop.PoolFree && ns.Labels[workshop.LabelCreating] == "" {
			ready = append(ready, ns.Name)
		}
	}
	sort.Strings(all)
	sort.Strings(ready)
	return all, ready
}

// templateNamespaces lists every namespace (terminating ones too) and stored template
// copy (ConfigMap in the control namespace) labelled with the template's name.
func templateNamespaces(t *testing.T, name string) (namespaces, copies []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sel := workshop.LabelManagedBy + "=" + workshop.ManagedByValue + "," + workshop.LabelTemplate + "=" + name
	cs := k8sAdmin(t)
	nss, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range nss.Items {
		namespaces = append(namespaces, ns.Name)
	}
	cms, err := cs.CoreV1().ConfigMaps("nalabo-acc").List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range cms.Items {
		copies = append(copies, cm.Name)
	}
	return namespaces, copies
}

// TestAccWarmPoolKubernetes_killedFill: the unlucky instructor's terraform apply is
// killed (SIGKILL) while the template's warm pool is being filled. The plugin, left
// alone, exits on its own; the next apply converges to the pool size with every entry
// ready (a half-made entry is not counted as the pool: it is removed, and no entry of
// the killed apply's template copy is left beside the pool); destroy leaves no
// namespace and no template copy. Positive control: at the kill, the pool was indeed
// partly filled (some entry existed, not all ready).
func TestAccWarmPoolKubernetes_killedFill(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1")
	}
	kc := k8sKubeconfig(t)
	const size = 3
	name := acctest.RandName("k8s-poolkill")
	bin := buildProvider(t)
	cfg := `
terraform {
  required_providers {
    nalabo = { source = "nalabo/nalabo" }
  }
}
` + k8sProviderConfig(kc) + k8sTemplateConfig("t", name, nginxDemoManifests, fmt.Sprintf("  warm_pool = %d\n", size))
	run := newTFRun(t, bin, cfg)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		// Whatever happened, leave nothing behind.
		_, _ = run.command("destroy", "-auto-approve").CombinedOutput()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		sel := workshop.LabelManagedBy + "=" + workshop.ManagedByValue + "," + workshop.LabelTemplate + "=" + name
		cs := k8sAdmin(t)
		nss, _ := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: sel})
		for _, ns := range nss.Items {
			_ = cs.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
		}
		_ = cs.CoreV1().ConfigMaps("nalabo-acc").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: sel})
	})

	var atKill, readyAtKill []string
	start := time.Now()
	took := run.applyUntil("the pool is partly filled", func() bool {
		all, ready := poolNamespaces(t, name)
		if len(all) > 0 && len(ready) < size {
			atKill, readyAtKill = all, ready
			return true
		}
		return false
	}, nil) // SIGKILL to terraform only: the plugin sees its connection end
	t.Logf("killed terraform with %d pool entries, %d ready (%s after the apply started)", len(atKill), len(readyAtKill), time.Since(start).Round(100*time.Millisecond))
	if len(atKill) == 0 || len(readyAtKill) >= size {
		t.Fatalf("positive control: at the kill the pool must be partly filled; entries %v, ready %v", atKill, readyAtKill)
	}
	all, ready := poolNamespaces(t, name)
	t.Logf("the plugin exited %s after terraform; left: %d pool entries (%d ready): %v", took.Round(100*time.Millisecond), len(all), len(ready), all)
	// The plugin, whose requests ended with terraform, removed what it had half made:
	// what is left of the pool is ready.
	if len(all) != len(ready) {
		t.Errorf("after the plugin exited: pool entries %v, of which ready %v; want no half-made entry", all, ready)
	}
	if ids := run.stateAttrsOrNone("nalabo_workshop_template", "id"); len(ids) != 0 {
		t.Logf("the killed apply saved the template in its state: %v", ids)
	}

	// The next apply converges: exactly warm_pool entries, every one ready, all of the
	// template in the state.
	run.run("apply", "-auto-approve")
	id := run.templateID()
	all, ready = poolNamespaces(t, name)
	free, err := poolIDs(t, id, workshop.PoolFree)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != size || len(ready) != size || len(free) != size {
		t.Errorf("after the re-apply: %d pool entries of the template's name %v, %d ready, %d free of %s; want %d of each (no half-made entry, no other copy's)",
			len(all), all, len(ready), len(free), id, size)
	}
	if out, code := run.try("plan", "-detailed-exitcode"); code != 0 {
		t.Errorf("the plan after the re-apply is not empty (exit %d):\n%s", code, tail(out, 3000))
	}

	// Destroy leaves no namespace (once the terminating ones are gone) and no copy.
	run.run("destroy", "-auto-approve")
	deadline := time.Now().Add(3 * time.Minute)
	for {
		nss, copies := templateNamespaces(t, name)
		if len(nss) == 0 && len(copies) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("3 minutes after destroy: namespaces %v and template copies %v of %s are left", nss, copies, name)
		}
		time.Sleep(time.Second)
	}
}
