package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/nalabo/terraform-provider-nalabo/internal/manifest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var _ workshop.Configurator = (*Backend)(nil)

// An apply (nalabo_apply, type yaml) server-side applies multi-document YAML into the
// session's namespace (field manager "nalabo", conflicts forced). Every object carries
// the session's labels plus nalabo.io/apply=<apply id>, the inventory label: an update
// prunes this apply's objects the configuration no longer has, a delete removes every
// object so labelled, and nothing else (the workspace, the template's objects, what the
// participant created with kubectl, another apply's objects are never touched: a
// document naming such an object is refused).
//
// An inventory object's Kind is "Kind" for the core group and "Kind.group" otherwise
// ("ConfigMap", "Deployment.apps", "Widget.example.com"): with the name it identifies
// the object, and the RESTMapper finds its resource.

// Statuses of an inventory object (kstatus: Current, InProgress, Failed, Terminating,
// NotFound, Unknown).
const (
	ObjectReady       = "ready"
	ObjectInProgress  = "in_progress"
	ObjectFailed      = "failed"
	ObjectTerminating = "terminating"
	ObjectMissing     = "missing"
	ObjectUnknown     = "unknown"
)

var applyIDRE = regexp.MustCompile(`^[a-z0-9]{4,32}$`)

// ObjectKind is how an inventory names a group and kind: "Kind" for the core group,
// "Kind.group" otherwise.
func ObjectKind(gk schema.GroupKind) string {
	if gk.Group == "" {
		return gk.Kind
	}
	return gk.Kind + "." + gk.Group
}

// ParseObjectKind reverses ObjectKind (a kind has no dot; a group may have several).
func ParseObjectKind(s string) schema.GroupKind {
	kind, group, _ := strings.Cut(s, ".")
	return schema.GroupKind{Group: group, Kind: kind}
}

// objRef names one object of an apply in the session's namespace.
type objRef struct {
	gk   schema.GroupKind
	name string
}

func (r objRef) key() string    { return ObjectKind(r.gk) + "/" + r.name }
func (r objRef) String() string { return ObjectKind(r.gk) + " " + r.name }

// applyDoc is one object of a yaml configuration; n counts documents from 1 the way
// the plan-time check (internal/manifest) does, empty documents included.
type applyDoc struct {
	n   int
	obj *unstructured.Unstructured
}

func (d applyDoc) ref() objRef {
	return objRef{gk: d.obj.GroupVersionKind().GroupKind(), name: d.obj.GetName()}
}

func (d applyDoc) String() string {
	return fmt.Sprintf("document %d (%s %s)", d.n, d.obj.GetKind(), d.obj.GetName())
}

func configErr(format string, a ...any) error {
	return &workshop.FieldError{Path: "configuration", Msg: fmt.Sprintf(format, a...)}
}

