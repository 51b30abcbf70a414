package kubernetes

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
)

// relistAfter bounds how long a quiet watch is trusted before the object is looked at
// again (a watch can stall silently behind a proxy). It is not a delay: a deletion is seen
// by its watch event.
const relistAfter = 5 * time.Second

var (
	namespacesGVR        = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	persistentVolumesGVR = schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumes"}
)

// waitGoneWatch waits until the object name of ri is gone: absent, or (uid given)
// replaced by another object of the same name. It lists by name, then watches from the
// list's resource version (one watch per object instead of polling: a class of 30
// deleting at once would otherwise spend the client's rate limit on GETs). A closed or
// failed watch is re-opened after a new list.
func waitGoneWatch(ctx context.Context, ri dynamic.ResourceInterface, name string, uid types.UID) error {
	byName := "metadata.name=" + name
	for {
		list, err := ri.List(ctx, metav1.ListOptions{FieldSelector: byName})
		switch {
		case apierrors.IsNotFound(err):
			return nil // the namespace holding it is gone
		case err != nil && ctx.Err() != nil:
			return fmt.Errorf("still being deleted: %w", ctx.Err())
		case err != nil:
			return fmt.Errorf("read %s: %w", name, err)
		}
		if len(list.Items) == 0 || (uid != "" && list.Items[0].GetUID() != uid) {
			return nil
		}
		w, err := ri.Watch(ctx, metav1.ListOptions{FieldSelector: byName, ResourceVersion: list.GetResourceVersion()})
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("still being deleted: %w", ctx.Err())
			}
			return fmt.Errorf("watch %s: %w", name, err)
		}
		gone, err := watchUntilGone(ctx, w, uid)
		if gone || err != nil {
			return err
		}
	}
}

// watchUntilGone consumes w until the object is deleted (true), the watch ends or stays
// quiet for relistAfter (false: look again), or ctx ends.
func watchUntilGone(ctx context.Context, w watch.Interface, uid types.UID) (bool, error) {
	defer w.Stop()
	quiet := time.NewTimer(relistAfter)
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("still being deleted: %w", ctx.Err())
		case <-quiet.C:
			return false, nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, nil
			}
			switch ev.Type {
			case watch.Deleted:
				return true, nil
			case watch.Error:
				return false, nil // e.g. resource version too old: list again
			case watch.Added, watch.Modified:
				if o, ok := ev.Object.(metav1.Object); ok && uid != "" && o.GetUID() != uid {
					return true, nil // replaced
				}
			}
		}
	}
}
