package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

func TestPoolEntryLabels(t *testing.T) {
	spec := unitSpec()
	spec.Participant, spec.Pool = "", workshop.PoolFree
	ns := namespaceObject(spec)
	if _, ok := ns.Labels[workshop.LabelParticipant]; ok {
		t.Errorf("a free entry has a participant label: %v", ns.Labels)
	}
	if _, ok := ns.Labels[workshop.LabelExpiresAt]; ok {
		t.Errorf("a free entry has an expiry: %v", ns.Labels)
	}
	if ns.Labels[workshop.LabelPool] != workshop.PoolFree || ns.Labels[workshop.LabelPoolKey] != workshop.PoolKey(spec.Template.ID) {
		t.Errorf("pool labels: %v", ns.Labels)
	}
	if _, ok := ns.Annotations[workshop.LabelPrefix+"participant"]; ok {
		t.Errorf("a free entry has a participant annotation")
	}
	s := sessionFromNamespace(ns)
	if s.Pool != workshop.PoolFree || s.Participant != "" || !s.ExpiresAt.IsZero() {
		t.Errorf("session of a free entry: %+v", s)
	}
	cold := unitSpec()
	cold.Pool = workshop.PoolCold
	if l := namespaceObject(cold).Labels; l[workshop.LabelPool] != workshop.PoolCold || l[workshop.LabelParticipant] != "ada" {
		t.Errorf("cold session labels: %v", l)
	}
	if l := namespaceObject(unitSpec()).Labels; l[workshop.LabelPool] != "" || l[workshop.LabelPoolKey] != "" {
		t.Errorf("a session of a template without pool has pool labels: %v", l)
	}
}

// enforceResourceVersion makes the fake clientset's namespace updates behave like the
// API server's: an update carrying a stale resourceVersion is a Conflict, a successful
// one bumps it.
func enforceResourceVersion(cs *fake.Clientset) {
	var mu sync.Mutex
	cs.PrependReactor("update", "namespaces", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		ua, ok := a.(k8stesting.UpdateAction)
		if !ok {
			return false, nil, nil
		}
		obj, ok := ua.GetObject().(*corev1.Namespace)
		if !ok {
			return false, nil, nil
		}
		in := obj.DeepCopy()
		cur, err := cs.Tracker().Get(corev1.SchemeGroupVersion.WithResource("namespaces"), "", in.Name)
		if err != nil {
			return true, nil, err
		}
		curNS, ok := cur.(*corev1.Namespace)
		if !ok {
			return true, nil, fmt.Errorf("tracker holds a %T", cur)
		}
		if rv := curNS.ResourceVersion; rv != in.ResourceVersion {
			return true, nil, apierrors.NewConflict(corev1.Resource("namespaces"), in.Name, nil)
		}
		n, _ := strconv.Atoi(in.ResourceVersion)
		in.ResourceVersion = strconv.Itoa(n + 1)
		return true, in, cs.Tracker().Update(corev1.SchemeGroupVersion.WithResource("namespaces"), in, "")
	})
}

// TestClaimRace: 12 claimers race for 5 free entries; every entry is won exactly once,
// 7 claimers get none. The positive control: without the resourceVersion precondition
// (the fake's default) several claimers win the same entry, so the test can fail.
func TestClaimRace(t *testing.T) {
	for _, enforce := range []bool{true, false} {
		tmpl := unitSpec().Template
		var objs []runtime.Object
		for i := range 5 {
			spec := unitSpec()
			spec.ID, spec.Participant, spec.Pool = "pool0000"+strconv.Itoa(i), "", workshop.PoolFree
			ns := namespaceObject(spec)
			delete(ns.Labels, workshop.LabelCreating)
			ns.ResourceVersion = "1"
			objs = append(objs, ns)
		}
		cs := fake.NewClientset(objs...)
		if enforce {
			enforceResourceVersion(cs)
		}
		b := &Backend{cfg: Config{Namespace: "nalabo"}, cs: cs}
		var mu sync.Mutex
		wins := map[string][]string{}
		// Every claimer lists before any claims: they all see the 5 entries free.
		var wg, listed sync.WaitGroup
		listed.Add(12)
		for c := range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := context.Background()
				entries, err := b.poolEntries(ctx, tmpl.ID, workshop.PoolFree)
				listed.Done()
				if err != nil {
					t.Error(err)
					return
				}
				listed.Wait()
				spec := unitSpec()
				spec.Participant = "p" + strconv.Itoa(c)
				for i := range entries {
					ns := &entries[(i+c)%len(entries)]
					won, err := b.claimNamespace(ctx, ns, spec)
					if err != nil {
						t.Error(err)
						return
					}
					if won {
						mu.Lock()
						wins[ns.Name] = append(wins[ns.Name], spec.Participant)
						mu.Unlock()
						return
					}
				}
			}()
		}
		wg.Wait()
		twice := 0
		for name, w := range wins {
			if len(w) > 1 {
				twice++
				if enforce {
					t.Errorf("entry %s handed out %d times: %v", name, len(w), w)
				}
			}
		}
		if enforce && len(wins) != 5 {
			t.Errorf("%d entries claimed, want all 5: %v", len(wins), wins)
		}
		if !enforce && twice == 0 {
			t.Errorf("positive control: without the precondition some entry should be handed out twice: %v", wins)
		}
		if enforce {
			list, _ := cs.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
			for _, ns := range list.Items {
				if ns.Labels[workshop.LabelPool] != workshop.PoolClaimed || ns.Labels[workshop.LabelParticipant] == "" || ns.Labels[workshop.LabelCreating] != "true" {
					t.Errorf("claimed entry %s labels: %v", ns.Name, ns.Labels)
				}
			}
		}
	}
}

