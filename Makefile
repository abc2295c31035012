# make bench runs the load benchmark (bench/, docs/performance.md): floors and
# jwtd on loopback, one Markdown table on stdout. Flags go in BENCHFLAGS:
#   make bench BENCHFLAGS='-quick'
.PHONY: bench
bench:
	go run ./bench $(BENCHFLAGS)
