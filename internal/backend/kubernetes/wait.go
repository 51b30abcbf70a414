package kubernetes

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// pollInterval is how often readiness is polled.
const pollInterval = time.Second

// waitReady polls every object until kstatus computes Current for all of them. A Failed
// object, or ctx ending, returns an error naming what is not ready.
func (b *Backend) waitReady(ctx context.Context, objs []*unstructured.Unstructured) error {
	pending := objs
	var last []string // what the last complete look found not ready
	for {
		var still []*unstructured.Unstructured
		var msgs []string
		for _, o := range pending {
			gvk := o.GroupVersionKind()
			mapping, err := b.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				return fmt.Errorf("%s %s: %w", gvk.Kind, o.GetName(), err)
			}
			live, err := b.dyn.Resource(mapping.Resource).Namespace(o.GetNamespace()).Get(ctx, o.GetName(), metav1.GetOptions{})
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				return fmt.Errorf("read %s %s: %w", gvk.Kind, o.GetName(), err)
			}
			res, err := status.Compute(live)
			if err != nil {
				return fmt.Errorf("status of %s %s: %w", gvk.Kind, o.GetName(), err)
			}
			switch res.Status {
			case status.CurrentStatus:
				continue
			case status.FailedStatus:
				return fmt.Errorf("%s %s failed: %s", gvk.Kind, o.GetName(), res.Message)
			}
			msg := fmt.Sprintf("%s %s: %s (%s)", gvk.Kind, o.GetName(), res.Status, res.Message)
			if gvk.Kind == "Pod" && gvk.Group == "" {
				reason, fatal := podWaiting(live)
				if fatal {
					return fmt.Errorf("pod %s cannot start: %s", o.GetName(), reason)
				}
				if reason != "" {
					msg += ": " + reason
				}
			}
			still = append(still, o)
			msgs = append(msgs, msg)
		}
		if len(still) == 0 && ctx.Err() == nil {
			return nil
		}
		if len(still) > 0 {
			pending = still
		}
		if len(msgs) > 0 {
			last = msgs
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready before the deadline: %s: %w", strings.Join(last, "; "), ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// fatalWaitingReasons are container states that polling will not fix.
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
			parts = append(parts, strings.TrimSuffix(name+": "+reason+": "+message, ": "))
			fatal = fatal || fatalWaitingReasons[reason]
		}
	}
	return strings.Join(parts, "; "), fatal
}