// parseApplyYAML parses a yaml configuration without a cluster: every document is an
// object with apiVersion, kind and metadata.name, not a List, not a kind known to be
// cluster-scoped, not in a namespace other than ns, and no object appears twice.
// Errors are workshop.FieldErrors on "configuration" naming the document.
func parseApplyYAML(content, ns string) ([]applyDoc, error) {
	if _, err := manifest.Parse(content); err != nil {
		var errs []error
		var walk func(error)
		walk = func(e error) {
			if u, ok := e.(interface{ Unwrap() []error }); ok {
				for _, x := range u.Unwrap() {
					walk(x)
				}
				return
			}
			errs = append(errs, configErr("%s", e.Error()))
		}
		walk(err)
		return nil, errors.Join(errs...)
	}
	dec := yaml.NewDecoder(strings.NewReader(content))
	var docs []applyDoc
	var errs []error
	seen := map[string]int{}
	for n := 1; ; n++ {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil { // manifest.Parse accepted it: not expected
			return nil, configErr("document %d: %v", n, err)
		}
		if len(node.Content) == 0 || (node.Content[0].Kind == yaml.ScalarNode && node.Content[0].Tag == "!!null") {
			continue
		}
		var v map[string]any
		if err := node.Decode(&v); err != nil {
			errs = append(errs, configErr("document %d: %v", n, err))
			continue
		}
		raw, err := json.Marshal(v)
		if err != nil {
			errs = append(errs, configErr("document %d: not representable as JSON (a mapping with non-string keys?): %v", n, err))
			continue
		}
		if kind, _ := v["kind"].(string); strings.HasSuffix(kind, "List") {
			errs = append(errs, configErr("document %d (%s): lists are not supported; give one object per document", n, kind))
			continue
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(raw); err != nil {
			errs = append(errs, configErr("document %d: %v", n, err))
			continue
		}
		d := applyDoc{n: n, obj: obj}
		if o := obj.GetNamespace(); o != "" && o != ns {
			errs = append(errs, configErr("%s: metadata.namespace is %q; an apply's objects go into the session's namespace %s (leave metadata.namespace out)", d, o, ns))
			continue
		}
		if manifest.ClusterScoped(obj.GetKind()) {
			errs = append(errs, configErr("%s: %s is cluster-scoped, which namespace isolation does not allow", d, obj.GetKind()))
			continue
		}
		if first, dup := seen[d.ref().key()]; dup {
			errs = append(errs, configErr("%s: the same object as document %d", d, first))
			continue
		}
		seen[d.ref().key()] = n
		// Fields the server owns: an applied configuration must not carry them.
		for _, f := range []string{"resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink", "deletionTimestamp"} {
			unstructured.RemoveNestedField(obj.Object, "metadata", f)
		}
		unstructured.RemoveNestedField(obj.Object, "status")
		docs = append(docs, d)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(docs) == 0 {
		return nil, configErr("no Kubernetes object in the YAML")
	}
	return docs, nil
}

// applyOrder ranks kinds so that what workloads use exists before them (unknown kinds,
// custom resources among them, rank between).
var applyOrder = map[string]int{
	"NetworkPolicy": 1, "ResourceQuota": 2, "LimitRange": 3, "PodDisruptionBudget": 4,
	"ServiceAccount": 5, "Secret": 6, "ConfigMap": 7, "PersistentVolumeClaim": 8,
	"Role": 9, "RoleBinding": 10, "Service": 11,
	"Pod": 30, "ReplicationController": 31, "ReplicaSet": 32, "Deployment": 33,
	"StatefulSet": 34, "DaemonSet": 35, "Job": 36, "CronJob": 37,
	"HorizontalPodAutoscaler": 38, "Ingress": 39,
}

func sortForApply(docs []applyDoc) []applyDoc {
	out := append([]applyDoc(nil), docs...)
	rank := func(d applyDoc) int {
		if r, ok := applyOrder[d.obj.GetKind()]; ok {
			return r
		}
		return 20
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

// applyLabels returns the object's labels with the session's and the apply's added
// (they win over the document's).
func applyLabels(own, session map[string]string, applyID string) map[string]string {
	out := make(map[string]string, len(own)+len(session)+1)
	for k, v := range own {
		out[k] = v
	}
	for k, v := range session {
		out[k] = v
	}
	out[workshop.LabelApply] = applyID
	return out
}

// sessionLabelsOf picks the session's labels from its namespace's.
func sessionLabelsOf(nsLabels map[string]string) map[string]string {
	out := map[string]string{}
	for _, k := range []string{workshop.LabelManagedBy, workshop.LabelSession, workshop.LabelParticipant, workshop.LabelTemplate, workshop.LabelExpiresAt} {
		if v, ok := nsLabels[k]; ok {
			out[k] = v
		}
	}
	return out
}

// mapping finds the resource of a group and kind (at version, if given), refreshing
// discovery once when the kind is unknown (a CRD installed since).
func (b *Backend) mapping(gk schema.GroupKind, version ...string) (*meta.RESTMapping, error) {
	m, err := b.mapper.RESTMapping(gk, version...)
	if meta.IsNoMatchError(err) {
		b.mapper.Reset()
		m, err = b.mapper.RESTMapping(gk, version...)
	}
	return m, err
}

// sessionNamespaceLabels reads the session namespace's labels, or an error wrapping
// workshop.ErrNotFound when it is gone or terminating.
func (b *Backend) sessionNamespaceLabels(ctx context.Context, id string) (map[string]string, error) {
	name := workshop.SessionObjectName(id)
	ns, err := b.cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && ns.Labels[workshop.LabelSession] != id) {
		return nil, fmt.Errorf("session %s: no namespace %s: %w", id, name, workshop.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("session %s: read namespace %s: %w", id, name, err)
	}
	if ns.DeletionTimestamp != nil {
		return nil, fmt.Errorf("session %s: namespace %s is terminating: %w", id, name, workshop.ErrNotFound)
	}
	return ns.Labels, nil
}

// ApplyConfig server-side applies a yaml configuration into the session's namespace,
// waits until every object is ready (kstatus Current) within ctx, then prunes this
// apply's objects the configuration no longer has and waits until they are gone. On
// failure it deletes what this call created (objects that existed before stay).
func (b *Backend) ApplyConfig(ctx context.Context, sessionID string, cfg *workshop.Config, prev *workshop.Inventory) (*workshop.Inventory, error) {
	if err := workshop.ValidateSessionID(sessionID); err != nil {
		return nil, err
	}
	if cfg == nil || !applyIDRE.MatchString(cfg.ID) {
		return nil, errors.New("apply: no configuration or a malformed apply ID")
	}
	switch cfg.Type {
	case workshop.ConfigYAML:
	case workshop.ConfigCompose, workshop.ConfigDockerfile:
		return nil, &workshop.FieldError{Path: "type", Msg: fmt.Sprintf(
			"type %q needs a docker session; session %s runs on Kubernetes, which takes type \"yaml\" only", cfg.Type, sessionID)}
	default:
		return nil, &workshop.FieldError{Path: "type", Msg: fmt.Sprintf("%q is not one of %s", cfg.Type, strings.Join(workshop.ConfigTypes, ", "))}
	}
	ns := workshop.SessionObjectName(sessionID)
	docs, err := parseApplyYAML(cfg.Content, ns)
	if err != nil {
		return nil, fmt.Errorf("apply yaml to session %s: %w", sessionID, err)
	}
	defer b.lockSession(sessionID)()
	nsLabels, err := b.sessionNamespaceLabels(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	if iso := nsLabels[workshop.LabelPrefix+"isolation"]; iso != "" && iso != string(workshop.IsolationNamespace) {
		return nil, fmt.Errorf("session %s uses isolation %q: nalabo_apply applies into namespace-isolated Kubernetes sessions only in this version", sessionID, iso)
	}
	labels := sessionLabelsOf(nsLabels)
	a := &kubeApply{b: b, sessionID: sessionID, ns: ns, cfg: cfg, labels: labels}
	inv, err := a.run(ctx, docs, prev)
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if cerr := b.deleteApplyObjects(cctx, ns, cfg.ID, a.created); cerr != nil {
			err = fmt.Errorf("%w\n(removing what this apply created also failed: %v)", err, cerr)
		}
		return nil, fmt.Errorf("apply yaml to session %s: %w", sessionID, err)
	}
	return inv, nil
}

// kubeApply is one ApplyConfig call; it remembers what it created, for undo.
type kubeApply struct {
	b         *Backend
	sessionID string
	ns        string
	cfg       *workshop.Config
	labels    map[string]string
	created   []objRef
}

func (a *kubeApply) selector() string {
	return workshop.LabelSession + "=" + a.sessionID + "," + workshop.LabelApply + "=" + a.cfg.ID
}

func (a *kubeApply) run(ctx context.Context, docs []applyDoc, prev *workshop.Inventory) (*workshop.Inventory, error) {
	b := a.b
	// Resolve every document, then check what exists, before changing anything.
	mappings := make([]*meta.RESTMapping, len(docs))
	var errs []error
	for i, d := range docs {
		gvk := d.obj.GroupVersionKind()
		m, err := b.mapping(gvk.GroupKind(), gvk.Version)
		switch {
		case meta.IsNoMatchError(err):
			errs = append(errs, configErr("%s: the cluster does not serve %s in %s", d, gvk.Kind, gvk.GroupVersion()))
		case err != nil:
			return nil, fmt.Errorf("%s: %w", d, err)
		case m.Scope.Name() != meta.RESTScopeNameNamespace:
			errs = append(errs, configErr("%s: %s is cluster-scoped, which namespace isolation does not allow", d, gvk.Kind))
		}
		mappings[i] = m
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	absent := make([]bool, len(docs))
	for i, d := range docs {
		live, err := b.dyn.Resource(mappings[i].Resource).Namespace(a.ns).Get(ctx, d.obj.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			absent[i] = true
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: read %s: %w", d, d.ref(), err)
		}
		if live.GetLabels()[workshop.LabelApply] != a.cfg.ID {
			errs = append(errs, configErr("%s: the session already has %s (from its template, another apply or kubectl); rename the object or remove it first", d, d.ref()))
			continue
		}
		if live.GetDeletionTimestamp() != nil { // ours, terminating: let it go, then create it anew
			if err := b.waitGone(ctx, mappings[i], a.ns, live.GetName(), live.GetUID()); err != nil {
				return nil, fmt.Errorf("%s: %w", d, err)
			}
			absent[i] = true
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	// Apply (what workloads use first) and wait until ready.
	index := map[string]int{}
	for i, d := range docs {
		index[d.ref().key()] = i
	}
	var applied []*unstructured.Unstructured
	for _, d := range sortForApply(docs) {
		i := index[d.ref().key()]
		o := d.obj.DeepCopy()
		o.SetNamespace(a.ns)
		o.SetLabels(applyLabels(o.GetLabels(), a.labels, a.cfg.ID))
		if absent[i] {
			a.created = append(a.created, d.ref())
		}
		out, err := b.dyn.Resource(mappings[i].Resource).Namespace(a.ns).Apply(ctx, o.GetName(), o,
			metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
		if err != nil {
			return nil, fmt.Errorf("apply %s: %w", d, err)
		}
		applied = append(applied, out)
	}
	if err := b.waitReady(ctx, applied); err != nil {
		return nil, err
	}

	// Prune: this apply's objects (in prev, or found by the inventory label among the
	// kinds prev and the configuration name) that the configuration no longer has.
	want := map[string]bool{}
	var refs []objRef
	for _, d := range docs {
		want[d.ref().key()] = true
		refs = append(refs, d.ref())
	}
	var old []objRef
	if prev != nil {
		old = refsOf(prev.Objects)
	}
	kinds := kindsOf(append(old, refs...))
	scan := len(old) == 0
	if scan { // a first apply, or a lost inventory: look at every kind
		var err error
		if kinds, err = b.namespacedKinds(ctx, kinds); err != nil {
			return nil, err
		}
	}
	found, err := b.listApplyObjects(ctx, a.ns, a.selector(), kinds, scan)
	if err != nil {
		return nil, err
	}
	var prune []objRef
	for _, r := range dedupe(append(old, found...)) {
		if !want[r.key()] {
			prune = append(prune, r)
		}
	}
	if err := b.deleteApplyObjects(ctx, a.ns, a.cfg.ID, prune); err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	return b.readApplyObjects(ctx, a.ns, a.cfg.ID, refs)
}

// refsOf turns inventory objects into references (kinds a Kubernetes inventory
// cannot hold, such as Docker's "container", resolve to nothing later).
func refsOf(objs []workshop.Object) []objRef {
	out := make([]objRef, 0, len(objs))
	for _, o := range objs {
		if o.Kind != "" && o.Name != "" {
			out = append(out, objRef{gk: ParseObjectKind(o.Kind), name: o.Name})
		}
	}
	return out
}

func kindsOf(refs []objRef) []schema.GroupKind {
	seen := map[schema.GroupKind]bool{}
	var out []schema.GroupKind
	for _, r := range refs {
		if !seen[r.gk] {
			seen[r.gk] = true
			out = append(out, r.gk)
		}
	}
	return out
}

func dedupe(refs []objRef) []objRef {
	seen := map[string]bool{}
	var out []objRef
	for _, r := range refs {
		if !seen[r.key()] {
			seen[r.key()] = true
			out = append(out, r)
		}
	}
	return out
}

// namespacedKinds adds to kinds every namespaced kind the cluster serves that can be
// listed and deleted (discovery, preferred versions; groups that fail discovery are
// skipped).
func (b *Backend) namespacedKinds(ctx context.Context, kinds []schema.GroupKind) ([]schema.GroupKind, error) {
	lists, err := b.cs.Discovery().ServerPreferredNamespacedResources()
	if err != nil && len(lists) == 0 {
		return nil, fmt.Errorf("discover the cluster's kinds: %w", err)
	}
	seen := map[schema.GroupKind]bool{}
	for _, gk := range kinds {
		seen[gk] = true
	}
	out := append([]schema.GroupKind(nil), kinds...)
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			gk := schema.GroupKind{Group: gv.Group, Kind: r.Kind}
			// Endpoints: deprecated (listing it warns), mirrored by EndpointSlices.
			if strings.Contains(r.Name, "/") || seen[gk] || !hasVerbs(r.Verbs, "list", "delete") || (gk.Group == "" && gk.Kind == "Endpoints") {
				continue
			}
			seen[gk] = true
			out = append(out, gk)
		}
	}
	return out, ctx.Err()
}

func hasVerbs(have metav1.Verbs, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

// listApplyObjects lists the objects of the given kinds matching selector in ns. A
// kind the cluster no longer serves has none. With scan (every kind of the cluster), a
// kind this identity may not list is skipped: an identity with rights on a few kinds
// only (the gateway's apply role) cannot have applied objects of the others.
func (b *Backend) listApplyObjects(ctx context.Context, ns, selector string, kinds []schema.GroupKind, scan bool) ([]objRef, error) {
	var out []objRef
	for _, gk := range kinds {
		m, err := b.mapping(gk)
		if meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ObjectKind(gk), err)
		}
		if m.Scope.Name() != meta.RESTScopeNameNamespace {
			continue
		}
		list, err := b.dyn.Resource(m.Resource).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) || (scan && apierrors.IsForbidden(err)) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list %s in %s: %w", m.Resource.Resource, ns, err)
		}
		for _, item := range list.Items {
			out = append(out, objRef{gk: gk, name: item.GetName()})
		}
	}
	return out, nil
}

// deleteApplyObjects deletes each object that still carries the apply's label
// (foreground propagation: its dependents go first) and waits until all are gone.
// Missing objects and kinds are fine; an object recreated meanwhile is left alone.
func (b *Backend) deleteApplyObjects(ctx context.Context, ns, applyID string, refs []objRef) error {
	type pending struct {
		m   *meta.RESTMapping
		ref objRef
		uid types.UID
	}
	var wait []pending
	var errs []error
	for _, r := range dedupe(refs) {
		m, err := b.mapping(r.gk)
		if meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r, err))
			continue
		}
		res := b.dyn.Resource(m.Resource).Namespace(ns)
		live, err := res.Get(ctx, r.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("read %s: %w", r, err))
			continue
		}
		if live.GetLabels()[workshop.LabelApply] != applyID {
			continue // not this apply's (any more): never delete it
		}
		err = res.Delete(ctx, r.name, metav1.DeleteOptions{
			Preconditions:     &metav1.Preconditions{UID: ptr.To(live.GetUID())},
			PropagationPolicy: ptr.To(metav1.DeletePropagationForeground),
		})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			continue // gone, or replaced by another object of that name
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w", r, err))
			continue
		}
		wait = append(wait, pending{m: m, ref: r, uid: live.GetUID()})
	}
	for _, p := range wait {
		if err := b.waitGone(ctx, p.m, ns, p.ref.name, p.uid); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.ref, err))
		}
	}
	return errors.Join(errs...)
}

