package resource_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImports: a resource server that uses package resource imports
// neither Echo nor Redis, and one that uses resourceecho imports no Redis.
func TestImports(t *testing.T) {
	tests := []struct {
		pkg       string
		forbidden []string
	}{
		{"github.com/jwtd/jwtd/resource", []string{"github.com/redis/", "github.com/labstack/"}},
		{"github.com/jwtd/jwtd/resource/resourceecho", []string{"github.com/redis/"}},
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", tt.pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list -deps %s: %v\n%s", tt.pkg, err, out)
			}
			imports := map[string][]string{}
			for line := range strings.Lines(strings.TrimSpace(string(out))) {
				fields := strings.Fields(line)
				imports[fields[0]] = fields[1:]
			}
			forbidden := func(p string) bool {
				return slices.ContainsFunc(tt.forbidden, func(f string) bool { return strings.HasPrefix(p, f) })
			}
			// Walk the import graph from tt.pkg and report who imports each
			// forbidden package.
			seen := map[string]bool{tt.pkg: true}
			queue := []string{tt.pkg}
			for len(queue) > 0 {
				pkg := queue[0]
				queue = queue[1:]
				for _, imp := range imports[pkg] {
					if seen[imp] {
						continue
					}
					seen[imp] = true
					if forbidden(imp) {
						t.Errorf("%s depends on %s, imported by %s", tt.pkg, imp, pkg)
						continue
					}
					queue = append(queue, imp)
				}
			}
		})
	}
}
