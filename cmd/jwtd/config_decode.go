package main

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// loadConfig reads path (an empty or missing default file is fine when
// optional), applies the JWTD_* variables from environ, and validates.
// It returns the warnings worth logging (unknown JWTD_* variables).
func loadConfig(path string, optional bool, environ []string) (Config, []string, error) {
	cfg := defaults()
	var warnings []string
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := decodeYAML(data, &cfg); err != nil {
			return Config{}, nil, fmt.Errorf("%s: %w", path, err)
		}
	case errors.Is(err, os.ErrNotExist) && optional:
		warnings = append(warnings, path+" not found: running on the built-in defaults, which have no clients")
	default:
		return Config{}, nil, fmt.Errorf("read config: %w", err)
	}
	envWarnings, err := applyEnv(&cfg, environ)
	warnings = append(warnings, envWarnings...)
	if err != nil {
		return Config{}, nil, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, nil, err
	}
	return cfg, warnings, nil
}

func decodeYAML(data []byte, cfg *Config) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return keyErr("config", "not valid YAML: %s", strings.ReplaceAll(strings.TrimPrefix(err.Error(), "yaml: "), "\n", " "))
	}
	if len(doc.Content) == 0 {
		return nil // an empty file: all defaults
	}
	return decodeNode(doc.Content[0], reflect.ValueOf(cfg).Elem(), "")
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

var durationType = reflect.TypeOf(time.Duration(0))

// decodeNode sets v from n strictly: mappings must name fields, scalars must
// parse as the field's type.
func decodeNode(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // "key:" with no value keeps the default
	}
	if v.Kind() == reflect.Struct {
		if n.Kind != yaml.MappingNode {
			return keyErr(orRoot(path), "must be a mapping")
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			name := n.Content[i].Value
			key := join(path, name)
			if seen[name] {
				return keyErr(key, "is set twice")
			}
			seen[name] = true
			f, ok := fieldByTag(v, name)
			if !ok {
				return keyErr(key, "unknown key")
			}
			if err := decodeNode(n.Content[i+1], f, key); err != nil {
				return err
			}
		}
		return nil
	}
	if v.Kind() == reflect.Slice {
		if n.Kind != yaml.SequenceNode {
			return keyErr(path, "must be a list")
		}
		out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if err := decodeNode(item, out.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(out)
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return keyErr(path, "must be a single value")
	}
	return setScalar(v, n.Value, path)
}

func orRoot(path string) string {
	if path == "" {
		return "config"
	}
	return path
}

func fieldByTag(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Tag.Get("yaml") == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// setScalar parses s into v, naming key in any error.
func setScalar(v reflect.Value, s, key string) error {
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return keyErr(key, "%q is not a duration (use Go durations such as 15m or 168h)", s)
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Int, v.Kind() == reflect.Int64:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return keyErr(key, "%q is not a whole number", s)
		}
		v.SetInt(i)
	case v.Kind() == reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return keyErr(key, "%q is not a number", s)
		}
		v.SetFloat(f)
	case v.Kind() == reflect.Bool:
		switch s {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			return keyErr(key, "%q is not true or false", s)
		}
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		var items []string
		for _, it := range strings.Split(s, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		if items == nil {
			items = []string{}
		}
		v.Set(reflect.ValueOf(items))
	default:
		return keyErr(key, "cannot be set from a single value")
	}
	return nil
}

// envKeys maps every JWTD_* variable to its key path and field: one per
// scalar or string-list key (clients excluded). The names are generated
// from the known keys, so a key with an underscore in its name, such as
// tokens.access_ttl, maps unambiguously.
func envKeys(cfg *Config) map[string]struct {
	key string
	v   reflect.Value
} {
	out := map[string]struct {
		key string
		v   reflect.Value
	}{}
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			name := t.Field(i).Tag.Get("yaml")
			key := join(path, name)
			f := v.Field(i)
			switch {
			case key == "clients":
			case f.Kind() == reflect.Struct:
				walk(f, key)
			default:
				env := "JWTD_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
				out[env] = struct {
					key string
					v   reflect.Value
				}{key, f}
			}
		}
	}
	walk(reflect.ValueOf(cfg).Elem(), "")
	return out
}

// applyEnv applies JWTD_* variables. An unknown JWTD_* name is only a
// warning: Kubernetes, for one, injects JWTD_PORT and JWTD_SERVICE_HOST
// into every pod beside a Service named jwtd.
func applyEnv(cfg *Config, environ []string) ([]string, error) {
	known := envKeys(cfg)
	var unknown []string
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "JWTD_") {
			continue
		}
		if name == "JWTD_CLIENTS" || strings.HasPrefix(name, "JWTD_CLIENTS_") {
			return nil, keyErr(name, "clients can be set in the config file only")
		}
		k, ok := known[name]
		if !ok {
			unknown = append(unknown, name)
			continue
		}
		if err := setScalar(k.v, value, name+" ("+k.key+")"); err != nil {
			return nil, err
		}
	}
	secrets := []string{cfg.Keys.EncryptionKeyEnv, cfg.Redis.PasswordEnv}
	var warnings []string
	sort.Strings(unknown)
	for _, name := range unknown {
		if !slices.Contains(secrets, name) {
			warnings = append(warnings, name+" is not a configuration key; ignored")
		}
	}
	return warnings, nil
}
