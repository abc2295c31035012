package main

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// docRow matches one row of the key table in docs/configuration.md:
// | `key` | `default` | `JWTD_VAR` | what it is |
var docRow = regexp.MustCompile("^\\| `([a-z0-9_.]+)` \\| `([^`]*)` \\| `(JWTD_[A-Z0-9_]+)` \\|")

// TestConfigurationDoc fails when docs/configuration.md's table of keys and
// the built-in defaults disagree: a key missing from either side, a wrong
// default or a wrong variable name. Its failure message prints the rows to
// paste.
func TestConfigurationDoc(t *testing.T) {
	data, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string][2]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if m := docRow.FindStringSubmatch(line); m != nil {
			documented[m[1]] = [2]string{m[2], m[3]}
		}
	}
	cfg := defaults()
	want := map[string][2]string{}
	for env, k := range envKeys(&cfg) {
		want[k.key] = [2]string{formatDefault(k.v.Interface()), env}
	}
	var missing []string
	for key, w := range want {
		got, ok := documented[key]
		switch {
		case !ok:
			missing = append(missing, fmt.Sprintf("| `%s` | `%s` | `%s` | |", key, w[0], w[1]))
		case got != w:
			t.Errorf("docs/configuration.md: %s: documented default %q, variable %s; want %q, %s", key, got[0], got[1], w[0], w[1])
		}
	}
	for key := range documented {
		if _, ok := want[key]; !ok {
			t.Errorf("docs/configuration.md documents %s, which is not a configuration key", key)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Errorf("docs/configuration.md lacks %d key(s); add these rows:\n%s", len(missing), strings.Join(missing, "\n"))
	}
}

// formatDefault writes a default the way config.yaml would: durations as Go
// durations without zero units, lists in brackets, empty strings as "".
func formatDefault(v any) string {
	switch x := v.(type) {
	case time.Duration:
		s := x.String()
		for _, z := range []string{"0s", "0m"} {
			if strings.HasSuffix(s, "m"+z) || strings.HasSuffix(s, "h"+z) {
				s = strings.TrimSuffix(s, z)
			}
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		return s
	case string:
		if x == "" {
			return `""`
		}
		return x
	case []string:
		return "[" + strings.Join(x, ", ") + "]"
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice {
		parts := make([]string, rv.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(rv.Index(i).Interface())
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}
