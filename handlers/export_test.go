package handlers

// Routes lists every route New registered as "METHOD path", in Echo's
// syntax (":sub"), so the contract test can compare them with
// docs/openapi.yaml.
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.echo.Routes() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}
