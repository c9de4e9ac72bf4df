// Package report measures and shows a launch run: the Report (the JSON
// fields the demo and the benchmark share),
// its summary table, the ideal makespan and ideal launch curve of a set of
// token buckets, a PNG chart of launch curves against the ideal with marks
// (gonum/plot), and live progress (an mpb bar on a terminal, plain lines
// otherwise).
//
// Every duration in a Report and every chart abscissa is in simulated
// seconds. The package knows nothing of how a run is driven: callers fill
// Report from the simulator's ledger and stats, and pass the chart its
// series as plain points, so the benchmark can plot several runs at once.
package report
