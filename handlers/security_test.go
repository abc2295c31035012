package handlers_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestRequestLabelsBounded sends thousands of requests with distinct odd
// methods and long paths: the request histogram keeps a fixed label set
// (hole 2: every label set is a time series kept forever), and every log
// field taken from the request is bounded.
func TestRequestLabelsBounded(t *testing.T) {
	h := newHarness(t)
	for i := range 2000 {
		method := fmt.Sprintf("X%dM", i)
		if i%10 == 0 {
			method = strings.Repeat("L", 4000) + fmt.Sprint(i)
		}
		paths := []string{"/v1/sessions", "/" + strings.Repeat("p", 3000) + fmt.Sprint(i)}
		h.do(req{method: method, path: paths[i%2]})
	}
	for i := range 200 {
		h.do(req{method: "GET", path: "/nope/" + strings.Repeat("q", 5000) + fmt.Sprint(i)})
	}
	mfs, err := h.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	methods := map[string]bool{"GET": true, "POST": true, "HEAD": true, "OPTIONS": true, "other": true}
	series, bad := 0, []string{}
	for _, mf := range mfs {
		if mf.GetName() != "jwtd_http_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			series++
			for _, l := range m.GetLabel() {
				switch v := l.GetValue(); l.GetName() {
				case "method":
					if !methods[v] {
						bad = append(bad, fmt.Sprintf("method %.40q", v))
					}
				case "route":
					if v != "unmatched" && !strings.HasPrefix(v, "/") || len(v) > 64 {
						bad = append(bad, fmt.Sprintf("route %.40q", v))
					}
				}
			}
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d label values outside the fixed set, first %s", len(bad), bad[0])
	}
	if series == 0 || series > 8 {
		t.Errorf("jwtd_http_request_duration_seconds has %d label sets after 2,200 odd requests, want 1 to 8", series)
	}
	sc := bufio.NewScanner(strings.NewReader(h.logs.String()))
	sc.Buffer(nil, 1<<20)
	lines, long, marked := 0, 0, 0
	for sc.Scan() {
		lines++
		if n := len(sc.Bytes()); n > 1024 {
			if long++; long == 1 {
				t.Errorf("log line of %d bytes, want at most 1024: %.200s", n, sc.Bytes())
			}
		}
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %.200q is not JSON: %v", sc.Bytes(), err)
		}
		if p, _ := line["path"].(string); strings.HasSuffix(p, "...[truncated]") {
			marked++
		}
	}
	if marked < 1200 {
		t.Errorf("%d log lines mark their path truncated, want 1,200", marked)
	}
	if lines < 2200 {
		t.Fatalf("%d log lines, want one per request (2,200)", lines)
	}
}
