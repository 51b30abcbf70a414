package provider

import (
	"reflect"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

func TestBlockReaderStringListAndMap(t *testing.T) {
	s := types.StringValue
	list := func(vs ...attr.Value) types.List { return types.ListValueMust(types.StringType, vs) }
	mp := func(vs map[string]attr.Value) types.Map { return types.MapValueMust(types.StringType, vs) }
	listCases := []struct {
		name  string
		in    types.List
		want  []string
		known bool
	}{
		{"null is the default", types.ListNull(types.StringType), nil, true},
		{"empty is an answer", list(), []string{}, true},
		{"values", list(s("a"), s("b")), []string{"a", "b"}, true},
		{"unknown list", types.ListUnknown(types.StringType), nil, false},
		{"unknown element", list(s("a"), types.StringUnknown()), []string{"a"}, false},
	}
	for _, c := range listCases {
		r := newBlockReader()
		got := r.stringList(c.in)
		if !reflect.DeepEqual(got, c.want) || r.known != c.known {
			t.Errorf("stringList %s: got %#v known=%v, want %#v known=%v", c.name, got, r.known, c.want, c.known)
		}
	}
	mapCases := []struct {
		name  string
		in    types.Map
		want  map[string]string
		known bool
	}{
		{"null", types.MapNull(types.StringType), nil, true},
		{"empty", mp(map[string]attr.Value{}), map[string]string{}, true},
		{"values", mp(map[string]attr.Value{"n1": s("tcp://a:2376")}), map[string]string{"n1": "tcp://a:2376"}, true},
		{"unknown map", types.MapUnknown(types.StringType), nil, false},
		{"unknown element", mp(map[string]attr.Value{"n1": types.StringUnknown()}), map[string]string{}, false},
	}
	for _, c := range mapCases {
		r := newBlockReader()
		got := r.stringMap(c.in)
		if !reflect.DeepEqual(got, c.want) || r.known != c.known {
			t.Errorf("stringMap %s: got %#v known=%v, want %#v known=%v", c.name, got, r.known, c.want, c.known)
		}
	}
}