// waitGone waits (by watch) until the object with uid is gone (absent, or replaced by
// another).
func (b *Backend) waitGone(ctx context.Context, m *meta.RESTMapping, ns, name string, uid types.UID) error {
	return waitGoneWatch(ctx, b.dyn.Resource(m.Resource).Namespace(ns), name, uid)
}

// readApplyObjects reports each object's kstatus status, sorted by kind and name.
// Objects not found (or of a kind the cluster no longer serves) are "missing"; an
// object that no longer carries the apply's label is no longer its: "missing" too.
func (b *Backend) readApplyObjects(ctx context.Context, ns, applyID string, refs []objRef) (*workshop.Inventory, error) {
	inv := &workshop.Inventory{ApplyID: applyID, Objects: []workshop.Object{}}
	for _, r := range dedupe(refs) {
		o := workshop.Object{Kind: ObjectKind(r.gk), Name: r.name, Status: ObjectMissing}
		m, err := b.mapping(r.gk)
		switch {
		case meta.IsNoMatchError(err):
		case err != nil:
			return nil, fmt.Errorf("%s: %w", r, err)
		default:
			live, err := b.dyn.Resource(m.Resource).Namespace(ns).Get(ctx, r.name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				return nil, fmt.Errorf("read %s: %w", r, err)
			case live.GetLabels()[workshop.LabelApply] == applyID:
				o.Status = objectStatus(live)
			}
		}
		inv.Objects = append(inv.Objects, o)
	}
	sort.Slice(inv.Objects, func(i, j int) bool {
		if inv.Objects[i].Kind != inv.Objects[j].Kind {
			return inv.Objects[i].Kind < inv.Objects[j].Kind
		}
		return inv.Objects[i].Name < inv.Objects[j].Name
	})
	return inv, nil
}

