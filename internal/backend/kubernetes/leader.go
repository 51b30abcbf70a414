package kubernetes

import (
	"context"
	"errors"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// DefaultLeaseName is the Lease the reconcilers of one cluster elect a leader with.
const DefaultLeaseName = "nalabo-reconciler"

// Leader election timings (client-go's usual values).
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// LeaderElection configures RunLeaderElection.
type LeaderElection struct {
	// LeaseName is the Lease in the control namespace, default DefaultLeaseName.
	LeaseName string
	// Identity names this candidate (the pod name, or host and process); required.
	Identity string
	// Timings; zero means the defaults above.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// OnStartedLeading runs (in its own goroutine) when this candidate becomes the
	// leader; ctx ends when it stops leading.
	OnStartedLeading func(ctx context.Context)
	// OnStoppedLeading runs when the election round ends, leader or not.
	OnStoppedLeading func()
	// OnNewLeader runs when another (or this) candidate is observed leading.
	OnNewLeader func(identity string)
}

// ControlNamespace is the namespace holding templates and the reconcilers' Lease.
func (b *Backend) ControlNamespace() string { return b.cfg.Namespace }

// RunLeaderElection campaigns for the Lease <LeaseName> in the control namespace and
// blocks until ctx ends or this candidate, having led, loses the lease. The lease is
// released when ctx ends, so a replica that shuts down hands over at once. Callers that
// want to campaign again call it again.
func (b *Backend) RunLeaderElection(ctx context.Context, le LeaderElection) error {
	if le.Identity == "" {
		return errors.New("leader election: empty identity")
	}
	if le.LeaseName == "" {
		le.LeaseName = DefaultLeaseName
	}
	if le.LeaseDuration == 0 {
		le.LeaseDuration = DefaultLeaseDuration
	}
	if le.RenewDeadline == 0 {
		le.RenewDeadline = DefaultRenewDeadline
	}
	if le.RetryPeriod == 0 {
		le.RetryPeriod = DefaultRetryPeriod
	}
	started := le.OnStartedLeading
	if started == nil {
		started = func(context.Context) {}
	}
	stopped := le.OnStoppedLeading
	if stopped == nil {
		stopped = func() {}
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: le.LeaseName, Namespace: b.cfg.Namespace},
		Client:     b.cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: le.Identity},
	}
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		Name:            le.LeaseName,
		LeaseDuration:   le.LeaseDuration,
		RenewDeadline:   le.RenewDeadline,
		RetryPeriod:     le.RetryPeriod,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: started,
			OnStoppedLeading: stopped,
			OnNewLeader:      le.OnNewLeader,
		},
	})
	if err != nil {
		return err
	}
	elector.Run(ctx)
	return nil
}