// TestPoolsOfOneTemplate: Pools with a template ID reports that template's pool only,
// from a namespace list selected by its pool key and a read of its stored template
// (never the list of every template); without one, every pool (the control).
func TestPoolsOfOneTemplate(t *testing.T) {
	intro := unitSpec().Template
	intro.WarmPool = 2
	other := *intro
	other.ID, other.Name, other.WarmPool = "kubernetes.other.ba9876543210", "other", 3
	var objs []runtime.Object
	for _, tpl := range []*workshop.Template{intro, &other} {
		data, err := json.Marshal(tpl)
		if err != nil {
			t.Fatal(err)
		}
		_, name, digest12, err := workshop.ParseTemplateID(tpl.ID)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: templateConfigMapName(name, digest12), Namespace: "nalabo", Labels: map[string]string{
				workshop.LabelRole: workshop.RoleTemplate, workshop.LabelBackend: string(workshop.InfraKubernetes)}},
			Data: map[string]string{templateDataKey: string(data)},
		})
	}
	entry := func(tpl *workshop.Template, id, pool string) {
		spec := unitSpec()
		spec.Template, spec.ID, spec.Participant, spec.Pool = tpl, id, "", workshop.PoolFree
		ns := namespaceObject(spec)
		delete(ns.Labels, workshop.LabelCreating)
		ns.Labels[workshop.LabelPool] = pool
		objs = append(objs, ns)
	}
	entry(intro, "pool00i1", workshop.PoolFree)
	entry(intro, "pool00i2", workshop.PoolFree)
	entry(&other, "pool00o1", workshop.PoolFree)
	entry(&other, "pool00o2", workshop.PoolClaimed)
	cs := fake.NewClientset(objs...)
	b := &Backend{cfg: Config{Namespace: "nalabo"}, cs: cs}
	ctx := context.Background()

	all, err := b.Pools(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].TemplateID != intro.ID || all[1].TemplateID != other.ID ||
		all[1].Free != 1 || all[1].Claimed != 1 || all[1].Size != 3 {
		t.Fatalf("every pool: %+v; want intro's and other's", all)
	}

	cs.ClearActions()
	one, err := b.Pools(ctx, intro.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := workshop.PoolStatus{TemplateID: intro.ID, TemplateName: intro.Name, Size: 2, Free: 2}
	if len(one) != 1 || one[0] != want {
		t.Fatalf("intro's pool: %+v; want [%+v]", one, want)
	}
	for _, a := range cs.Actions() {
		switch a := a.(type) {
		case k8stesting.ListAction:
			if a.GetResource().Resource != "namespaces" || a.GetListRestrictions().Labels.String() != poolSelector(workshop.PoolKey(intro.ID), "") {
				t.Errorf("list %s %q; want only namespaces by intro's pool key", a.GetResource().Resource, a.GetListRestrictions().Labels)
			}
		case k8stesting.GetAction:
		default:
			t.Errorf("unexpected action %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}

	if none, err := b.Pools(ctx, "kubernetes.gone.000000000000"); err != nil || len(none) != 0 {
		t.Fatalf("a template that is not stored and has no entries: %+v, %v; want none", none, err)
	}
}
