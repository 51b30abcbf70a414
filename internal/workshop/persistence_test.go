package workshop

import (
	"testing"
	"time"
)

func TestPersistenceLabelsRoundTrip(t *testing.T) {
	p := &Persistence{Size: "1Gi", RetainDays: 3}
	got := PersistenceFromLabels(WithLabels(nil, p.Labels()...))
	if got == nil || *got != *p {
		t.Fatalf("round trip: %+v", got)
	}
	for _, l := range []map[string]string{
		nil,
		{LabelRetainDays: "3"},
		{LabelPersistentSize: "1Gi"},
		{LabelPersistentSize: "1Gi", LabelRetainDays: "-1"},
		{LabelPersistentSize: "1Gi", LabelRetainDays: "x"},
	} {
		if got := PersistenceFromLabels(l); got != nil {
			t.Errorf("%v: %+v, want nil", l, got)
		}
	}
	if (*Persistence)(nil).Labels() != nil {
		t.Error("nil persistence has labels")
	}
}

func TestPersistenceValidate(t *testing.T) {
	for _, c := range []struct {
		p  *Persistence
		ok bool
	}{
		{nil, true},
		{&Persistence{Size: "1Gi", RetainDays: 0}, true},
		{&Persistence{Size: "1Gi", RetainDays: MaxRetainDays}, true},
		{&Persistence{Size: "big", RetainDays: 1}, false},
		{&Persistence{Size: "1Mi", RetainDays: 1}, false},
		{&Persistence{Size: "1Gi", RetainDays: MaxRetainDays + 1}, false},
		{&Persistence{Size: "1Gi", RetainDays: -1}, false},
	} {
		if err := c.p.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: %v", c.p, err)
		}
	}
}

func TestDeleteAt(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	if got := DeleteAt(&Session{ExpiresAt: exp}); !got.Equal(exp) {
		t.Errorf("without persistence: %s", got)
	}
	if got := DeleteAt(&Session{ExpiresAt: exp, Persistence: &Persistence{Size: "1Gi", RetainDays: 2}}); !got.Equal(exp.Add(48 * time.Hour)) {
		t.Errorf("retain 2 days: %s", got)
	}
	if !DeleteAt(&Session{}).IsZero() || !DeleteAt(nil).IsZero() {
		t.Error("no expiry: not zero")
	}
}