// objectStatus maps an object's kstatus status to an inventory status.
func objectStatus(live *unstructured.Unstructured) string {
	res, err := status.Compute(live)
	if err != nil {
		return ObjectUnknown
	}
	return kstatusName(res.Status)
}

func kstatusName(s status.Status) string {
	switch s {
	case status.CurrentStatus:
		return ObjectReady
	case status.InProgressStatus:
		return ObjectInProgress
	case status.FailedStatus:
		return ObjectFailed
	case status.TerminatingStatus:
		return ObjectTerminating
	case status.NotFoundStatus:
		return ObjectMissing
	}
	return ObjectUnknown
}

// inventoryRefs is what an inventory holds plus every object labelled with its apply
// among the kinds it names (among all kinds when it names none).
func (b *Backend) inventoryRefs(ctx context.Context, sessionID, ns string, inv *workshop.Inventory) ([]objRef, error) {
	refs := refsOf(inv.Objects)
	sel := workshop.LabelSession + "=" + sessionID + "," + workshop.LabelApply + "=" + inv.ApplyID
	kinds := kindsOf(refs)
	scan := len(kinds) == 0
	if scan { // an inventory without objects (lost, imported): look at every kind
		var err error
		if kinds, err = b.namespacedKinds(ctx, nil); err != nil {
			return nil, err
		}
	}
	found, err := b.listApplyObjects(ctx, ns, sel, kinds, scan)
	if err != nil {
		return nil, err
	}
	return dedupe(append(refs, found...)), nil
}

