package workshop

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"slices"
	"sort"
)

// DigestField is one entry of a template's digest, the single list of what shapes a
// session: SealTemplate hashes the entries in order, and the provider names the
// changed Attribute in a plan from the same entries.
type DigestField struct {
	// Key is the entry's JSON key in the hashed document.
	Key string
	// Attribute is the nalabo_workshop_template attribute it comes from; "" for what
	// no attribute holds (the resolved images, the rules marker).
	Attribute string
	// Location is where in the attribute a path on disk sits, which RulesContent does
	// not hash (its files are): WholeValue or a dotted path ("build.context"); "" none.
	Location string
	// Default, when set, is hashed as "" (an attribute added later, so that older
	// templates keep their digests).
	Default string
	// omitEmpty leaves an empty value out (entries added later, same reason).
	omitEmpty bool
	// value is the entry's value for a template under rules.
	value func(t *Template, rules DigestRules) any
}

// WholeValue is the DigestField.Location of an attribute that is a path itself.
const WholeValue = "."

var digestFields = []DigestField{
	{Key: "name", Attribute: "name", value: func(t *Template, _ DigestRules) any { return t.Name }},
	{Key: "infrastructure_type", Attribute: "infrastructure_type", value: func(t *Template, _ DigestRules) any { return t.Infrastructure }},
	{Key: "isolation", Attribute: "isolation", value: func(t *Template, _ DigestRules) any { return t.Isolation }},
	{Key: "workspace", Attribute: "workspace", Location: "build.context", value: func(t *Template, rules DigestRules) any {
		ws := t.Workspace
		if rules == RulesContent && ws.Build != nil {
			b := *ws.Build
			b.Context = ""
			ws.Build = &b
		}
		return ws
	}},
	{Key: "manifests", Attribute: "manifests", value: func(t *Template, _ DigestRules) any { return t.Manifests }},
	{Key: "compose", Attribute: "compose", value: func(t *Template, _ DigestRules) any { return t.Compose }},
	{Key: "resources", Attribute: "effective_resources", value: func(t *Template, _ DigestRules) any { return t.Resources }},
	{Key: "duration", Attribute: "duration", value: func(t *Template, _ DigestRules) any { return t.Duration }},
	{Key: "pod_security", Attribute: "pod_security", value: func(t *Template, _ DigestRules) any { return t.PodSecurity }},
	{Key: "docker_in_docker", Attribute: "docker_in_docker", value: func(t *Template, _ DigestRules) any { return t.DockerInDocker }},
	{Key: "images", value: func(t *Template, _ DigestRules) any { return sortedPairs(t.Images) }},
	{Key: "compose_directory", Attribute: "compose_directory", Location: WholeValue, omitEmpty: true, value: func(t *Template, rules DigestRules) any {
		if t.Compose == "" || rules == RulesContent {
			return ""
		}
		return t.ComposeDir
	}},
	{Key: "compose_builds", Attribute: "compose_builds", omitEmpty: true, value: func(t *Template, _ DigestRules) any {
		if t.Compose == "" {
			return [][2]string(nil)
		}
		return sortedPairs(t.ComposeBuilds)
	}},
	{Key: "vcluster_values", Attribute: "vcluster_values", omitEmpty: true, value: func(t *Template, _ DigestRules) any { return t.VClusterValues }},
	// Only "open" and "none": restricted is the default of templates that predate the
	// attribute, which keep their digests (and their sessions).
	{Key: "egress", Attribute: "egress", Default: string(EgressRestricted), omitEmpty: true, value: func(t *Template, _ DigestRules) any { return t.Egress }},
	{Key: "placement_constraints", Attribute: "placement_constraints", omitEmpty: true, value: func(t *Template, _ DigestRules) any { return t.PlacementConstraints }},
	{Key: "node_selector", Attribute: "node_selector", omitEmpty: true, value: func(t *Template, _ DigestRules) any { return sortedPairs(t.NodeSelector) }},
	{Key: "tolerations", Attribute: "toleration", omitEmpty: true, value: func(t *Template, _ DigestRules) any { return t.Tolerations }},
	{Key: "runtime_class_name", Attribute: "runtime_class_name", omitEmpty: true, value: func(t *Template, _ DigestRules) any { return t.RuntimeClassName }},
	// The rules marker when they changed what is hashed (a build or a Compose file), so
	// that no content digest can equal a legacy one by accident.
	{Key: "rules", omitEmpty: true, value: func(t *Template, rules DigestRules) any {
		if rules == RulesContent && (t.Workspace.Build != nil || t.Compose != "") {
			return int(RulesContent)
		}
		return 0
	}},
}

// DigestFields returns the entries of a template's digest, in hashing order.
func DigestFields() []DigestField { return slices.Clone(digestFields) }

// SealTemplate computes the template's Digest and ID from its content, resolved Images
// and Owner (DigestFields). Backends call it at the end of ApplyTemplate.
//
// Owned templates use RulesContent, so a configuration moved to another directory keeps
// its IDs; legacy templates (no Owner) keep the rules they were sealed with.
func SealTemplate(t *Template) {
	rules := RulesOf(t.Owner)
	var buf bytes.Buffer
	buf.WriteByte('{')
	for _, f := range digestFields {
		v := f.value(t, rules)
		if f.Default != "" && reflect.ValueOf(v).String() == f.Default {
			v = reflect.Zero(reflect.TypeOf(v)).Interface()
		}
		if f.omitEmpty && isEmptyJSON(v) {
			continue
		}
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(f.Key)
		b, _ := json.Marshal(v) // maps marshal with sorted keys
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(b)
	}
	buf.WriteByte('}')
	sum := sha256.Sum256(buf.Bytes())
	t.Digest = "sha256:" + hex.EncodeToString(sum[:])
	t.ID = TemplateID(t.Infrastructure, t.Name, t.Digest, t.Owner)
}

// sortedPairs is a map as [key, value] pairs sorted by key (nil when empty).
func sortedPairs(m map[string]string) [][2]string {
	var out [][2]string
	for k, v := range m {
		out = append(out, [2]string{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// isEmptyJSON is encoding/json's omitempty test.
func isEmptyJSON(v any) bool {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String, reflect.Slice, reflect.Map, reflect.Array:
		return rv.Len() == 0
	case reflect.Bool:
		return !rv.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int() == 0
	case reflect.Pointer, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
