package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/polling/event"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/cli-utils/pkg/kstatus/watcher"
	"sigs.k8s.io/cli-utils/pkg/object"
)

// waitReady watches the objects (the kstatus watcher: one list+watch per kind and
// namespace, status computed on each event) until every one is Current. A Failed object,
// a pod that cannot start, or ctx ending returns an error naming what is not ready.
// Watching instead of polling: readiness is seen when the kubelet reports it, not up to a
// poll interval later, and a class of sessions waiting at once costs no GETs.
func (b *Backend) waitReady(ctx context.Context, objs []*unstructured.Unstructured) error {
	if len(objs) == 0 {
		return nil
	}
	ids := make(object.ObjMetadataSet, 0, len(objs))
	for _, o := range objs {
		id := object.UnstructuredToObjMetadata(o)
		if !ids.Contains(id) {
			ids = append(ids, id)
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	events := watcher.NewDefaultStatusWatcher(b.dyn, b.mapper).Watch(wctx, ids, watcher.Options{})
	defer func() {
		cancel()
		// The watcher's goroutines send until the channel is closed: drain it.
		go func() {
			for range events { //nolint:revive // draining
			}
		}()
	}()

	pending := make(map[object.ObjMetadata]string, len(ids)) // what is not ready, and why
	for _, id := range ids {
		pending[id] = fmt.Sprintf("%s %s: not seen yet", id.GroupKind.Kind, id.Name)
	}
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready before the deadline: %s: %w", pendingMessages(pending), ctx.Err())
		case ev, ok := <-events:
			if !ok {
				if ctx.Err() != nil {
					return fmt.Errorf("not ready before the deadline: %s: %w", pendingMessages(pending), ctx.Err())
				}
				return fmt.Errorf("readiness watch ended: %s", pendingMessages(pending))
			}
			switch ev.Type {
			case event.ErrorEvent:
				return fmt.Errorf("watch readiness: %w", ev.Error)
			case event.ResourceUpdateEvent:
				done, err := readiness(ev.Resource, pending)
				if err != nil {
					return err
				}
				if done {
					return nil
				}
			}
		}
	}
}

// readiness records one status event in pending (removing a Current object) and says
// whether nothing is pending any more; a failed object or a pod that cannot start is an
// error.
func readiness(rs *event.ResourceStatus, pending map[object.ObjMetadata]string) (bool, error) {
	if rs == nil {
		return len(pending) == 0, nil
	}
	id := rs.Identifier
	if _, ok := pending[id]; !ok {
		return len(pending) == 0, nil
	}
	kind, name := id.GroupKind.Kind, id.Name
	switch rs.Status {
	case status.CurrentStatus:
		delete(pending, id)
		return len(pending) == 0, nil
	case status.FailedStatus:
		msg := rs.Message
		if kind == "Pod" && id.GroupKind.Group == "" && rs.Resource != nil {
			why := podUnschedulable(rs.Resource)
			if waitsForClaim(why) {
				// Its claim is not bound yet: the volume controller binds it
				// asynchronously, and the scheduler tries again. Not a failure; a claim
				// that never binds ends the wait at its timeout with this reason.
				pending[id] = fmt.Sprintf("%s %s: %s", kind, name, why)
				return false, nil
			}
			if why != "" {
				msg += ": " + why // the scheduler's reason ("0/1 nodes are available: 1 Insufficient nvidia.com/gpu.")
			}
		}
		return false, fmt.Errorf("%s %s failed: %s", kind, name, msg)
	case status.UnknownStatus:
		if rs.Error != nil {
			if errors.Is(rs.Error, context.Canceled) {
				return false, nil
			}
			pending[id] = fmt.Sprintf("%s %s: %v", kind, name, rs.Error)
			return false, nil
		}
	}
	msg := fmt.Sprintf("%s %s: %s (%s)", kind, name, rs.Status, rs.Message)
	if kind == "Pod" && id.GroupKind.Group == "" && rs.Resource != nil {
		reason, fatal := podWaiting(rs.Resource)
		if fatal {
			return false, fmt.Errorf("pod %s cannot start: %s", name, reason)
		}
		if reason != "" {
			msg += ": " + reason
		}
		if why := podUnschedulable(rs.Resource); why != "" {
			msg += ": " + why
		}
	}
	pending[id] = msg
	return false, nil
}

// waitsForClaim reports whether a scheduler's reason is an unbound claim of the pod's
// ("pod has unbound immediate PersistentVolumeClaims"), which binding resolves.
func waitsForClaim(why string) bool {
	return strings.Contains(why, "unbound immediate PersistentVolumeClaims") || strings.Contains(why, "unbound PersistentVolumeClaims")
}

func pendingMessages(pending map[object.ObjMetadata]string) string {
	msgs := make([]string, 0, len(pending))
	for _, m := range pending {
		msgs = append(msgs, m)
	}
	sort.Strings(msgs)
	return strings.Join(msgs, "; ")
}

// fatalWaitingReasons are container states that waiting will not fix.
var fatalWaitingReasons = map[string]bool{
	"ErrImageNeverPull": true, "InvalidImageName": true, "CreateContainerConfigError": true,
}

// podWaiting returns the waiting reasons of a pod's containers ("c: Reason: message")
// and whether one of them is fatal.
func podWaiting(pod *unstructured.Unstructured) (string, bool) {
	var parts []string
	fatal := false
	for _, field := range []string{"initContainerStatuses", "containerStatuses"} {
		list, _, _ := unstructured.NestedSlice(pod.Object, "status", field)
		for _, item := range list {
			cs, ok := item.(map[string]any)
			if !ok {
				continue
			}
			reason, _, _ := unstructured.NestedString(cs, "state", "waiting", "reason")
			if reason == "" || reason == "ContainerCreating" || reason == "PodInitializing" {
				continue
			}
			name, _, _ := unstructured.NestedString(cs, "name")
			message, _, _ := unstructured.NestedString(cs, "state", "waiting", "message")
			part := strings.TrimSuffix(name+": "+reason+": "+message, ": ")
			if pullRefused(reason, message) {
				// Waiting will not fix a refused login: say so now, not at the timeout.
				image, _, _ := unstructured.NestedString(cs, "image")
				part += "\n" + registryAuthHint(image)
				fatal = true
			}
			parts = append(parts, part)
			fatal = fatal || fatalWaitingReasons[reason]
		}
	}
	return strings.Join(parts, "; "), fatal
}