// DeleteConfig deletes every object labelled with the apply among the kinds the
// inventory names, and the inventory's objects (those still labelled with the apply),
// and waits until they are gone. A missing session or object is not an error.
func (b *Backend) DeleteConfig(ctx context.Context, sessionID string, inv *workshop.Inventory) error {
	if err := workshop.ValidateSessionID(sessionID); err != nil {
		return err
	}
	if inv == nil || !applyIDRE.MatchString(inv.ApplyID) {
		return errors.New("delete apply: no inventory")
	}
	defer b.lockSession(sessionID)()
	if _, err := b.sessionNamespaceLabels(ctx, sessionID); errors.Is(err, workshop.ErrNotFound) {
		return nil // the namespace's deletion takes the apply's objects with it
	} else if err != nil {
		return err
	}
	ns := workshop.SessionObjectName(sessionID)
	refs, err := b.inventoryRefs(ctx, sessionID, ns, inv)
	if err != nil {
		return fmt.Errorf("delete apply %s: %w", inv.ApplyID, err)
	}
	if err := b.deleteApplyObjects(ctx, ns, inv.ApplyID, refs); err != nil {
		return fmt.Errorf("delete apply %s: %w", inv.ApplyID, err)
	}
	return nil
}

// ReadConfig reports the kstatus status of each object of inv (and of any other object
// labelled with the apply among the kinds inv names): ready, in_progress, failed,
// terminating, missing or unknown. A session that is gone is an error wrapping
// workshop.ErrNotFound.
func (b *Backend) ReadConfig(ctx context.Context, sessionID string, inv *workshop.Inventory) (*workshop.Inventory, error) {
	if err := workshop.ValidateSessionID(sessionID); err != nil {
		return nil, err
	}
	if inv == nil || !applyIDRE.MatchString(inv.ApplyID) {
		return nil, errors.New("read apply: no inventory")
	}
	if _, err := b.sessionNamespaceLabels(ctx, sessionID); err != nil {
		return nil, err
	}
	ns := workshop.SessionObjectName(sessionID)
	refs, err := b.inventoryRefs(ctx, sessionID, ns, inv)
	if err != nil {
		return nil, fmt.Errorf("read apply %s: %w", inv.ApplyID, err)
	}
	return b.readApplyObjects(ctx, ns, inv.ApplyID, refs)
}
